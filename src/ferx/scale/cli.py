"""Deprecated: `ferx batch`'s command line is `ferx.runs.cli` (`register_batch`, `batch`); kept for
`python -m ferx.scale` and code importing `ferx.scale.cli`."""

from __future__ import annotations

from ferx.runs.cli import batch as run
from ferx.runs.cli import batch_main as main
from ferx.runs.cli import configure_batch as configure_parser
from ferx.runs.cli import register_batch as add_arguments

__all__ = ["add_arguments", "configure_parser", "main", "run"]
