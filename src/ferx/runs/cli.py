"""The run commands: `ferx analyze` (photos into a folder, each video into OUT/<name>/: `run_photos`,
`run_video`) and `ferx batch` (a large collection into a Parquet dataset on a process pool or Ray:
`run_dataset`). Both are configurations of the one run driver and write ferx's one table; see
docs/batch.md for when to use which.

Exit status of both: 0 every input analysed, 1 some inputs failed or a video ended early (each is
reported and the rest are still written) or the output kept failing, 2 usage errors, an unusable
output or nothing to analyse, 130 / 143 stopped by SIGINT / SIGTERM (summary.json says
"interrupted"; `ferx analyze --resume` or the same `ferx batch` command continues).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ferx.argtypes import positive_float, positive_int
from ferx.commands import (
    add_llm_options,
    add_whole_image_face_option,
    explain_config,
    load_config,
    min_face,
    print_explanations,
)
from ferx.config import PIPELINES, AnalyzerConfig, StageConfig
from ferx.errors import ConfigError


def register_analyze(subparsers: Any) -> argparse.ArgumentParser:
    """Add `ferx analyze` (the video options are added by `ferx.video.cli.register`)."""
    from ferx.report import cli as report_cli

    a = subparsers.add_parser("analyze", help="find faces and measure landmarks, AUs and expression")
    a.add_argument("paths", nargs="*", help="image files and/or folders")
    a.add_argument("--demo", action="store_true", help="analyse the bundled example image")
    a.add_argument("--out", default="ferx-output", help="output folder (default: ferx-output); an earlier run "
                   "there is replaced unless --resume")
    a.add_argument("--format", default="json", help="comma-separated: json (one file per image), csv (faces.csv; "
                   "rows.csv for a video), parquet (faces.parquet / rows.parquet): the rows are ferx's one table")
    a.add_argument("--annotate", action="store_true", help="write annotated images to OUT/annotated/")
    a.add_argument("--landmarks", action="store_true", help="draw the 478 landmarks on annotated images")
    a.add_argument("--recursive", "-r", action="store_true", help="search folders recursively")
    a.add_argument("--config", help="YAML config file (see `ferx config`)")
    a.add_argument("--min-face", type=min_face, help="smallest face side in pixels the detector looks for "
                   "(default 24, at least 8); on photos above 2.2 Mpx the finest search level is capped, so the "
                   "smallest face sought grows with the photo (~83 px at 12 Mpx) and a note gives the size")
    a.add_argument("--resume", action="store_true", help="continue the run in --out: images it finished are "
                   "not redone (the options and config must be the same)")
    a.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no per-file messages")
    a.add_argument("--explain", action="store_true", help="print each face's explanation (chain of thought)")
    a.add_argument("--pipeline", choices=sorted(PIPELINES), help="stage preset: two-stage (default: detector, "
                   "landmarks, AUs, classifier) or onepass (one network finds faces and their expressions)")
    a.add_argument("--aus", action="store_true", help="with --pipeline onepass: also run the landmarker, AU and "
                   "explain stages on the detected boxes")
    add_whole_image_face_option(a)
    add_llm_options(a)
    report_cli.add_report_flag(a)
    a.set_defaults(handler=analyze)
    return a


def analyze_config(args: argparse.Namespace) -> AnalyzerConfig:
    """The analyzer config of `ferx analyze`: --config, then --pipeline, --aus, --min-face, --explain/--llm."""
    config = load_config(args)
    if args.pipeline:
        config = config.with_overrides({"pipeline": args.pipeline})
    if args.aus:
        config = config.with_addon("aus")
    if args.min_face is not None:
        config.detector = StageConfig(config.detector.name, dict(config.detector.options, min_face=args.min_face))
    return explain_config(config, args, asked=args.explain)


def analyze(args: argparse.Namespace) -> int:
    """`ferx analyze`: photos into OUT (`run_photos`), each video into OUT/<name>/ (`run_video`)."""
    from ferx.assets import demo_image
    from ferx.runs.photos import BatchOptions
    from ferx.video.sniff import split_media

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    paths = list(args.paths) + ([str(demo_image())] if args.demo else [])
    if not paths:
        raise ConfigError("nothing to analyse: give image files or folders, or --demo")
    config = analyze_config(args)
    if args.sequence:  # each folder or glob is one video, into OUT/<folder name>/
        with _folder_lock(Path(args.out)):
            return _sequences(args, config, formats)
    # photos and videos are told apart by content, so a folder may mix them
    ignored: list[Path] = []
    files, videos = split_media(paths, recursive=args.recursive, ignored=ignored)
    out_dir = Path(args.out).resolve()
    videos = [v for v in videos if out_dir not in v.resolve().parents]  # never re-read our own annotated.mp4
    _notes(args, files, videos, [f for f in ignored if out_dir not in f.resolve().parents])
    if args.report and "json" not in formats and files:  # the report reads the per-image JSON files
        formats += ("json",)
        if not args.quiet:
            print("ferx: note: --report reads the per-image JSON files: json added to --format", file=sys.stderr)
    options = BatchOptions(formats=formats, annotate=args.annotate, landmarks=args.landmarks)
    with _folder_lock(Path(args.out)):  # the whole run's, videos included (the photo part takes it again)
        if files and args.resume:  # a resume its photos would refuse is refused before the videos
            from ferx.runs.photos import previous_run, run_spec

            previous_run(Path(args.out), run_spec(config, options))
        return _analyze_media(args, config, options, formats, files, videos)


@contextlib.contextmanager
def _folder_lock(out: Path) -> Iterator[None]:
    """Hold OUT's run lock (`PhotoSink`'s) from the first video to the last photo: a second `ferx analyze`
    into OUT while a video was analysed was not refused, and the two runs' summaries and rows mixed."""
    from ferx.fsutil import FolderLock, printable
    from ferx.runs.layout import PHOTOS
    from ferx.runs.photos import BatchError, take_run_lock

    if out.exists() and not out.is_dir():
        raise BatchError(f"output folder {printable(str(out))} exists and is not a folder")
    try:
        (out / PHOTOS.state).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BatchError(f"cannot write to the output folder {printable(str(out))}: {e.strerror or e}") from None
    lock = FolderLock(out / PHOTOS.state / "lock", reentrant=True)
    take_run_lock(lock, out)
    if lock.unlocked:
        print(f"ferx: note: {printable(str(out))} is on a file system without locks: a second run into it "
              "would not be refused", file=sys.stderr)
    try:
        yield
    finally:
        lock.release()


