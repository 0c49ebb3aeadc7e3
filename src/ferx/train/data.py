"""Training tensors for face-crop datasets: grey 48×48 crops, labels, soft labels, AU heatmaps.

Everything is decoded once into memory (FER+ train: 25k × 48 × 48 bytes ≈ 58 MB, heatmaps in
float16 ≈ 115 MB), so an epoch costs only the network. Augmentation runs on whole batches in torch
(`augment`): horizontal flip and a small random affine move image and heatmap together (so the
heatmap stays on the mirrored AUs), random erasing touches the image only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ferx.data.landmark_cache import LandmarkCache
from ferx.data.readers import Dataset
from ferx.heatmaps import expression_heatmap

SIZE = 48


@dataclass
class CropTensors:
    """A split in memory.

    Attributes:
        images: (N, 1, 48, 48) uint8.
        labels: (N,) int64 index into `label_set`.
        soft: (N, C) float32 target distributions (one-hot where the dataset has none).
        heatmaps: (N, 48, 48) float16 AU heatmaps (zeros where `has_heatmap` is False).
        has_heatmap: (N,) bool — False for neutral and for crops without landmarks.
        label_set: label names.
        no_landmarks: how many crops the mesh model found no face in (no alignment loss for them).
    """

    images: torch.Tensor
    labels: torch.Tensor
    soft: torch.Tensor
    heatmaps: torch.Tensor
    has_heatmap: torch.Tensor
    label_set: tuple[str, ...]
    no_landmarks: int

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def load_crops(dataset: Dataset, cache_dir: Path, *, progress: bool = True) -> CropTensors:
    """Decode a dataset's crops to 48×48 grey and build their label-specific AU heatmaps."""
    paths = [s.path for s in dataset.samples]
    images = np.stack([_grey48(p) for p in paths])
    landmarks, found = LandmarkCache(cache_dir).get(paths, progress=progress)
    index = {lab: i for i, lab in enumerate(dataset.label_set)}
    labels = np.array([index[s.label] for s in dataset.samples], np.int64)
    soft = np.zeros((len(paths), len(dataset.label_set)), np.float32)
    for i, s in enumerate(dataset.samples):
        if s.soft is not None and len(s.soft) == len(dataset.label_set):
            soft[i] = s.soft
        else:
            soft[i, labels[i]] = 1.0
    heatmaps = np.zeros((len(paths), SIZE, SIZE), np.float16)
    has = np.zeros(len(paths), bool)
    for i, (s, lm) in enumerate(zip(dataset.samples, landmarks)):
        if not found[i]:
            continue
        h, w = Image.open(s.path).size[::-1]
        scaled = lm[:, :2] * np.array([SIZE / w, SIZE / h], np.float32)
        m = expression_heatmap(scaled, s.label, (SIZE, SIZE))
        if m is not None:
            heatmaps[i] = m
            has[i] = True
    return CropTensors(
        images=torch.from_numpy(images[:, None]),
        labels=torch.from_numpy(labels),
        soft=torch.from_numpy(soft),
        heatmaps=torch.from_numpy(heatmaps),
        has_heatmap=torch.from_numpy(has),
        label_set=dataset.label_set,
        no_landmarks=int((~found).sum()),
    )


def _grey48(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        g = im.convert("L")
        if g.size != (SIZE, SIZE):
            g = g.resize((SIZE, SIZE), Image.BILINEAR)
        return np.asarray(g, np.uint8)


def augment(
    images: torch.Tensor,
    heatmaps: torch.Tensor,
    generator: torch.Generator,
    *,
    max_rotate: float = 10.0,
    max_scale: float = 0.1,
    max_shift: float = 0.08,
    erase_p: float = 0.25,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch augmentation: images (B, 1, H, W) float, heatmaps (B, H, W) float."""
    b = images.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=generator)

    flip = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0)
    angle = uniform(-max_rotate, max_rotate) * math.pi / 180
    scale = 1.0 + uniform(-max_scale, max_scale)
    tx, ty = uniform(-max_shift, max_shift) * 2, uniform(-max_shift, max_shift) * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, padding_mode="border", align_corners=False)
    heatmaps = F.grid_sample(heatmaps[:, None], grid, padding_mode="zeros", align_corners=False)[:, 0]
    # random erasing (Zhong et al. 2020): one rectangle of 2–20 % of the area, image only
    h, w = images.shape[2:]
    erase = torch.rand(b, generator=generator) < erase_p
    for i in torch.nonzero(erase).flatten().tolist():
        area = float(uniform(0.02, 0.2)[0]) * h * w
        ratio = math.exp(float(uniform(math.log(0.3), math.log(3.3))[0]))
        eh, ew = min(h, int(round(math.sqrt(area * ratio)))), min(w, int(round(math.sqrt(area / ratio))))
        y0 = int(torch.randint(0, h - eh + 1, (1,), generator=generator))
        x0 = int(torch.randint(0, w - ew + 1, (1,), generator=generator))
        images[i, :, y0 : y0 + eh, x0 : x0 + ew] = torch.rand(1, generator=generator) * 2 - 1
    return images, heatmaps
