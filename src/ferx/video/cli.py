"""Command-line entry points for videos and the camera, wired into `ferx` by `ferx.cli`:

    ferx analyze clip.mp4 [--every N | --fps F] [--start S] [--end S] [--format csv,parquet]
                 [--annotate] [--calibrate] [--no-smooth] [--detect-every N] [--no-follow]
    ferx analyze folder/        # photos go to the image batch, videos (found by content) here
    ferx analyze frames/ --sequence [--sequence-fps F]   # a folder of numbered frames as one video
    ferx webcam [--device N|NAME|FILE] [--out DIR] [--no-window] [--max-frames N] [--duration S]

Each video gets its own folder OUT/<video stem>/ (layout: `ferx.video.run`), each image sequence
OUT/<folder name>/. Exit status: 0 all complete, 1 a video failed to open or ended early (its rows
up to the last good frame are kept) or frames of a sequence could not be read (listed in its
summary.json), 2 a sequence with no readable images (nothing is analysed) or a --start at or past the
end of a video (that video is not analysed, the others are), 130 / 143 stopped by
SIGINT / SIGTERM (files so far are valid, summary.json says "interrupted").
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

from ferx.argtypes import positive_float, positive_int
from ferx.config import AnalyzerConfig, StageConfig
from ferx.errors import ImageReadError, NoImagesError
from ferx.video.decode import SamplingError


def _seconds(text: str) -> float:
    """Seconds, or [[H:]M:]S.s."""
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be seconds or H:M:S, got {text!r}") from None
    if not 1 <= len(parts) <= 3 or any(math.isnan(p) or p < 0 for p in parts):
        raise argparse.ArgumentTypeError(f"must be seconds or H:M:S, got {text!r}")
    v = 0.0
    for p in parts:
        v = v * 60 + p
    return v


class _SequenceFps(argparse.Action):
    """--sequence-fps F also sets --sequence: a frame rate for frames read as photos means nothing."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        namespace.sequence = True


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detect-every", type=positive_int, default=None, metavar="N",
                   help="run the face detector at least every N frames; between, faces are followed by their "
                   "mesh (default 12)")
    p.add_argument("--no-follow", action="store_true", help="run the detector on every frame (slower; no mesh "
                   "following)")
    p.add_argument("--no-smooth", action="store_true", help="no temporal smoothing (raw per-frame values)")
    p.add_argument("--calibrate", action="store_true", help="add AU intensities relative to each person's "
                   "neutral baseline (columns AUxx_rel)")
    p.add_argument("--no-timelines", action="store_true", help="do not draw timeline plots")


#: the video options of `ferx analyze` and the values that mean "not given"
VIDEO_OPTIONS = {"every": 1, "fps": None, "start": None, "end": None, "detect_every": None, "no_follow": False,
                 "no_smooth": False, "calibrate": False, "no_timelines": False}


def unused_video_options(args: argparse.Namespace) -> list[str]:
    """The video options given on a command line (as typed, e.g. "--fps"): said when no input is a video."""
    return ["--" + k.replace("_", "-") for k, unset in VIDEO_OPTIONS.items() if getattr(args, k, unset) != unset]


def add_video_arguments(subparsers: Any) -> None:
    """Add the video options to `ferx analyze` and the `ferx webcam` subcommand.

    Args:
        subparsers: the object `ArgumentParser.add_subparsers()` returned; its "analyze" parser must
            exist already (it has --out, --format, --annotate, --config, --min-face, --quiet).
    """
    a = subparsers.choices["analyze"]
    g = a.add_argument_group("videos (recognised by content; each gets OUT/<name>/ with rows, summary, timelines)")
    g.add_argument("--every", type=positive_int, default=1, metavar="N", help="analyse every Nth frame")
    g.add_argument("--fps", type=positive_float, default=None, metavar="F",
                   help="analyse at most F frames per second of video")
    g.add_argument("--start", type=_seconds, default=None, metavar="T", help="start at T seconds (or H:M:S)")
    g.add_argument("--end", type=_seconds, default=None, metavar="T", help="stop at T seconds (or H:M:S)")
    g.add_argument("--sequence", action="store_true",
                   help="each folder (or quoted glob pattern, e.g. 'frames/*.png') is ONE video: its image files "
                   "in natural order (frame2 before frame10) are the frames; results in OUT/<folder name>/")
    g.add_argument("--sequence-fps", type=positive_float, action=_SequenceFps, default=None, metavar="F",
                   help="frame rate of the image sequences, for their timestamps (default 30); implies --sequence")
    _common(g)  # type: ignore[arg-type]

    w = subparsers.add_parser("webcam", help="analyse a live camera: annotated window and/or rows")
    w.set_defaults(handler=run_webcam)
    w.add_argument("--device", default="0", help="camera number (default 0), device name (Windows: "
                   "'video=NAME'), or a video file/URL played in real time as a stand-in camera")
    w.add_argument("--out", default="ferx-webcam", help="output folder for rows and summary (default ferx-webcam)")
    w.add_argument("--format", default="csv", help="rows formats, comma-separated: csv, parquet (default csv)")
    w.add_argument("--annotate", action="store_true", help="also record the annotated video (OUT/annotated.mp4)")
    w.add_argument("--no-window", action="store_true", help="never open a window (rows only)")
    w.add_argument("--max-frames", type=positive_int, default=None, help="stop after N analysed frames")
    w.add_argument("--duration", type=_seconds, default=None, help="stop after T seconds")
    w.add_argument("--config", help="YAML config file (see `ferx config`)")
    w.add_argument("--min-face", type=positive_int, help="smallest face side in pixels the detector looks for")
    w.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    _common(w)