def _analyze_media(args: argparse.Namespace, config: AnalyzerConfig, options: Any, formats: tuple[str, ...],
                   files: list[Path], videos: list[Path]) -> int:
    """The videos (each into OUT/<name>/), then the photos, then the report asked for."""
    code, report = 0, bool(args.report)
    records: list[dict[str, Any]] = []
    if videos:
        from ferx.video.cli import run_video

        def so_far(**how: Any) -> None:  # the videos done, those not reached, the photos not started
            write_overview(Path(args.out), records + _not_reached(videos, records), photos=False, formats=formats,
                           unreached=len(files), **how)

        # "running" from the start, as a photo run's summary is: an earlier run's must not look current
        # while the videos are read, nor after a kill (a recheck found "complete" from the run before)
        so_far(status="running")
        try:
            code = run_video(args, videos, config, records)  # each video into OUT/<name>/
        except Exception as e:  # a bug or a model problem: summary.json says so rather than "running"
            so_far(status="error", reason=f"{type(e).__name__}: {e}")
            raise
        if code in (130, 143):  # stopped by a signal
            so_far(signal="SIGINT" if code == 130 else "SIGTERM")
            return code
    if files:
        photos_code, finished = _photos(args, files, config, options)
        code, report = max(code, photos_code), report and finished
        if videos:
            write_overview(Path(args.out), records, photos=True, formats=formats)
        if photos_code in (130, 143):
            return photos_code
    elif videos:
        write_overview(Path(args.out), records, photos=False, formats=formats)
    if len(records) > 1 or (records and files):
        _say_videos(records)
    if report:  # of the photos and the videos alike: OUT holds both layouts
        from ferx.report import cli as report_cli

        return max(code, report_cli.after_batch(args.out))
    return code


