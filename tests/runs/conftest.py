"""The runs' tests use the video fixtures (real clips, scenes composed from real photos), and a small
real collection for `ferx batch`: FER+ crops and LFW photos from ../shared/data, one real
video, and planted bad files, in a temporary folder shared by the tests of this package."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ferx.runs.dataset import run_dataset
from tests.video.conftest import people, scenes  # noqa: F401  (pytest fixtures)
from tests.conftest import SHARED
from tests.runs.dataset_helpers import OPTIONS

FERPLUS = SHARED / "ferplus" / "FER2013Valid"
LFW_IMAGES = SHARED / "lfw-expressions" / "images"
VIDEO = SHARED / "videos" / "single_face.mp4"
#: the planted files that cannot be analysed, by name
BAD = ("truncated.jpg", "notes.jpg", "empty.png", "moved.jpg")


@pytest.fixture(scope="session")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 FER+ crops + 40 LFW photos (some FER+ crops have no detectable face), a 2.4 s video,
    and 4 bad files: a JPEG cut after 400 bytes, a text file named .jpg, an empty .png, a broken link."""
    if not FERPLUS.is_dir() or not LFW_IMAGES.is_dir():
        pytest.skip(f"shared data not found at {SHARED} (set FERX_SHARED_DATA)")
    root = tmp_path_factory.mktemp("collection")
    (root / "ferplus").mkdir()
    (root / "lfw").mkdir()
    for p in sorted(FERPLUS.glob("*.png"))[:100]:
        shutil.copy(p, root / "ferplus" / p.name)
    lfw = sorted(LFW_IMAGES.glob("*.jpg"))[:40]
    for p in lfw:
        shutil.copy(p, root / "lfw" / p.name)
    if VIDEO.exists():
        shutil.copy(VIDEO, root / "clip.mp4")
    (root / "bad").mkdir()
    (root / "bad" / "truncated.jpg").write_bytes(lfw[0].read_bytes()[:400])
    (root / "bad" / "notes.jpg").write_text("not an image\n")
    (root / "bad" / "empty.png").write_bytes(b"")
    (root / "bad" / "moved.jpg").symlink_to(root / "gone.jpg")  # a link into a moved library
    return root


@pytest.fixture(scope="session")
def reference(collection: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted local run over the collection (2 workers): what every other run must equal."""
    out = tmp_path_factory.mktemp("reference") / "ds"
    summary = run_dataset(str(collection), out, options=OPTIONS, workers=2, shard_size=50)
    assert summary.status == "complete"
    return out