register = add_video_arguments  # `ferx.cli` registers every subcommand module the same way


def _analyzer_config(args: argparse.Namespace, config: AnalyzerConfig | None) -> AnalyzerConfig:
    if config is not None:
        return config
    config = AnalyzerConfig.from_yaml(Path(args.config)) if getattr(args, "config", None) else AnalyzerConfig()
    if getattr(args, "pipeline", None):
        config = config.with_overrides({"pipeline": args.pipeline})
    if getattr(args, "min_face", None) is not None:
        config.detector = StageConfig(config.detector.name, dict(config.detector.options, min_face=args.min_face))
    return config


def _video_config(args: argparse.Namespace, sampling: Any = None) -> Any:
    from ferx.video import CalibrationConfig, SmoothingConfig, TrackingConfig, VideoConfig

    tracking = TrackingConfig(follow=not args.no_follow)
    if args.detect_every is not None:
        tracking.detect_every = args.detect_every
    cfg = VideoConfig(
        tracking=tracking,
        smoothing=SmoothingConfig(enabled=not args.no_smooth),
        calibration=CalibrationConfig(enabled=args.calibrate),
    )
    if sampling is not None:
        cfg.sampling = sampling
    return cfg


def _outputs(args: argparse.Namespace) -> Any:
    from ferx.runs.video import FORMATS, VideoOutputs

    asked = [f.strip() for f in str(getattr(args, "format", "csv")).split(",") if f.strip()]
    formats = tuple(f for f in asked if f in FORMATS) or ("csv",)  # json/images formats are for photos
    return VideoOutputs(formats=formats, annotate=bool(getattr(args, "annotate", False)),
                        timelines=not args.no_timelines)


def _folder_for(out: Path, name: str, used: set[Path], source: Any = None) -> Path:
    """OUT/<name>, or, when another video of the run already writes there, OUT/<name>~<8 hex digits of
    the source's path> — the photos' scheme, so that a name depends on its source, not on the order
    (the top-level summary.json maps each source to its folder)."""
    from ferx.fsutil import short_hash

    folder = out / (name or "video")
    if folder in used:
        folder = out / f"{name or 'video'}~{short_hash(os.path.abspath(str(source if source is not None else name)))}"
    used.add(folder)
    return folder


def run_video(args: argparse.Namespace, videos: list[Path] | None = None, config: AnalyzerConfig | None = None,
              records: list[dict[str, Any]] | None = None) -> int:
    """`ferx analyze` for video files: each into OUT/<stem>/. Returns the exit status.

    Args:
        args: parsed `ferx analyze` arguments (with the options `add_video_arguments` adds).
        videos: the video files (default: those among args.paths, by content).
        config: the analyzer config (default: from --config / --pipeline / --min-face).
        records: where to append one line per video for the run's top-level summary.json
            (`video_record`).
    """
    from ferx.video.sniff import split_media

    if videos is None:
        videos = split_media(args.paths, recursive=getattr(args, "recursive", False))[1]
    return _run_sources(args, list(videos), config, records)


def video_record(source: Any, folder: Path | None, out: Path, run: Any = None, error: Exception | None = None) -> dict[str, Any]:
    """What the top-level summary.json of `ferx analyze` says about one video: where its own
    summary is and how it ended, or why it could not be analysed."""
    from ferx.fsutil import printable

    rec: dict[str, Any] = {"source": printable(str(source))}
    if error is not None:
        return {**rec, "status": "failed", "error": type(error).__name__, "message": printable(str(error))}
    assert folder is not None and run is not None
    rec.update(folder=printable(os.path.relpath(folder, out)), status=run.status, frames=run.frames,
               rows=run.rows, faces=run.faces, tracks=run.tracks, failed_frames=len(run.failed_frames),
               seconds=round(run.seconds, 3))
    if run.reason is not None:
        rec["reason"] = run.reason
    return rec