def _notes(args: argparse.Namespace, files: list[Path], videos: list[Path], ignored: list[Path]) -> None:
    """What the run will not do that the command line suggests it might: said, not silently dropped."""
    if ignored and not args.quiet:  # folders are scanned by extension: our own outputs aside
        shown = ", ".join(p.name for p in ignored[:3]) + (", …" if len(ignored) > 3 else "")
        print(f"ferx: note: {len(ignored)} file(s) in the folders have no image or video extension and are not "
              f"read ({shown}); name them explicitly to have them read by content", file=sys.stderr)
    if args.landmarks and not args.annotate and files:  # it only draws
        print("ferx: note: --landmarks draws the mesh on annotated images (add --annotate); the JSON holds the "
              "478 landmarks either way", file=sys.stderr)
    if args.landmarks and videos:
        print("ferx: note: --landmarks is for photos; a video's rows and annotated video do not carry the mesh "
              "(`ferx batch --landmarks` writes it as a column)", file=sys.stderr)
    if files and not videos:
        from ferx.video.cli import unused_video_options

        if unused := unused_video_options(args):  # a photo run ignores them
            print(f"ferx: note: {', '.join(unused)} apply to videos; no input is a video", file=sys.stderr)


#: how bad each way of ending is, for the status of a run of several parts
_SEVERITY = {"complete": 0, "truncated": 1, "error": 2, "aborted": 3, "interrupted": 4}


