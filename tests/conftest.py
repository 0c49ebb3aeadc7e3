"""Shared fixtures. Real data comes from ../shared/data (override with FERX_SHARED_DATA)."""

from __future__ import annotations

import csv
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FERX_SHARED_DATA", ROOT.parent / "shared" / "data"))
LFW = SHARED / "lfw-expressions"


def lfw_rows() -> list[dict[str, str]]:
    if not (LFW / "labels.csv").exists():
        pytest.skip(f"lfw-expressions not found at {LFW} (set FERX_SHARED_DATA)")
    with open(LFW / "labels.csv") as f:
        return list(csv.DictReader(f))


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """`folder` as a tmpfs of `size` (a real full disk) for the block; skips where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True,
                       text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def lfw_paths(emotion: str, n: int, *, offset: int = 0) -> list[Path]:
    """The first n photos labelled `emotion` in file order (deterministic)."""
    rows = [r for r in lfw_rows() if r["emotion"] == emotion]
    return [LFW / "images" / r["image"] for r in rows[offset : offset + n]]


@pytest.fixture(scope="session")
def analyzer():
    from ferx import Analyzer

    with Analyzer() as a:
        yield a


#: A decision rule that weighs the AU evidence in (the weight, gate and margin shipped until 2026-12-07's
#: ninth session, now a user's option; the flag's agreement condition applies to it too): where the
#: classifier is under 50 % sure the AU evidence can change its label.
WEIGHED_RULE = {"name": "cot", "options": {"au_weight": 0.3, "classifier_sure": 0.5, "uncertain_margin": 0.05}}


@pytest.fixture(scope="session")
def weighed_analyzer():
    """An analyzer whose explanations can conclude another label than the classifier (`WEIGHED_RULE`)."""
    from ferx import Analyzer

    with Analyzer(explain=WEIGHED_RULE) as a:
        yield a


@pytest.fixture(scope="session")
def happy_photo() -> Path:
    return lfw_paths("happiness", 1)[0]


@pytest.fixture(scope="session")
def face_refs(analyzer):
    """(photo RGB, face box) for 40 single-face lfw photos, for composing group images."""
    from ferx.data.mosaic import single_faces

    return single_faces(analyzer, [LFW / "images" / row["image"] for row in lfw_rows()[::37]], 40)


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def centred_face(image: np.ndarray, boxes: np.ndarray) -> int | None:
    """Index of the first box near the centre of a face-centred, face-filling photo (lfw), if any."""
    h, w = image.shape[:2]
    for i, b in enumerate(boxes):
        if abs((b[0] + b[2]) / 2 - w / 2) < w / 4 and b[2] - b[0] > w / 4:
            return i
    return None
