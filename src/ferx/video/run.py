"""One video in, a folder of results out — the engine behind `ferx analyze clip.mp4`.

```
OUT/
  rows.csv          one row per face per frame (+ a row per frame without a face), appended per frame
  rows.parquet      the same rows (with --format parquet); complete under this name only
  segments.jsonl    expression segments per track, each explained once, appended as they close
  summary.json      per-track summary, run status, speed (written atomically at the end)
  timeline-track<ID>.png / .svg   expression probabilities and key AUs over time
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
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ferx.fsutil import atomic_write_text, file_sha256
from ferx.table import TableLayout
from ferx.types import Faces, Frame
from ferx.video.analyze import VideoConfig, analyze_video
from ferx.video.result import TrackedFrame
from ferx.video.rows import CsvRowWriter, ParquetRowWriter, RowSink
from ferx.video.sequence import FailedFrame, ImageSequence
from ferx.video.summary import SummaryBuilder

if TYPE_CHECKING:
    from ferx.pipeline import Analyzer

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
class VideoRunSummary:
    """How a run went (also in summary.json)."""

    source: str
    out: str
    status: str  # complete | truncated | interrupted
    frames: int = 0
    rows: int = 0
    faces: int = 0
    tracks: int = 0
    detector_frames: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    stopped: str | None = None
    signal: str | None = None
    files: list[str] = field(default_factory=list)
    failed_frames: list[FailedFrame] = field(default_factory=list)  # image sequences: unreadable frames

    @property
    def exit_code(self) -> int:
        """0 complete, 1 truncated (rows kept up to the last good frame) or frames of an image
        sequence unreadable (as a batch with failed images), 130/143 SIGINT/SIGTERM."""
        if self.status == "interrupted":
            return 143 if self.signal == "SIGTERM" else 130
        return 0 if self.status == "complete" and not self.failed_frames else 1


class Interrupted(BaseException):
    """SIGINT/SIGTERM during a run (BaseException, so that no `except Exception` swallows it)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@contextmanager