def _not_reached(videos: list[Path], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The summary's entries of the videos a run has not started (status "pending")."""
    from ferx.fsutil import printable

    done = {r["source"] for r in records}
    return [{"source": printable(str(v)), "folder": None, "status": "pending", "frames": 0, "rows": 0, "faces": 0,
             "tracks": 0, "failed_frames": 0, "seconds": 0.0} for v in videos if printable(str(v)) not in done]


def write_overview(out: Path, videos: list[dict[str, Any]], *, photos: bool, formats: tuple[str, ...] = (),
                   unreached: int = 0, signal: str | None = None, status: str | None = None,
                   reason: str | None = None) -> None:
    """OUT/summary.json of a `ferx analyze` run with videos, in the photo summary's schema (the photos'
    counts, zero without photos) plus a `videos` list — each video's folder, status and counts, or why
    it could not be opened. A video that could not be opened is a failed input, listed under `failed`
    as a photo that cannot be read is; `status` is the worst way any part ended. A tryout found a mixed
    run's summary counting only its photos, and a video-only run with no summary at the top at all.
    `unreached`: photos a run stopped by `signal` during its videos never started (`pending`; a later
    tryout found them nowhere, `pending` 0 and no signal); videos not started are listed with status
    "pending" (`videos_pending`). `status`: the run's, where it is not the parts' worst ("running")."""
    import json

    from ferx.fsutil import atomic_write_text, printable, write_error_reason
    from ferx.runs.layout import read_summary
    from ferx.runs.photos import BatchSummary

    data = read_summary(out) if photos else {}
    if not photos and not unreached:  # a video writes rows only (json is a photo format): say what was written
        formats = tuple(f for f in formats if f in ("csv", "parquet")) or ("csv",)
    data = {**BatchSummary("complete", formats=formats, files=unreached, pending=unreached).to_dict(), **data}
    if signal is not None:
        data["signal"] = signal
    if reason is not None:
        data["reason"] = printable(reason)
    opened = [v for v in videos if v["status"] != "failed"]
    data["failed"] = list(data.get("failed") or []) + [
        {"source": v["source"], "error": v["error"], "message": v["message"]} for v in videos if v["status"] == "failed"]
    data["status"] = status or max([str(data["status"])] + [str(v["status"]) for v in opened if v["status"] != "pending"],
                                   key=lambda s: _SEVERITY.get(s, 2))
    data["seconds"] = round(float(data.get("seconds") or 0.0) + sum(float(v.get("seconds", 0.0)) for v in opened), 3)
    data["videos"] = videos
    data["video_frames"] = sum(int(v["frames"]) for v in opened)
    data["video_face_rows"] = sum(int(v["faces"]) for v in opened)
    data["videos_failed"] = sum(v["status"] not in ("complete", "pending") for v in videos)
    data["videos_pending"] = sum(v["status"] == "pending" for v in videos)
    try:
        out.mkdir(parents=True, exist_ok=True)  # every video may have failed to open
        atomic_write_text(out / "summary.json", json.dumps(data, indent=1))
    except OSError as e:
        print(f"ferx: error: could not write {out / 'summary.json'}: {write_error_reason(e)}", file=sys.stderr)


def _sequences(args: argparse.Namespace, config: AnalyzerConfig, formats: tuple[str, ...]) -> int:
    """`--sequence`: each folder or glob one video; then, as for video files, the run's summary.json and
    the report asked for (a tryout found both missing)."""
    from ferx.video.cli import run_sequences

    records: list[dict[str, Any]] = []
    summary = Path(args.out) / "summary.json"
    earlier = summary.read_bytes() if summary.is_file() else None
    # "running" meanwhile, as with video files (an earlier run's summary must not look current)
    write_overview(Path(args.out), [], photos=False, formats=formats, status="running")
    code = run_sequences(args, config, records)
    stopped = {130: "SIGINT", 143: "SIGTERM"}.get(code)
    if not records and not stopped:  # nothing was run (a usage error): the folder's summary as it was
        from ferx.fsutil import atomic_write_bytes

        if earlier is not None:
            atomic_write_bytes(summary, earlier)
        else:
            summary.unlink(missing_ok=True)
    if records or stopped:
        write_overview(Path(args.out), records, photos=False, formats=formats, signal=stopped,
                       status="interrupted" if stopped else None)
        if args.report and not stopped:
            from ferx.report import cli as report_cli

            code = max(code, report_cli.after_batch(args.out))
    return code


def _say_videos(records: list[dict[str, Any]]) -> None:
    """The videos' line beside the photos' one: how many, and how each ended."""
    ended: dict[str, int] = {}
    for v in records:
        ended[v["status"]] = ended.get(v["status"], 0) + 1
    words = {"failed": "could not be read", "truncated": "ended early"}
    parts = ", ".join(f"{n} {words.get(k, k)}" for k, n in sorted(ended.items(), key=lambda kv: _SEVERITY.get(kv[0], 2)))
    print(f"ferx: {len(records)} video(s): {parts}; {sum(int(v.get('faces', 0)) for v in records)} face row(s) "
          "(each video's folder: `videos` in summary.json)", file=sys.stderr)


def _photos(args: argparse.Namespace, files: list[Path], config: AnalyzerConfig, options: Any) -> tuple[int, bool]:
    """The photo run; its exit status, and whether it finished (a report of it is then worth writing)."""
    from ferx.fsutil import printable
    from ferx.runs.photos import run_photos

    on_result = print_explanations if args.explain else None
    s = run_photos(files, args.out, config, options, resume=args.resume, quiet=args.quiet, on_result=on_result)
    out = printable(str(args.out).rstrip("/") or "/")  # "results/" must not print as "results//"
    print(f"ferx: {s.files} file(s), {s.faces} face(s), {s.files_without_faces} without faces, {len(s.failed)} "
          f"failed, {s.seconds:.1f} s → {out}/", file=sys.stderr)
    if s.status == "interrupted":
        print(f"ferx: interrupted by {s.signal}: {s.analysed} of {s.files} file(s) done; summary.json says "
              f"\"interrupted\"; run again with --resume to finish", file=sys.stderr)
    elif s.status == "aborted":
        print(f"ferx: error: batch stopped: {s.reason}; fix the output, then run again with --resume", file=sys.stderr)
    return s.exit_code, s.status == "complete"


def register_batch(subparsers: Any) -> argparse.ArgumentParser:
    """Add `ferx batch`."""
    b = subparsers.add_parser(
        "batch", help="annotate a large collection into a Parquet dataset (resumable; local processes or Ray)",
        description="Analyse every image and video frame of INPUT into the Parquet dataset OUTPUT: one row per "
                    "face, one per image or frame without a face, failures in OUTPUT/errors/. Running the same "
                    "command again resumes: inputs already in OUTPUT are skipped, nothing is written twice.")
    configure_batch(b)
    b.set_defaults(handler=batch)
    return b


def configure_batch(b: argparse.ArgumentParser) -> None:
    b.add_argument("input", help="a folder, a glob, a list file (.txt: one path/URI a line) or a table (.csv, "
                   ".parquet, .jsonl with a path or uri column) of local paths or fsspec URIs (s3://, gs://, file://)")
    b.add_argument("output", help="the output dataset folder (local or mounted)")
    b.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine (default); ray: Ray Data on a cluster")
    b.add_argument("--address", help="--engine ray: the cluster (auto, HOST:PORT, ray://HOST:10001); default: a "
                   "private single-node cluster on 127.0.0.1, stopped at the end")
    b.add_argument("--workers", type=positive_int, help="worker processes / Ray actors (default: every CPU)")
    b.add_argument("--chunk", type=positive_int, default=8, help="inputs per task sent to a worker (default 8)")
    b.add_argument("--shard-size", type=positive_int, default=1000,
                   help="inputs per Parquet shard, rounded up to whole chunks (--chunk); also the most a "
                   "killed driver loses (default 1000)")
    b.add_argument("--column", help="the column of a table INPUT holding the paths (default: path or uri)")
    b.add_argument("--config", help="analyzer YAML config (see `ferx config`)")
    b.add_argument("--no-explain", action="store_true", help="skip the explanation stage (faster)")
    b.add_argument("--landmarks", action="store_true", help="add a landmarks column (478 × x,y,z per face)")
    b.add_argument("--video-every", type=positive_int, default=1, help="videos: analyse every Nth frame")
    b.add_argument("--video-fps", type=positive_float, help="videos: at most this many frames per second")
    b.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def batch(args: argparse.Namespace) -> int:
    """Run `ferx batch`; returns the exit status: 0 all done, 1 some inputs failed or a video ended
    early (listed in OUTPUT/errors/), 2 unusable OUTPUT or no inputs, 130/143 interrupted (run
    again to resume)."""
    from ferx.errors import NoImagesError
    from ferx.runs.dataset import run_dataset
    from ferx.runs.store import BulkError
    from ferx.runs.worker import RowOptions

    try:
        config = load_config(args)
        if args.no_explain:
            config.explain = None
        options = RowOptions(landmarks=args.landmarks, video_every=args.video_every, video_fps=args.video_fps)
        if args.address and args.engine != "ray":
            raise ConfigError("--address needs --engine ray")
        summary = run_dataset(args.input, args.output, config, options, engine=args.engine, workers=args.workers,
                              address=args.address, chunk=args.chunk, shard_size=args.shard_size,
                              column=args.column, quiet=args.quiet)
    except (BulkError, ConfigError, NoImagesError) as e:
        print(f"ferx: error: {e}", file=sys.stderr)
        return 2
    print(f"ferx batch: {summary.line()} → {args.output}", file=sys.stderr)
    if summary.status == "interrupted":
        print(f"ferx batch: interrupted by {summary.signal}; run the same command again to resume", file=sys.stderr)
    elif summary.status == "aborted":
        print(f"ferx batch: error: {summary.reason}; make room, then run the same command again to resume",
              file=sys.stderr)
    elif summary.failures:
        print(f"ferx batch: {summary.failures} input(s) failed or ended early; see {args.output}/errors/",
              file=sys.stderr)
    return summary.exit_code


def batch_main(argv: list[str] | None = None) -> int:
    """`python -m ferx.scale INPUT OUTPUT ...`: the same as `ferx batch`."""
    parser = argparse.ArgumentParser(prog="ferx batch")
    configure_batch(parser)
    return batch(parser.parse_args(argv))


__all__ = ["analyze", "analyze_config", "batch", "batch_main", "configure_batch", "register_analyze",
           "register_batch"]