def run_sequences(args: argparse.Namespace, config: AnalyzerConfig | None = None,
                  records: list[dict[str, Any]] | None = None) -> int:
    """`ferx analyze PATH... --sequence`: each folder or glob pattern in args.paths is one video (an
    ImageSequence) into OUT/<folder name>/; a video file among them is analysed as a video.

    Every path is checked before anything is analysed: one with no readable image (an empty
    folder, no such folder, a plain image file) is an error with exit status 2, as an empty folder
    is for the image batch. Frames that cannot be read are listed in the sequence's summary.json
    and give exit status 1; the other frames keep their rows.
    """
    from ferx.video.sequence import DEFAULT_FPS, ImageSequence
    from ferx.video.sniff import is_video

    if getattr(args, "recursive", False):
        print("ferx: error: --recursive does not apply to --sequence (a sequence is one folder's files); for "
              "frames in subfolders give a quoted pattern such as 'frames/**/*.png'", file=sys.stderr)
        return 2
    fps = args.sequence_fps or DEFAULT_FPS
    sources: list[Path | ImageSequence] = []
    for path in map(Path, args.paths):
        if path.is_file() and is_video(path):
            sources.append(path)
            continue
        try:
            sources.append(ImageSequence(path, fps=fps))
        except NoImagesError as e:
            print(f"ferx: error: {e}", file=sys.stderr)
            return 2
    if not sources:
        print("ferx: error: nothing to analyse: give folders of frames (or quoted glob patterns)", file=sys.stderr)
        return 2
    return _run_sources(args, sources, config, records)


def _done_record(source: Any, folder: Path, out: Path, done: dict[str, Any]) -> dict[str, Any]:
    """The top-level summary's line for a video an earlier run finished (`video_record`'s keys)."""
    from ferx.fsutil import printable

    tracks = done.get("tracks") or []
    return {"source": printable(str(source)), "folder": printable(os.path.relpath(folder, out)), "status": "complete",
            "frames": int(done.get("frames") or 0), "rows": int(done.get("rows") or 0),
            "faces": sum(int(t.get("frames", 0)) for t in tracks), "tracks": len(tracks),
            "failed_frames": len(done.get("failed_frames") or []), "seconds": 0.0, "resumed": True}


def _say(name: Any, folder: Path, run: Any, quiet: bool = False) -> None:
    """What a video run did, on stderr: counts (not with `quiet`: a tryout found `-q` printing a line per
    video), and how it ended when it did not complete (always: a problem is not progress)."""
    if not quiet:
        print(f"ferx: {name}: {run.frames} frame(s), {run.faces} face row(s), {run.tracks} track(s), "
              f"{run.fps:.1f} fps ({run.detector_frames} with detection) → {folder}/", file=sys.stderr)
    if run.status == "truncated":
        print(f"ferx: {name}: {run.stopped}", file=sys.stderr)
    elif run.status == "aborted":  # the output could not be written (a full disk)
        print(f"ferx: error: {name}: {run.reason}; summary.json says \"aborted\"", file=sys.stderr)
    if run.failed_frames:
        shown = "; ".join(f"frame {f.index} {Path(f.file).name}: {f.reason}" for f in run.failed_frames[:5])
        more = f"; and {len(run.failed_frames) - 5} more" if len(run.failed_frames) > 5 else ""
        print(f"ferx: {name}: {len(run.failed_frames)} frame(s) could not be read, no rows for them "
              f"(failed_frames in summary.json): {shown}{more}", file=sys.stderr)
    if run.status == "interrupted":
        print(f"ferx: interrupted by {run.signal}: rows so far are in {folder}/ (summary.json says "
              "\"interrupted\")", file=sys.stderr)


