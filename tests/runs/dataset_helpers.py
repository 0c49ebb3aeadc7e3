"""Reading a `ferx batch` dataset back in tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ferx.runs.worker import RowOptions

#: videos are sampled at 5 frames per second in the tests (12 frames of the 2.4 s clip)
OPTIONS = RowOptions(video_fps=5.0)


def faces_frame(out: Path) -> Any:
    """The faces table, sorted so that two runs can be compared row for row."""
    import pyarrow.parquet as pq

    df = pq.read_table(out / "faces").to_pandas()
    return df.sort_values(["source", "frame", "face"], na_position="first").reset_index(drop=True)


def errors_frame(out: Path) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(out / "errors").to_pandas().sort_values("source").reset_index(drop=True)


def rows_per_source(df: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in df.groupby("source").size().items()}
