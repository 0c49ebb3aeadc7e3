"""`ferx batch INPUT OUTPUT`: the command line of `ferx.scale`. `ferx.cli` adds it with
`add_arguments(subparsers)` and dispatches `args.command == "batch"` to `run(args)`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ferx.argtypes import positive_float, positive_int
from ferx.config import AnalyzerConfig


def add_arguments(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `batch` subcommand to an argparse subparsers object; returns its parser."""
    b = subparsers.add_parser(
        "batch", help="annotate a large collection into a Parquet dataset (resumable; local processes or Ray)",
        description="Analyse every image and video frame of INPUT into the Parquet dataset OUTPUT: one row per "
                    "face, one per image or frame without a face, failures in OUTPUT/errors/. Running the same "
                    "command again resumes: inputs already in OUTPUT are skipped, nothing is written twice.")
    configure_parser(b)
    return b


def configure_parser(b: argparse.ArgumentParser) -> None:
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
                   help="inputs per Parquet shard, also the most a killed driver loses (default 1000)")
    b.add_argument("--column", help="the column of a table INPUT holding the paths (default: path or uri)")
    b.add_argument("--config", help="analyzer YAML config (see `ferx config`)")
    b.add_argument("--no-explain", action="store_true", help="skip the explanation stage (faster)")
    b.add_argument("--landmarks", action="store_true", help="add a landmarks column (478 × x,y,z per face)")
    b.add_argument("--video-every", type=positive_int, default=1, help="videos: analyse every Nth frame")
    b.add_argument("--video-fps", type=positive_float, help="videos: at most this many frames per second")
    b.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run `ferx batch`; returns the exit status: 0 all done, 1 some inputs failed (listed in
    OUTPUT/errors/), 2 unusable OUTPUT or no inputs, 130/143 interrupted (run again to resume)."""
    from ferx.errors import ConfigError, NoImagesError
    from ferx.runs.dataset import run_dataset
    from ferx.runs.store import BulkError
    from ferx.runs.worker import RowOptions

    try:
        config = AnalyzerConfig.from_yaml(Path(args.config)) if args.config else AnalyzerConfig()
        if args.no_explain:
            config.explain = None
        options = RowOptions(landmarks=args.landmarks, video_every=args.video_every, video_fps=args.video_fps)
        if args.address and args.engine != "ray":
            raise ConfigError("--address needs --engine ray")
        summary = run_dataset(args.input, args.output, config, options, engine=args.engine, workers=args.workers,
                           address=args.address, chunk=args.chunk, shard_size=args.shard_size, column=args.column,
                           quiet=args.quiet)
    except (BulkError, ConfigError, NoImagesError) as e:
        print(f"ferx: error: {e}", file=sys.stderr)
        return 2
    print(f"ferx batch: {summary.line()} → {args.output}", file=sys.stderr)
    if summary.status == "interrupted":
        print(f"ferx batch: interrupted by {summary.signal}; run the same command again to resume", file=sys.stderr)
    elif summary.failed:
        print(f"ferx batch: {summary.failed} input(s) failed; see {args.output}/errors/", file=sys.stderr)
    return summary.exit_code


def main(argv: list[str] | None = None) -> int:
    """`python -m ferx.scale INPUT OUTPUT ...` (the same as `ferx batch` before it is wired into ferx.cli)."""
    parser = argparse.ArgumentParser(prog="ferx batch")
    configure_parser(parser)
    return run(parser.parse_args(argv))


__all__ = ["add_arguments", "main", "run"]
