"""The output layouts of ferx's runs, described once: the runs write them from here, and `ferx report`
(and anything else that reads results) finds them from here.

    photos  (ferx analyze on images)        OUT/<rel>.json per image, faces.csv / faces.parquet (rows),
                                            annotated/, summary.json, config.yaml,
                                            .ferx-batch/run.json + done.jsonl (the resume ledger)
    video   (ferx analyze on a video)       OUT/<name>/rows.csv / rows.parquet, segments.jsonl,
                                            summary.json, timeline-overview/-track<ID>.png/.svg, annotated.mp4
    dataset (ferx batch)                    OUT/faces/*.parquet, errors/*.parquet, summary.json,
                                            _ferx/run.json + manifest.jsonl, staging/, lock

The rows of all three are ferx's one table (`ferx.table`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Layout:
    """Where one kind of run puts what.

    Attributes:
        kind: "photos", "video" or "dataset".
        state: folder of the run's own files (ledger, run.json), relative to the output folder.
        ledger: the resume ledger, relative to the output folder.
        rows: the rows files (CSV, Parquet) or folder, relative to the output folder.
        errors: where failed inputs are listed besides summary.json (dataset: a Parquet folder).
    """

    kind: str
    state: str
    ledger: str | None
    rows: tuple[str, ...]
    errors: str | None = None
    summary: str = "summary.json"
    config: str | None = None

    def run_json(self, out: Path) -> Path:
        return out / self.state / "run.json"


PHOTOS = Layout("photos", ".ferx-batch", ".ferx-batch/done.jsonl", ("faces.csv", "faces.parquet"),
                config="config.yaml")
VIDEO = Layout("video", ".", None, ("rows.csv", "rows.parquet"))
DATASET = Layout("dataset", "_ferx", "_ferx/manifest.jsonl", ("faces",), errors="errors")
#: files of a video run besides its rows
SEGMENTS = "segments.jsonl"
ANNOTATED_VIDEO = "annotated.mp4"
#: the folder of annotated photos
ANNOTATED = "annotated"


def kind_of(folder: Path) -> Layout | None:
    """The layout of a run's output folder (None: not one ferx wrote)."""
    if (folder / DATASET.ledger).is_file():  # type: ignore[operator]
        return DATASET
    if any((folder / name).is_file() for name in VIDEO.rows):
        return VIDEO
    if (folder / PHOTOS.ledger).is_file() or any((folder / name).is_file() for name in PHOTOS.rows):  # type: ignore[operator]
        return PHOTOS
    return None


@dataclass(frozen=True)
class Found:
    """What a results folder holds: its photo results, its video runs and its datasets."""

    photos: Path | None
    videos: tuple[Path, ...]
    datasets: tuple[Path, ...]


def find_runs(folder: Path) -> Found:
    """The runs in `folder`: the folder itself, or runs one level below it (a `ferx analyze` output
    holds its photos at the top and one folder per video)."""
    top = kind_of(folder)
    children = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    kinds = [(p, kind_of(p)) for p in children]
    return Found(
        photos=folder if top is PHOTOS or top is None else None,
        videos=tuple([folder] if top is VIDEO else [p for p, k in kinds if k is VIDEO]),
        datasets=tuple([folder] if top is DATASET else [p for p, k in kinds if k is DATASET]),
    )


def photo_ledger(folder: Path) -> list[dict[str, Any]] | None:
    """The lines of a photos run's ledger (one per finished image), None without a ledger."""
    path = folder / PHOTOS.ledger  # type: ignore[operator]
    if not path.is_file():
        return None
    from ferx.runs.ledger import JsonLog

    return [d for d in JsonLog(path).read() if isinstance(d, dict)]


def dataset_files(folder: Path, part: str) -> list[Path]:
    """The committed Parquet files of a dataset's `faces` or `errors`, in commit order."""
    from ferx.runs.ledger import JsonLog

    entries = JsonLog(folder / DATASET.ledger).read()  # type: ignore[operator]
    return [folder / rel for e in entries for rel in e.get("files", []) if rel.startswith(part + "/")]


def read_summary(folder: Path, name: str = "summary.json") -> dict[str, Any]:
    """summary.json (or another JSON object) of a run folder ({} when missing or unreadable)."""
    try:
        data = json.loads((folder / name).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


__all__ = ["ANNOTATED", "ANNOTATED_VIDEO", "DATASET", "PHOTOS", "SEGMENTS", "VIDEO", "Found", "Layout",
           "dataset_files", "find_runs", "kind_of", "photo_ledger", "read_summary"]
