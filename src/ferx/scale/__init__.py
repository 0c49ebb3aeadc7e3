"""Deprecated name of the `ferx batch` run, now `ferx.runs.dataset` (a configuration of the one run
driver, `ferx.runs`); kept so that code importing `ferx.scale` keeps working. See docs/batch.md.

    from ferx.runs.dataset import run_dataset
    summary = run_dataset("photos/", "out.parquet.d", engine="local")
"""

from __future__ import annotations

from ferx.runs.dataset import BulkSummary
from ferx.runs.dataset import run_dataset as run_bulk
from ferx.runs.store import BulkError
from ferx.runs.worker import RowOptions

__all__ = ["BulkError", "BulkSummary", "RowOptions", "run_bulk"]
