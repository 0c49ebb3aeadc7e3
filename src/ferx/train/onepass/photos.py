"""Real photographs for the one-pass detector's measures: the whole lfw-expressions photos of one
split's identities, one reference face each (the two-stage pipeline's box from the box cache; the
dataset's label), as the stage sees them — letterboxed top-left into its 640-px input, not enlarged.

Used by validation during training (`DetectorTrainConfig.val_photos`: face recall, label accuracy
and macro-recall of found faces on the validation identities' close-ups, every epoch) and by
`benchmarks/bench_onepass.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ferx.detect.onepass_decode import image_detections, letterbox
from ferx.facs import EXPRESSIONS
from ferx.train.harness import normalise
from ferx.train.onepass.data.boxes import load_box_cache
from ferx.train.onepass.data.mosaics import MosaicConfig, face_refs
from ferx.train.onepass.evaluate import Prediction, found_labels, label_figures, operating_points

#: the exported models' input side (`ferx.train.onepass.export`), which the stage letterboxes into
STAGE_SIZE = 640


@dataclass
class PhotoSet:
    """Whole photographs with one reference face each: grey images, (1, 4) boxes, (1,) labels, file names."""

    images: list[np.ndarray]
    boxes: list[np.ndarray]
    labels: list[np.ndarray]
    files: list[str]


def photo_set(data: MosaicConfig, identities: str) -> PhotoSet:
    """lfw-expressions photos of one split's identities ("train", "val", "test") in which the two-stage
    pipeline found exactly one face — the faces that split's mosaics draw from."""
    lfw, _ = face_refs(data, identities, load_box_cache(data.box_cache))
    return PhotoSet([np.asarray(Image.open(r.path).convert("L")) for r in lfw],
                    [np.array([r.box], np.float32) for r in lfw], [np.array([r.label]) for r in lfw],
                    [Path(r.path).name for r in lfw])


@torch.no_grad()
def predict_photos_torch(model: torch.nn.Module, photos: PhotoSet, conf: float, nms_iou: float,
                         device: torch.device, size: int = STAGE_SIZE, batch: int = 8) -> list[Prediction]:
    """A torch model's detections on whole photos, letterboxed as the stage does (not enlarged)."""
    model.eval()
    out: list[Prediction] = []
    for s in range(0, len(photos.images), batch):
        chunk = photos.images[s : s + batch]
        boxed = [letterbox(np.ascontiguousarray(g, np.uint8), size, upscale=False) for g in chunk]
        x = normalise(torch.from_numpy(np.stack([c for c, _ in boxed]))[:, None]).to(device)
        maps = [m.float().cpu().numpy() for m in model(x)]
        for i, (grey, (_, scale)) in enumerate(zip(chunk, boxed)):
            one = [m[i : i + 1] for m in maps]
            out.append(Prediction(*image_detections(one, size, scale, grey.shape, conf, nms_iou)))
    return out


def photo_figures(preds: list[Prediction], photos: PhotoSet, conf: float) -> dict[str, Any]:
    """At face score ≥ conf: faces found (IoU ≥ 0.5), false boxes per photo, the labels of the found
    faces (`label_figures`: accuracy, per-label recall, macro-recall) and of all faces, a face not
    found counting as wrong (`labels_of_all`: what a user gets from the photos)."""
    point = operating_points(preds, photos.boxes, photos.labels, [conf])[0]
    true, pred = found_labels(preds, photos.boxes, photos.labels, conf, unfound=-1)
    found = pred >= 0
    return {"photos": len(photos.images), "conf": conf, "found": point["recall"],
            "false_per_photo": point["false_per_image"], "precision": point["precision"],
            "labels": label_figures(true[found], pred[found], EXPRESSIONS),
            "labels_of_all": label_figures(true, pred, EXPRESSIONS)}


#: group composites: (columns, rows) of the photo grid, cycled through in this order
GROUP_LAYOUTS = ((2, 1), (3, 1), (2, 2), (3, 2), (3, 3))


def group_set(photos: PhotoSet, size: int = STAGE_SIZE, seed: int = 0) -> PhotoSet:
    """Group pictures made of the photos: each used once, side by side in a grid (2, 3, 4, 6 or 9
    photos, `GROUP_LAYOUTS` in turn) on a size × size mid-grey canvas, each scaled to fit its cell
    and centred in it, so faces keep their photo's context and are never cut (faces of ≈ 180–280 px
    at 640). The photos' order is shuffled by `seed`; boxes and labels follow their photos."""
    order = np.random.default_rng(seed).permutation(len(photos.images))
    out = PhotoSet([], [], [], [])
    start, k = 0, 0
    while start < len(order):
        cols, rows = GROUP_LAYOUTS[k % len(GROUP_LAYOUTS)]
        members = order[start : start + cols * rows]
        start, k = start + len(members), k + 1
        canvas = np.full((size, size), 128, np.uint8)
        boxes, labels = [], []
        cw, ch = size // cols, size // rows
        for slot, i in enumerate(members):
            grey = photos.images[i]
            scale = min(cw / grey.shape[1], ch / grey.shape[0])
            w, h = max(1, int(grey.shape[1] * scale)), max(1, int(grey.shape[0] * scale))
            x0 = (slot % cols) * cw + (cw - w) // 2
            y0 = (slot // cols) * ch + (ch - h) // 2
            canvas[y0 : y0 + h, x0 : x0 + w] = np.asarray(Image.fromarray(grey).resize((w, h), Image.LANCZOS))
            sx, sy = w / grey.shape[1], h / grey.shape[0]
            boxes.append(photos.boxes[i] * np.array([sx, sy, sx, sy], np.float32) + np.array([x0, y0, x0, y0], np.float32))
            labels.append(photos.labels[i])
        out.images.append(canvas)
        out.boxes.append(np.concatenate(boxes).astype(np.float32))
        out.labels.append(np.concatenate(labels))
        out.files.append("+".join(photos.files[i] for i in members))
    return out
