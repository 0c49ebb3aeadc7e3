"""One video in, a folder of results out (`ferx analyze clip.mp4`, `ferx webcam`): a configuration of the
run driver (`ferx.runs.driver`) in which the engine is the video analysis itself (decode → track →
smooth → baseline, `ferx.video`) and `VideoSink` writes the video layout (`ferx.runs.layout.VIDEO`):

```
OUT/
  rows.csv          ferx's one table (`ferx.table`): a row per face per frame, a row per frame without
                    a face; appended per frame
  rows.parquet      the same rows (with --format parquet); complete under this name only
  segments.jsonl    expression segments per track, each explained once, appended as they close
  summary.json      per-track summary, run status, speed (written atomically at the end)
  timeline-overview.png / .svg    every track's label over time
  timeline-track<ID>.png / .svg   per track lasting ≥ 1 s: expression probabilities and key AUs over time
  annotated.mp4     boxes, IDs, labels, top AUs, with the source's audio (with --annotate)
```

Ctrl-C or SIGTERM end the run cleanly: rows so far are flushed, the Parquet and video files are
finished, summary.json says "interrupted". A truncated or corrupt video ends at its last good frame
with status "truncated" and the reason; every row before it is kept. A frame of an image sequence
that cannot be read has no rows and is listed under "failed_frames" (index, file, reason); the run
goes on, and its exit code is 1.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ferx import __version__
from ferx.facs import profile_of
from ferx.fsutil import atomic_write_text, file_sha256
from ferx.runs.driver import Aborted, SetupError, drive
from ferx.runs.guard import InterruptGuard
from ferx.runs.layout import ANNOTATED_VIDEO, SEGMENTS, VIDEO
from ferx.runs.progress import Progress
from ferx.runs.rows import CsvRowWriter, ParquetRowWriter, close_all
from ferx.runs.space import Reserve, is_fatal_write
from ferx.runs.space import reason as space_reason
from ferx.runs.status import RunStatus
from ferx.table import FrameInfo, TableLayout
from ferx.types import Faces, Frame
from ferx.video.analyze import VideoAnalysis, VideoConfig, analyze_video
from ferx.video.result import TrackedFrame
from ferx.video.sequence import FailedFrame, ImageSequence
from ferx.video.summary import SummaryBuilder

if TYPE_CHECKING:
    from ferx.pipeline import Analyzer
    from ferx.stages import PipelineInfo

FORMATS = ("csv", "parquet")


@dataclass
class VideoOutputs:
    """What a video run writes.

    Attributes:
        formats: rows formats, any of "csv", "parquet".
        annotate: write annotated.mp4 (with the source's audio).
        timelines: write a timeline plot per track (PNG and SVG).
        segments: write segments.jsonl (explained expression segments).
        min_segment_s: shortest expression run that opens a new segment.
    """

    formats: tuple[str, ...] = ("csv",)
    annotate: bool = False
    timelines: bool = True
    segments: bool = True
    min_segment_s: float = 0.5

    def __post_init__(self) -> None:
        bad = [f for f in self.formats if f not in FORMATS]
        if bad or not self.formats:
            got = ", ".join(self.formats) or "none"
            raise ValueError(f"rows formats must be among {', '.join(FORMATS)}, got {got}")


@dataclass
class VideoRunSummary(RunStatus):
    """How a video run went (also in summary.json): status "complete", "truncated" (the video ended
    early; `stopped` says why) or "interrupted"."""

    source: str = ""
    out: str = ""
    frames: int = 0
    rows: int = 0
    faces: int = 0
    tracks: int = 0
    detector_frames: int = 0
    fps: float = 0.0
    files: list[str] = field(default_factory=list)
    failed_frames: list[FailedFrame] = field(default_factory=list)  # image sequences: unreadable frames

    @property
    def stopped(self) -> str | None:
        """Why a truncated video ended early."""
        return self.reason if self.status == "truncated" else None

    @property
    def failures(self) -> int:
        return len(self.failed_frames)


def segment_explainer(analyzer: Analyzer) -> Callable[[Faces], Faces] | None:
    """What explains a segment's mean AUs and probabilities: the analyzer's explain stage alone
    (`refine` with every other field skipped); None when the analyzer explains nothing."""
    if "explanations" not in analyzer.provides:
        return None
    blank = Frame(np.zeros((1, 1, 3), np.uint8), source="<segment>")  # explainers read measurements, not pixels
    others = analyzer.provides - {"explanations"}
    return lambda faces: analyzer.refine(blank, faces, skip=others)[0].faces


def run_video(
    analyzer: Analyzer,
    source: str | os.PathLike[str] | ImageSequence | Iterable[Frame],
    out: str | os.PathLike[str],
    config: VideoConfig | None = None,
    outputs: VideoOutputs | None = None,
    *,
    quiet: bool = True,
    on_frame: Callable[[TrackedFrame], None] | None = None,
    source_name: str | None = None,
    content_sha256: str | None = None,
) -> VideoRunSummary:
    """Analyse one video (a file, an ImageSequence, or a stream of Frames) into the folder `out`
    (layout: module docstring).

    Args:
        on_frame: called with each TrackedFrame (a live window); raising `Interrupted` from it ends
            the run as an interrupt.
        source_name: the `source` of the rows and summary (default: the file or folder).
        content_sha256: the video's hash for the rows (default: computed for a file).

    Raises VideoReadError / VideoCodecError (ImageSequenceError for an image sequence) before
    writing anything when the input cannot be opened. Interrupts (Ctrl-C, SIGTERM in the main
    thread) end the run with status "interrupted".
    """
    config = config or VideoConfig()
    outputs = outputs or VideoOutputs()
    analysis = analyze_video(analyzer, source, config)  # opens and checks the input first
    if content_sha256 is None and isinstance(source, (str, os.PathLike)):
        content_sha256 = file_sha256(source)
    sink = VideoSink(analysis, Path(out), config, outputs, quiet=quiet, on_frame=on_frame,
                     source_name=source_name or analysis.source, content_sha256=content_sha256,
                     audio_from=source if isinstance(source, (str, os.PathLike)) else None)
    return drive(sink, VideoEngine(analyzer, analysis))


#: VideoConfig fields that change how fast a run goes, not what it finds: a run made with other values
#: of them is still the same run for `--resume`.
_SPEED_ONLY = ("prefetch", "overlap")


def _results_settings(config: Any) -> Any:
    """A run's recorded config without `_SPEED_ONLY` fields."""
    return {k: v for k, v in config.items() if k not in _SPEED_ONLY} if isinstance(config, dict) else config


def finished_run(folder: Path, source: Any, config: VideoConfig, outputs: VideoOutputs,
                 info: PipelineInfo, content_sha256: str | None = None) -> dict[str, Any] | None:
    """The summary.json of an earlier run in `folder` that analysed `source` to the end with the same
    settings and analyzer, its rows files all there (`ferx analyze --resume` does not redo it); None
    otherwise. `content_sha256`: the file's hash when the caller has it (else computed here)."""
    from ferx.runs.layout import read_summary

    done = read_summary(folder)
    same = (done.get("status") == "complete" and done.get("source") == str(source)
            and _results_settings(done.get("config")) == _results_settings(_jsonable(asdict(config)))
            and done.get("analyzer") == info.to_dict())
    if same and isinstance(source, (str, os.PathLike)) and Path(source).is_file():
        # a file replaced under the same name is redone
        same = done.get("content_sha256") == (content_sha256 or file_sha256(source))
    rows = [name for fmt, name in zip(FORMATS, VIDEO.rows) if fmt in outputs.formats]
    return done if same and all((folder / name).is_file() for name in rows) else None


class VideoEngine:
    """The video analysis in this process: one TrackedFrame per sampled frame."""

    def __init__(self, analyzer: Analyzer, analysis: VideoAnalysis) -> None:
        self.analyzer, self.analysis = analyzer, analysis

    def start(self) -> PipelineInfo:
        return self.analyzer.describe()

    def run(self, work: Sequence[Any]) -> Iterator[TrackedFrame]:
        yield from self.analysis

    def close(self) -> None:
        self.analysis.close()


class VideoSink:
    """The video layout being written, frame by frame."""

    def __init__(self, analysis: VideoAnalysis, out: Path, config: VideoConfig, outputs: VideoOutputs, *,
                 quiet: bool, on_frame: Callable[[TrackedFrame], None] | None, source_name: str,
                 content_sha256: str | None, audio_from: str | os.PathLike[str] | None) -> None:
        self.analysis, self.out, self.config, self.outputs = analysis, out, config, outputs
        self.quiet, self.on_frame, self.name = quiet, on_frame, source_name
        self.content_sha256, self.audio_from = content_sha256, audio_from
        self.layout = TableLayout()
        self.writers: list[CsvRowWriter | ParquetRowWriter] = []
        self.segments: SummaryBuilder | None = None
        self.video: Any = None
        self.progress: Progress | None = None
        self.frames = 0
        self.info: PipelineInfo | None = None
        self.unmeasured: list[str] = []  # AUs the estimator cannot measure reliably: kept out of the timelines
        self.timelines_s: float | None = None  # drawing the timelines, after the analysis (seconds)
        self._plots_ready: threading.Thread | None = None
        self._t0 = time.perf_counter()
        self.reserve = Reserve(out / ".summary-reserve")  # room for summary.json on a full disk (runs.space)

    def open(self) -> None:
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self._clear_earlier_run()
            self.reserve.make()
        except OSError as e:
            raise SetupError(f"cannot write to the output folder {self.out}: {space_reason(e)}") from None

    def _clear_earlier_run(self) -> None:
        """A new run replaces an earlier video run in its folder: that run's outputs go first (a tryout found
        its rows.parquet, annotated.mp4 and timelines beside the new rows.csv). Only the files of this
        layout, and only in a folder whose summary.json a video run wrote."""
        from ferx.runs.layout import read_summary

        earlier = read_summary(self.out)
        if "source" not in earlier or "tracks" not in earlier:
            return
        names = [*VIDEO.rows, SEGMENTS, ANNOTATED_VIDEO, VIDEO.summary]
        stale = [self.out / n for n in names] + [self.out / (n + ".partial") for n in names]
        stale += [*self.out.glob("timeline-*.png"), *self.out.glob("timeline-*.svg")]
        for f in stale:
            f.unlink(missing_ok=True)

    def start(self, info: PipelineInfo) -> list[Any]:
        self.layout = TableLayout.of_pipeline(info, relative=self.config.calibration.enabled)
        self.info = info
        grading = profile_of(info.au_profile)
        self.unmeasured = [c for c in info.au_codes or () if (u := grading.unit(c)) is not None and not u.measured]
        for fmt, name in zip(FORMATS, VIDEO.rows):
            if fmt in self.outputs.formats:
                writer = CsvRowWriter if fmt == "csv" else ParquetRowWriter
                self.writers.append(writer(self.out / name, self.layout))
        analyzer = self.analysis.analyzer
        self.segments = SummaryBuilder(self.out / SEGMENTS if self.outputs.segments else None,
                                       segment_explainer(analyzer), min_segment_s=self.outputs.min_segment_s)
        info_ = self.analysis.info
        if self.outputs.annotate and info_ is not None:
            self.video = self._annotated(info_.width, info_.height, info_.fps)
        if self.outputs.timelines:
            from ferx.video.plots import prepare

            # matplotlib's import and first-draw set-up overlap the analysis instead of following it
            self._plots_ready = prepare()
        total = info_.expected_frames(self.config.sampling) if info_ else None
        self.progress = Progress(total, "frame", desc=Path(self.name).name[:30], quiet=self.quiet)
        self._t0 = time.perf_counter()
        return []

    def _annotated(self, width: int, height: int, fps: float | None = None) -> Any:
        from ferx.video.writer import AnnotatedVideoWriter

        return AnnotatedVideoWriter(self.out / ANNOTATED_VIDEO, width, height, fps=fps, audio_from=self.audio_from,
                                    offset=self.config.sampling.start or 0.0, end=self.config.sampling.end)

    def write(self, tf: TrackedFrame, guard: InterruptGuard) -> None:
        try:
            with guard.hold():  # a frame's row and its annotated picture, or neither (an interrupt waits)
                self._write(tf)
        except OSError as e:
            if is_fatal_write(e):  # a full disk: the run stops "aborted", as a photo run does
                raise Aborted(f"stopped at frame {tf.index}: {space_reason(e)}") from None
            raise

    def _write(self, tf: TrackedFrame) -> None:
        self.frames += 1
        self.layout.check(tf.faces, f"frame {tf.index}")
        info = FrameInfo(kind="video", source=self.name, content_sha256=self.content_sha256,
                         track_ids=tf.track_ids, detected=tf.detected, scene_cut=bool(tf.scene_cut),
                         aus_relative=tf.aus_relative)
        rows = self.layout.rows(tf.result, info)
        for w in self.writers:
            w.begin()
            w.write(rows)
        assert self.segments is not None and self.progress is not None
        self.segments.add(tf)
        if self.video is None and self.outputs.annotate and tf.frame is not None:  # a stream: size of its frames
            self.video = self._annotated(tf.frame.width, tf.frame.height)
        if self.video is not None and tf.frame is not None:
            from ferx.video.writer import draw_tracked

            self.video.write(draw_tracked(tf), tf.timestamp)
        if self.on_frame is not None:
            self.on_frame(tf)
        self.progress.update(1)
        self.progress.show_rate()

    def finish(self, status: RunStatus) -> VideoRunSummary:
        seconds = time.perf_counter() - self._t0
        if self.analysis.stopped and status.status == "complete":
            status = RunStatus("truncated", reason=self.analysis.stopped)
        run = VideoRunSummary(status=status.status, seconds=seconds, signal=status.signal, reason=status.reason,
                              source=self.name, out=str(self.out), failed_frames=self.analysis.failed_frames)
        self._finish_files(run)
        return run

    def _finish_files(self, run: VideoRunSummary) -> None:
        if self.progress is not None:
            self.progress.close()
        rows = self.writers[0].rows if self.writers else 0
        try:
            close_all(self.writers)
        except OSError as e:
            if not is_fatal_write(e):
                raise
            run.status, run.reason = "aborted", run.reason or f"rows not finished: {space_reason(e)}"
        self.writers = []
        assert self.segments is not None
        result = self.segments.finish(self.analysis.baseline.baselines())
        run.frames, run.rows, run.tracks = self.frames, rows, len(result["tracks"])
        run.faces = sum(t["frames"] for t in result["tracks"])
        run.detector_frames = self.analysis.detector_frames
        run.fps = run.frames / run.seconds if run.seconds > 0 else 0.0
        if self.video is not None:
            try:
                self.video.close(complete=run.status != "interrupted")
            except OSError as e:
                if not is_fatal_write(e):
                    raise
                run.status, run.reason = "aborted", run.reason or f"annotated video not finished: {space_reason(e)}"
            self.video = None
        files = [str(self.out / n) for n in (*VIDEO.rows, SEGMENTS, ANNOTATED_VIDEO) if (self.out / n).exists()]
        if self.outputs.timelines and result["tracks"] and run.status != "aborted":
            from ferx.video.plots import plot_timelines

            csv_rows, parquet_rows = VIDEO.rows
            rows_file = self.out / (parquet_rows if "parquet" in self.outputs.formats else csv_rows)
            t0 = time.perf_counter()
            if self._plots_ready is not None:
                self._plots_ready.join()
            files += [str(p) for p in plot_timelines(rows_file, self.out, skip_aus=self.unmeasured)]
            self.timelines_s = time.perf_counter() - t0
        run.files = files
        document = json.dumps(self._document(run, result), indent=2, allow_nan=False) + "\n"
        self.reserve.write(lambda: atomic_write_text(self.out / VIDEO.summary, document))
        self.reserve.release()
        run.files.append(str(self.out / VIDEO.summary))

    def _document(self, run: VideoRunSummary, result: dict[str, Any]) -> dict[str, Any]:
        info = self.analysis.info
        return {
            "ferx_version": __version__, "source": run.source, "content_sha256": self.content_sha256,
            "status": run.status, "stopped": run.stopped,
            **({"reason": run.reason} if run.status in ("aborted", "error") else {}),
            "signal": run.signal, "video": None if info is None else asdict(info), "frames": run.frames,
            "rows": run.rows, "detector_frames": run.detector_frames,
            "failed_frames": [asdict(f) for f in run.failed_frames], "seconds": round(run.seconds, 3),
            "fps": round(run.fps, 2),
            # what drawing the timelines added after the analysis ("seconds"), so a user can see the cost
            "timelines_seconds": None if self.timelines_s is None else round(self.timelines_s, 3),
            "config": _jsonable(asdict(self.config)),
            # what made the rows (stages, AU grades), as `ferx batch` records it: the report grades AUs by it
            "analyzer": None if self.info is None else self.info.to_dict(),
            **{k: v for k, v in result.items() if k != "frames"},
        }

    def fail(self, status: RunStatus) -> None:
        """A bug or model error: the rows so far are finished and summary.json says "error" (the
        driver raises the exception afterwards)."""
        run = VideoRunSummary(status=status.status, seconds=time.perf_counter() - self._t0, reason=status.reason,
                              source=self.name, out=str(self.out), failed_frames=self.analysis.failed_frames)
        try:
            if self.segments is not None:
                self._finish_files(run)
        except Exception:  # noqa: BLE001, S110 - the error being raised is the one to report
            pass

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()
        try:
            close_all(self.writers)
        finally:
            self.writers = []
            if self.segments is not None:
                self.segments.close()
            if self.video is not None:
                try:
                    self.video.close(complete=False)
                except OSError as e:  # a full disk: the summary already says why
                    if not is_fatal_write(e):
                        raise
                self.video = None
            self.reserve.release()


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and x != x:
        return None
    return x


__all__ = ["FORMATS", "VideoEngine", "VideoOutputs", "VideoRunSummary", "VideoSink", "finished_run", "run_video",
           "segment_explainer"]