def interrupts_as_exception() -> Iterator[None]:
    """In the main thread, SIGINT and SIGTERM raise `Interrupted` (once; later ones are ignored
    while the run cleans up)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handle(signum: int, _frame: object) -> None:
        if fired:
            return
        fired.append(signum)
        raise Interrupted(signal.Signals(signum).name)

    old = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def segment_explainer(analyzer: Analyzer) -> Callable[[Faces], Faces] | None:
    """What explains a segment's mean AUs and probabilities: the analyzer's explain stage alone
    (`refine` with every other field skipped); None when the analyzer explains nothing."""
    if "explanations" not in analyzer.provides:
        return None
    blank = Frame(np.zeros((1, 1, 3), np.uint8), source="<segment>")  # explainers read measurements, not pixels
    others = analyzer.provides - {"explanations"}
    return lambda faces: analyzer.refine(blank, faces, skip=others)[0].faces


def process_video(
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
    """Analyse one video (an ImageSequence, or a stream of Frames) into the folder `out` (layout:
    module docstring).

    Raises VideoReadError / VideoCodecError (ImageSequenceError for an image sequence) before
    writing anything when the input cannot be opened. Interrupts (Ctrl-C, SIGTERM in the main
    thread) end the run with status "interrupted".
    """
    config = config or VideoConfig()
    outputs = outputs or VideoOutputs()
    out = Path(out)
    analysis = analyze_video(analyzer, source, config)  # opens and checks the input first
    out.mkdir(parents=True, exist_ok=True)
    name = source_name or analysis.source
    if content_sha256 is None and isinstance(source, (str, os.PathLike)):
        content_sha256 = file_sha256(source)
    layout = TableLayout.of_pipeline(analyzer.describe(), relative=config.calibration.enabled)
    writers: list[Any] = []
    if "csv" in outputs.formats:
        writers.append(CsvRowWriter(out / "rows.csv", layout))
    if "parquet" in outputs.formats:
        writers.append(ParquetRowWriter(out / "rows.parquet", layout))
    sink = RowSink(writers, layout, source=name, content_sha256=content_sha256)
    summary = SummaryBuilder(out / "segments.jsonl" if outputs.segments else None, segment_explainer(analyzer),
                             min_segment_s=outputs.min_segment_s)
    info = analysis.info
    video = None
    if outputs.annotate:
        from ferx.video.writer import AnnotatedVideoWriter

        width, height = (info.width, info.height) if info else (0, 0)
        if info is not None:
            video = AnnotatedVideoWriter(
                out / "annotated.mp4", width, height, fps=info.fps,
                audio_from=source if isinstance(source, (str, os.PathLike)) else None,
                offset=config.sampling.start or 0.0, end=config.sampling.end,
            )
    progress = _progress(info.expected_frames(config.sampling) if info else None, name, quiet)
    run = VideoRunSummary(source=name, out=str(out), status="complete")
    faces = 0
    t0 = time.perf_counter()
    try:
        with interrupts_as_exception():
            try:
                for tf in analysis:
                    sink.write(tf)
                    summary.add(tf)
                    faces += len(tf.faces)
                    if video is None and outputs.annotate and tf.frame is not None:
                        from ferx.video.writer import AnnotatedVideoWriter

                        video = AnnotatedVideoWriter(out / "annotated.mp4", tf.frame.width, tf.frame.height)
                    if video is not None and tf.frame is not None:
                        from ferx.video.writer import draw_tracked

                        video.write(draw_tracked(tf), tf.timestamp)
                    if on_frame is not None:
                        on_frame(tf)
                    if progress is not None:
                        progress.update(1)
                        if progress.n % 10 == 0:
                            elapsed = time.perf_counter() - t0
                            progress.set_postfix_str(f"{progress.n / max(elapsed, 1e-9):.1f} fps", refresh=False)
            except Interrupted as e:
                run.status, run.signal = "interrupted", e.name
            except KeyboardInterrupt:
                run.status, run.signal = "interrupted", "SIGINT"
            finally:
                # Everything below must finish even if another signal arrives.
                run.seconds = time.perf_counter() - t0
                if progress is not None:
                    progress.close()
                if analysis.stopped and run.status == "complete":
                    run.status, run.stopped = "truncated", analysis.stopped
                run.failed_frames = analysis.failed_frames
                _finish(run, analysis, sink, summary, video, out, outputs, config)
    except Interrupted as e:  # a signal during clean-up (ignored by the handler after the first)
        run.status, run.signal = "interrupted", e.name
    return run


def _finish(run: VideoRunSummary, analysis: Any, sink: RowSink, summary: SummaryBuilder, video: Any, out: Path,
            outputs: VideoOutputs, config: VideoConfig) -> None:
    sink.close()
    run.frames = sink.frames
    run.rows = sink.writers[0].rows if sink.writers else 0
    baselines = analysis.baseline.baselines()
    result = summary.finish(baselines)
    run.tracks = len(result["tracks"])
    run.faces = sum(t["frames"] for t in result["tracks"])
    run.detector_frames = analysis.detector_frames
    run.fps = run.frames / run.seconds if run.seconds > 0 else 0.0
    if video is not None:
        video.close(complete=run.status != "interrupted")
        run.files.append(str(out / "annotated.mp4"))
    files = [str(out / n) for n in ("rows.csv", "rows.parquet", "segments.jsonl") if (out / n).exists()]
    if outputs.timelines and result["tracks"]:
        from ferx.video.plots import plot_timelines

        rows_file = out / ("rows.parquet" if "parquet" in outputs.formats else "rows.csv")
        files += [str(p) for p in plot_timelines(rows_file, out)]
    run.files = files + run.files
    from ferx import __version__

    doc = {
        "ferx_version": __version__,
        "source": run.source,
        "status": run.status,
        "stopped": run.stopped,
        "signal": run.signal,
        "video": None if analysis.info is None else asdict(analysis.info),
        "frames": run.frames,
        "rows": run.rows,
        "detector_frames": run.detector_frames,
        "failed_frames": [asdict(f) for f in run.failed_frames],
        "seconds": round(run.seconds, 3),
        "fps": round(run.fps, 2),
        "config": _jsonable(asdict(config)),
        **{k: v for k, v in result.items() if k != "frames"},
    }
    atomic_write_text(out / "summary.json", json.dumps(doc, indent=2, allow_nan=False) + "\n")
    run.files.append(str(out / "summary.json"))


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and x != x:
        return None
    return x


def _progress(total: int | None, name: str, quiet: bool) -> Any:
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=Path(name).name[:30], dynamic_ncols=True, leave=True)


__all__ = ["FORMATS", "Interrupted", "VideoOutputs", "VideoRunSummary", "interrupts_as_exception", "process_video"]
