"""Face-mesh landmarks for dataset face crops, computed once and cached by image content.

Training images (FER+, FER2013, RAF-DB aligned) are already face crops, so no detector runs: the
pipeline's mesh model gets the whole crop as the face box, upright, with an ROI of 1.2× the crop
(measured on 300 FER+ test crops: the mesh model confirmed a face in 88.7 % at 1.2×, 85.3 % at 1.0×,
82.7 % at the pipeline's 1.5×, 50 % at 2×), and returns 478 points in the crop's pixels. Results are stored by the
sha1 of each file's bytes in shard files under the cache folder, one shard per finished chunk, so
an interrupted run resumes where it stopped and identical images are computed once.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ferx.io import load_image
from ferx.types import Faces


def file_hash(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def _crop_faces(width: int, height: int) -> Faces:
    # the crop is the face: box = whole image, eyes level so the ROI is upright
    return Faces(
        boxes=[[0, 0, width, height]],
        scores=[1.0],
        keypoints=[[[0.3 * width, 0.4 * height], [0.7 * width, 0.4 * height], [0.5 * width, 0.6 * height],
                    [0.35 * width, 0.8 * height], [0.65 * width, 0.8 * height]]],
    )


#: ROI scale for whole-crop inputs (see the module docstring); part of the cache folder's name.
CROP_ROI_SCALE = 1.2


class LandmarkCache:
    """Content-addressed store of (478, 3) landmarks for face crops.

    Args:
        folder: where shard files live (created if needed).
        chunk: images per shard (the unit of resumption).
    """

    def __init__(self, folder: Path, chunk: int = 2048) -> None:
        self.folder = Path(folder) / f"mesh-roi{CROP_ROI_SCALE}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.chunk = chunk
        self._store: dict[str, np.ndarray] = {}
        for shard in sorted(self.folder.glob("shard-*.npz")):
            with np.load(shard) as z:
                for h, lm in zip(z["hashes"], z["landmarks"]):
                    self._store[str(h)] = lm

    def __len__(self) -> int:
        return len(self._store)

    def get(self, paths: Sequence[Path], *, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks for `paths`, computing the missing ones.

        Returns:
            (N, 478, 3) float32 landmarks in each image's pixels (NaN where the mesh model found no
            face), and (N,) bool: found.
        """
        hashes = [file_hash(p) for p in paths]
        missing = sorted({h: p for h, p in zip(hashes, paths) if h not in self._store}.items())
        if missing:
            self._compute(missing, progress)
        lms = np.stack([self._store[h].astype(np.float32) for h in hashes])
        return lms, ~np.isnan(lms).any(axis=(1, 2))

    def _compute(self, items: list[tuple[str, Path]], progress: bool) -> None:
        from ferx.pipeline import Analyzer  # registers backends
        from ferx.stages import LANDMARKERS

        del Analyzer
        landmarker = LANDMARKERS.create("mediapipe", roi_scale=CROP_ROI_SCALE)
        t0 = time.time()
        try:
            for start in range(0, len(items), self.chunk):
                part = items[start : start + self.chunk]
                out = np.full((len(part), 478, 3), np.nan, np.float16)
                for i, (_, path) in enumerate(part):
                    img = load_image(path)
                    faces = landmarker.process(img, _crop_faces(img.shape[1], img.shape[0]))
                    out[i] = faces.landmarks[0]
                # unique names: two processes may fill the same cache at once
                shard = self.folder / f"shard-{time.time_ns()}-{os.getpid()}.npz"
                np.savez(shard, hashes=np.array([h for h, _ in part]), landmarks=out)
                for (h, _), lm in zip(part, out):
                    self._store[h] = lm
                if progress:
                    done = min(start + self.chunk, len(items))
                    print(f"landmarks: {done}/{len(items)} new images, {time.time() - t0:.0f} s", file=sys.stderr)
        finally:
            landmarker.close()
