"""The box cache: where the two-stage pipeline finds the face in each lfw-expressions photo, and where
its box sits in a 48×48 FER+ frame (so both face sources are boxed alike). Computed once (≈ 2 min)
with `python -m ferx.train.onepass.data boxes CONFIG`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ferx.data.readers import open_dataset


def cache_boxes(lfw: str, ferplus: str, out: str | Path, progress: bool = True, ferplus_samples: int = 300,
                limit: int = 0) -> dict:
    """Run the two-stage pipeline (detector + landmark confirmation) over every lfw-expressions
    photo, and over upscaled FER+ test faces to measure where its box sits in a 48×48 FER+ frame.

    Writes JSON: {"lfw": {image: {"boxes": [[x1,y1,x2,y2], ...], "keypoints": [...]}},
    "ferplus_box": [x1, y1, x2, y2] (in the 48-px frame), "keypoint_template": (5, 2) keypoints
    relative to the box (x from x1 in box widths, y from y1 in box heights)}.
    """
    from tqdm import tqdm

    from ferx.pipeline import Analyzer

    ds = open_dataset(f"lfw-expressions:{lfw}")
    # no tighter boxes for tight crops (2026-12-07): a box the retry makes up is no detection to learn
    result: dict[str, Any] = {"lfw": {}, "pipeline": "ferx.Analyzer(aus=None, expression=None, explain=None, "
                                                     "tight_crop_boxes=False)"}
    rel_kp = []
    with Analyzer(aus=None, expression=None, explain=None, tight_crop_boxes=False) as analyzer:
        for s in tqdm(ds.samples[: limit or None], desc="lfw boxes", disable=not progress, file=sys.stderr):
            faces = analyzer.analyze(s.path).faces
            result["lfw"][s.path.name] = {
                "boxes": np.round(faces.boxes, 2).tolist(), "scores": np.round(faces.scores, 4).tolist(),
                "keypoints": np.round(faces.keypoints, 2).tolist(),
            }
            if len(faces) == 1:
                b, k = faces.boxes[0], faces.keypoints[0]
                rel_kp.append((k - b[:2]) / (b[2:] - b[:2]))
        fer = open_dataset(f"ferplus:{ferplus}", "test")
        rel_boxes = []
        for s in fer.samples[:ferplus_samples]:
            img = np.asarray(Image.open(s.path).convert("L").resize((192, 192), Image.BICUBIC))
            canvas = np.full((384, 384), 128, np.uint8)
            canvas[96:288, 96:288] = img
            faces = analyzer.analyze(np.repeat(canvas[..., None], 3, axis=2)).faces
            if len(faces) == 1:
                rel_boxes.append((faces.boxes[0] - 96) / 4.0)
    result["ferplus_box"] = np.median(np.array(rel_boxes), axis=0).round(2).tolist()
    result["ferplus_box_found"] = f"{len(rel_boxes)} of {min(ferplus_samples, len(fer.samples))}"
    result["keypoint_template"] = np.median(np.array(rel_kp), axis=0).round(4).tolist()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result))
    return result


def load_box_cache(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"{p}: no cached lfw-expressions boxes; make them with `python -m ferx.train.onepass.data boxes CONFIG` (or --out {p})")
    return json.loads(p.read_text())
