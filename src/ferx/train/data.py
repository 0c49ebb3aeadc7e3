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
    images = np.stack([grey48(p) for p in paths])
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


def grey48(path: Path) -> np.ndarray:
    """A face-crop image file as (48, 48) uint8 grey (resized when it is another size)."""
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


# -- photometric augmentation that imitates other datasets ---------------------------------------------
def domain_augment(
    images: torch.Tensor,
    generator: torch.Generator,
    *,
    p: float = 0.5,
    gamma: tuple[float, float] = (0.6, 1.6),
    contrast: tuple[float, float] = (0.6, 1.3),
    blur_sigma: tuple[float, float] = (0.3, 1.2),
    rescale: tuple[float, float] = (0.35, 0.8),
    jpeg_quality: tuple[int, int] = (15, 60),
) -> torch.Tensor:
    """What separates FER+ crops from faces out of other cameras, applied to pixel values in 0..255.

    Each of gamma, contrast, Gaussian blur, down-then-up scaling and JPEG re-encoding happens to an
    image with probability `p`, independently. Photos of other datasets are sharper or blurrier,
    lit differently and compressed differently than FER2013's 48×48 web crops; the geometric part
    (`augment`) is separate because it must move the heatmaps too.

    Args:
        images: (B, 1, H, W) float in 0..255 (uint8 is converted).
        generator: the run's torch generator (so a resumed run draws the same).
    Returns:
        (B, 1, H, W) float in 0..255.
    """
    x = images.float().clone()
    b, _, h, w = x.shape

    def draw(lo: float, hi: float, n: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    def chosen() -> torch.Tensor:
        return torch.nonzero(torch.rand(b, generator=generator) < p).flatten()

    idx = chosen()  # gamma: exposure curves of other cameras
    if len(idx):
        g = torch.exp(draw(math.log(gamma[0]), math.log(gamma[1]), len(idx)))[:, None, None, None]
        x[idx] = 255.0 * (x[idx] / 255.0).clamp(min=0) ** g
    idx = chosen()  # contrast about the image mean
    if len(idx):
        c = draw(*contrast, len(idx))[:, None, None, None]
        m = x[idx].mean(dim=(1, 2, 3), keepdim=True)
        x[idx] = (m + c * (x[idx] - m)).clamp(0, 255)
    idx = chosen()  # Gaussian blur, one sigma per image
    if len(idx):
        sig = draw(*blur_sigma, len(idx))
        r = 3
        t = torch.arange(-r, r + 1, dtype=torch.float32)
        k = torch.exp(-(t[None] ** 2) / (2 * sig[:, None] ** 2))
        k = k / k.sum(1, keepdim=True)  # (n, 7)
        y = x[idx].transpose(0, 1)  # (1, n, H, W): one group per image
        y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), k[:, None, None, :], groups=len(idx))
        y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), k[:, None, :, None], groups=len(idx))
        x[idx] = y.transpose(0, 1)
    idx = chosen()  # low resolution: down-scale, then back up (small faces in large photos)
    for i in idx.tolist():
        s = float(draw(*rescale, 1)[0])
        small = F.interpolate(x[i : i + 1], size=(max(8, round(h * s)), max(8, round(w * s))), mode="area")
        x[i : i + 1] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    idx = chosen()  # JPEG blocks and ringing
    if len(idx):
        import io

        for i in idx.tolist():
            q = int(torch.randint(jpeg_quality[0], jpeg_quality[1] + 1, (1,), generator=generator))
            buf = io.BytesIO()
            Image.fromarray(x[i, 0].clamp(0, 255).round().to(torch.uint8).numpy()).save(buf, "JPEG", quality=q)
            buf.seek(0)
            with Image.open(buf) as im:
                x[i, 0] = torch.from_numpy(np.asarray(im.convert("L"), np.float32))
    return x.clamp(0, 255)


# -- photos as a second validation set ------------------------------------------------------------------
@dataclass
class PhotoCrops:
    """Faces of a photo dataset, framed as the analyzer frames them for the classifier.

    Attributes:
        images: (N, 1, 48, 48) uint8 aligned grey crops (`ferx.facecrop`) of each photo's largest face.
        labels: (N,) int64 index into `label_set`.
        label_set: label names.
        missed: photos in which the analyzer found no face (not in `images`).
        paths: the photo of each crop (so a crop can be found again, e.g. for a face pasted in a mosaic).
    """

    images: torch.Tensor
    labels: torch.Tensor
    label_set: tuple[str, ...]
    missed: int
    paths: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.labels.shape[0])


#: Bump when the photo → crop path or the cache's contents change, so cached crops are rebuilt
#: (2: each crop's photo path is stored).
PHOTO_CROPS_VERSION = 2


def load_photo_crops(dataset: Dataset, cache_dir: Path, *, progress: bool = True) -> PhotoCrops:
    """Run the analyzer's detector and face mesh on every photo and crop its largest face as the
    `onnx-classifier` stage does, so a model can be validated during training on the faces it will
    see in use. Cached in `cache_dir` by the photos' paths, sizes and modification times."""
    import hashlib
    import json

    from ferx.facecrop import aligned_crop

    key = hashlib.sha256(json.dumps(
        [PHOTO_CROPS_VERSION] + [[str(s.path), s.label, *_stat(s.path)] for s in dataset.samples]).encode()
    ).hexdigest()[:16]
    path = Path(cache_dir) / f"photo-crops-{key}.npz"
    if path.exists():
        with np.load(path) as z:
            images, labels, missed, paths = z["images"], z["labels"], int(z["missed"]), tuple(z["paths"].tolist())
    else:
        import io

        from tqdm import tqdm

        from ferx.fsutil import atomic_write_bytes
        from ferx.io import load_image
        from ferx.train import dataset_analyzer

        index = {lab: i for i, lab in enumerate(dataset.label_set)}
        crops, labs, kept, missed = [], [], [], 0
        with dataset_analyzer() as analyzer:  # as the shipped classifiers' training faces were found
            for s in tqdm(dataset.samples, desc=f"photo crops {dataset.name}", disable=not progress):
                rgb = load_image(s.path)
                faces = analyzer.analyze(rgb).faces
                if not len(faces) or not faces.has_landmarks.any():
                    missed += 1
                    continue
                area = (faces.boxes[:, 2] - faces.boxes[:, 0]) * (faces.boxes[:, 3] - faces.boxes[:, 1])
                k = int(np.argmax(np.where(faces.has_landmarks, area, -1)))
                grey = Image.fromarray(rgb).convert("L")
                crops.append(aligned_crop(grey, faces.landmarks[k]))
                labs.append(index[s.label])
                kept.append(str(s.path))
        images = np.stack(crops)[:, None] if crops else np.zeros((0, 1, SIZE, SIZE), np.uint8)
        labels, paths = np.array(labs, np.int64), tuple(kept)
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez_compressed(buf, images=images, labels=labels, missed=np.array(missed), paths=np.array(paths, dtype=str))
        atomic_write_bytes(path, buf.getvalue())
    return PhotoCrops(torch.from_numpy(images), torch.from_numpy(labels), dataset.label_set, missed, paths)


def _stat(path: Path) -> tuple[int, int]:
    st = Path(path).stat()
    return st.st_size, st.st_mtime_ns
