"""Deprecated name of `ferx.runs.photos` (the photo run of `ferx analyze`); kept so that code importing
`ferx.batch` keeps working. `run_batch` is `ferx.runs.photos.run_photos`."""

from __future__ import annotations

from ferx.assets import demo_image
from ferx.runs.photos import FORMATS, BatchError, BatchOptions, BatchSummary, printable
from ferx.runs.photos import run_photos as run_batch

__all__ = ["FORMATS", "BatchError", "BatchOptions", "BatchSummary", "demo_image", "printable", "run_batch"]