def _run_sources(args: argparse.Namespace, sources: list[Any], config: AnalyzerConfig | None,
                 records: list[dict[str, Any]] | None = None) -> int:
    """Each video file or ImageSequence into OUT/<name>/; the worst exit status (an interrupt's first)."""
    from ferx import Analyzer
    from ferx.fsutil import file_sha256
    from ferx.video import Sampling
    from ferx.runs import video as video_runs
    from ferx.video.sequence import ImageSequence

    try:
        sampling = Sampling(every=args.every, fps=args.fps, start=args.start, end=args.end)
    except ValueError as e:
        print(f"ferx: error: {e}", file=sys.stderr)
        return 2
    vconfig = _video_config(args, sampling)
    outputs = _outputs(args)
    out = Path(args.out)
    quiet = bool(getattr(args, "quiet", False))
    codes: list[int] = []
    used: set[Path] = set()
    with Analyzer(_analyzer_config(args, config)) as analyzer:
        for source in sources:
            is_sequence = isinstance(source, ImageSequence)
            name = source.path if is_sequence else source
            folder = _folder_for(out, source.name if is_sequence else source.stem, used, name)
            # hashed once: the resume check and the rows of a redone run share it (a long video); an
            # unreadable file is left to the reader, whose error skips it as any bad video
            resume, is_file, sha = getattr(args, "resume", False), Path(name).is_file(), None
            if resume and is_file:
                try:
                    sha = file_sha256(name)
                except OSError:
                    pass
            done = (video_runs.finished_run(folder, name, vconfig, outputs, analyzer.describe(), sha)
                    if resume and (sha is not None or not is_file) else None)
            if done is not None:  # --resume redid every finished video
                print(f"ferx: {name}: already analysed in {folder}/ with these settings (--resume): not redone",
                      file=sys.stderr)
                codes.append(0)
                if records is not None:
                    records.append(_done_record(name, folder, out, done))
                continue
            try:
                run = video_runs.run_video(analyzer, source, folder, vconfig, outputs, quiet=quiet, content_sha256=sha)
            except (ImageReadError, SamplingError) as e:  # cannot be opened: say why, go on with the others
                # a bad file is skipped as a bad photo is; a --start past its end is a usage error (exit 2)
                print(f"ferx: error: {e}" if isinstance(e, SamplingError) else f"ferx: skipped {e}", file=sys.stderr)
                codes.append(2 if isinstance(e, SamplingError) else 1)
                if records is not None:
                    records.append(video_record(name, None, out, error=e))
                continue
            codes.append(run.exit_code)
            if records is not None:
                records.append(video_record(name, folder, out, run))
            _say(name, folder, run, quiet)
            if run.status == "interrupted":
                break
    interrupted = [c for c in codes if c in (130, 143)]
    return interrupted[0] if interrupted else max(codes, default=0)


def run_webcam(args: argparse.Namespace, config: AnalyzerConfig | None = None) -> int:
    """`ferx webcam`: live analysis with a window when a display exists, rows always."""
    from ferx import Analyzer
    from ferx.video.decode import VideoReadError
    import signal

    from ferx.runs.guard import Interrupted
    from ferx.runs import video as video_runs
    from ferx.runs.progress import stderr_is_terminal
    from ferx.video.webcam import LiveSource, LiveWindow, display_available
    from ferx.video.writer import draw_tracked

    asked = [f.strip() for f in str(args.format).split(",") if f.strip()]
    unknown = [f for f in asked if f not in video_runs.FORMATS]
    if unknown or not asked:  # a typo ("parqeut") silently gave CSV
        print(f"ferx: error: unknown rows format {', '.join(unknown) or '(none)'}; choose from "
              f"{', '.join(video_runs.FORMATS)}", file=sys.stderr)
        return 2
    try:
        source = LiveSource(args.device, max_frames=args.max_frames, duration=args.duration)
    except VideoReadError as e:
        print(f"ferx: error: {e}", file=sys.stderr)
        return 2
    window = None
    if not args.no_window and display_available():
        try:
            window = LiveWindow(f"ferx webcam — {args.device}")
        except Exception as e:  # no Tk, or the display refused: rows only
            print(f"ferx: no window ({e}); writing rows only", file=sys.stderr)
    quiet = bool(args.quiet)
    # On a terminal a live line, redrawn in place, shows the labels (or the window does); in a log the
    # redraws pile up into one endless line, so there the video run's plain line every 30 s is shown.
    terminal = stderr_is_terminal()
    live_line = not quiet and terminal and window is None

    def on_frame(tf: Any) -> None:
        if window is not None:
            window.show(draw_tracked(tf))
            if window.closed:
                raise Interrupted(signal.SIGINT, "window closed")
        elif live_line and tf.index % 30 == 0:
            labels = ", ".join(f"#{i} {lab}" for i, lab in zip(tf.track_ids.tolist(), tf.faces.labels))
            print(f"\r{tf.timestamp:7.1f} s  {labels or 'no face'}" + " " * 20, end="", file=sys.stderr, flush=True)

    try:
        with Analyzer(_analyzer_config(args, config)) as analyzer:
            run = video_runs.run_video(analyzer, source, Path(args.out), _video_config(args), _outputs(args),
                                       quiet=quiet or terminal, on_frame=on_frame, source_name=f"camera {args.device}")
    finally:
        source.close()
        if window is not None:
            window.close()
    if not quiet:
        print(("\n" if live_line else "") + f"ferx: {run.frames} frame(s) ({source.dropped} dropped while busy), "
              f"{run.tracks} track(s), {run.fps:.1f} fps → {args.out}/", file=sys.stderr)  # "\n" ends the live line
    if run.status == "truncated":  # the device failed: said, and not a normal end (summary.json "truncated")
        print(f"ferx: error: {run.stopped}", file=sys.stderr)
    return 0 if run.signal == "window closed" else run.exit_code


__all__ = ["add_video_arguments", "register", "run_sequences", "run_video", "run_webcam"]
