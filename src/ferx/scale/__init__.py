"""Batch annotation at scale (`ferx batch`): huge collections of images and videos into a sharded
Parquet dataset, exactly once and resumable, on a local process pool or a Ray cluster.
See docs/batch.md.

    from ferx.scale import run_bulk
    summary = run_bulk("photos/", "out.parquet.d", engine="local")

Ray, pyarrow and fsspec are imported only by the code that needs them.
"""

from __future__ import annotations

from ferx.scale.rows import RowOptions
from ferx.scale.run import BulkSummary, run_bulk
from ferx.scale.store import BulkError

__all__ = ["BulkError", "BulkSummary", "RowOptions", "run_bulk"]
