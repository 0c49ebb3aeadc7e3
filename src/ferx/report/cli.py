"""`ferx report RESULTS_DIR [--out FILE] [--max-images N]`, and the `--report` switch of
`ferx analyze`. cli.py wires them: `add_arguments(subparsers)` adds the subcommand, `run(args)`
runs it; after a batch, `after_batch(out_dir)` writes OUT/report.html."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ferx.argtypes import positive_int

COMMAND = "report"


def add_arguments(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `report` subcommand to an argparse subparsers object."""
    from ferx.report.build import MAX_IMAGES

    p = subparsers.add_parser(COMMAND, help="write a self-contained HTML report of an earlier run",
                              description="Write one HTML file (opens offline) showing every analysed image: "
                              "annotated image, expression and AU charts, chain of thought and heatmaps per face, "
                              "a sortable table of all faces, and per-track timelines for video results.")
    p.add_argument("results", help="output folder of `ferx analyze` (or of a video run)")
    p.add_argument("--out", help="report file (default RESULTS/report.html)")
    p.add_argument("--max-images", type=positive_int, default=MAX_IMAGES,
                   help=f"images shown in full; the table lists all (default {MAX_IMAGES})")
    return p


def add_report_flag(analyze_parser: argparse.ArgumentParser) -> None:
    """Add `--report` to the `ferx analyze` parser."""
    analyze_parser.add_argument("--report", action="store_true",
                                help="also write OUT/report.html, a self-contained HTML report of the run")


def register(subparsers: Any) -> None:
    """Add the subcommand; its parser runs `run`."""
    add_arguments(subparsers).set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run `ferx report`; 0 on success, 2 when the folder holds no results or matplotlib is missing."""
    try:
        from ferx.report.build import ReportError, write_report
    except ModuleNotFoundError as e:
        return _missing(e)
    try:
        path = write_report(args.results, args.out, max_images=args.max_images)
    except ModuleNotFoundError as e:
        return _missing(e)
    except ReportError as e:
        print(f"ferx: error: {e}", file=sys.stderr)
        return 2
    print(f"ferx: report → {path}", file=sys.stderr)
    return 0


def after_batch(out: str | Path) -> int:
    """Called by `ferx analyze --report` after the batch: writes OUT/report.html. Returns 0, or 1
    when the report could not be written (the batch's own results stay as they are)."""
    try:
        from ferx.report.build import ReportError, report_for_batch

        path = report_for_batch(out)
    except ModuleNotFoundError as e:
        _missing(e)
        return 1
    except (ReportError, OSError) as e:
        print(f"ferx: error: no report: {e}", file=sys.stderr)
        return 1
    print(f"ferx: report → {path}", file=sys.stderr)
    return 0


def _missing(e: ModuleNotFoundError) -> int:
    print(f"ferx: error: reports need matplotlib ({e.name} is missing): pip install 'ferx[report]'", file=sys.stderr)
    return 2


__all__ = ["COMMAND", "add_arguments", "add_report_flag", "after_batch", "register", "run"]
