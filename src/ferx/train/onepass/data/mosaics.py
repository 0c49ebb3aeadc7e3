"""The mosaic builder: faces of one split placed on canvases, with their boxes and labels.

Two kinds of mosaic, converted to grey:
  * scene (probability `scene_share`): the canvas is cut into a jittered n×n grid (n ≤ `grid_max`);
    each cell shows a whole lfw-expressions photo scaled so its face has a log-uniform size and
    placed so the face lies entirely inside the cell (faces are never cut), or — with probability
    `negative_share` — a crop of a face-free photograph (`negatives`: scikit-image's bundled
    photos of bricks, grass, coffee, coins, a cat, a rocket, text…). A detector trained only on
    faces pasted over synthetic texture fires on real clutter (26 boxes on the bundled astronaut
    portrait, 25 false); these cells are its hard negatives, and the photo edges its rectangles.
  * paste: a background (synthetic texture with clutter, or with probability
    `real_background_share` an enlarged crop of a face-free photograph) with tight face crops of both
    sources pasted at log-uniform sizes, blended in with feathered edges (`ferx.data.mosaic.compose`).
  * photo (probability `photo_share`, issue 26): one whole photo at the size users' close-ups have —
    its face 64 px to nearly the whole canvas — either top-left on the letterbox's grey (as the
    stage shows a photo smaller than its input) or anywhere over clutter, cropped where it is larger
    than the canvas (the face never cut). lfw-expressions faces fill 280–340 px of their 350-px photos;
    the scenes' 90 %-of-a-cell cap kept every training face below that.
Options added by issue 26 (all off by default, so older configs make the same mosaics): `balance`
draws faces label-balanced, `fer_upscale_share` shows FER+ images enlarged into scene cells and
photo canvases (their own 48-px frame as the context) instead of only as pasted tiles.
Everything follows from `MosaicConfig.seed`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ferx.data.mosaic import background, compose
from ferx.data.readers import identity_split, open_dataset
from ferx.detect.onepass_decode import PAD_VALUE
from ferx.errors import ConfigError
from ferx.facs import EXPRESSIONS
from ferx.train.onepass.data.negatives import negative_pool, negative_region

FORMAT_VERSION = 1
#: Generated splits. "val-like-test": validation faces (val identities, FER+ Valid) on canvases shaped
#: like the test mosaics (test_size, up to test_faces_max faces, test_images of them), so that
#: inference settings (score threshold, upscaling, box clipping) are chosen on mosaics like those the
#: test figures come from without looking at the test split. Its seed stream is its own (index 3),
#: so adding it changed none of the other splits.
SPLIT_NAMES = ("train", "val", "test", "val-like-test")
#: Test-shaped splits, and the split whose faces each generated split draws from.
TEST_SHAPED = ("test", "val-like-test")
FACE_POOL = {"train": "train", "val": "val", "test": "test", "val-like-test": "val"}


@dataclass
class MosaicConfig:
    """How the mosaics are made (part of a training config; its hash names the cache folder).

    Attributes:
        lfw, ferplus: dataset folders (required; in a config file relative to the file, see
            `ferx.train.runconfig`).
        box_cache: JSON of the pipeline's lfw-expressions boxes (`python -m ferx.train.onepass.data boxes`).
        cache_dir: where generated mosaics are stored.
        seed: everything random derives from it (split s uses seed + index of s).
        size: train/val canvas side (px); test_size: test canvas side.
        train_images, val_images, test_images: mosaics per split.
        faces_min, faces_max: faces per train/val mosaic; test_faces_max for the test canvases.
        face_min, face_max: face-box width range in canvas pixels (log-uniform; capped so that the
            faces fit).
        lfw_share: probability that a face comes from lfw-expressions (else FER+).
        feather: edge blending of pasted crops (fraction of the crop side).
        margin: crop side around a face box, as a multiple of the box side.
        clutter: random shapes drawn on each background (0–clutter).
        scene_share: probability that a mosaic is a scene grid of real photos (0 = paste mosaics only).
        grid_max: largest n of a scene's n×n grid.
        scene_face_max: largest face-box width in scenes (0 = face_max). Scenes can hold faces up to
            90 % of a cell — close-ups, which paste mosaics (faces ≤ face_max, with margins) cannot.
        negative_share: probability that a scene cell shows a face-free photo region.
        real_background_share: probability that a paste mosaic's background is a face-free photo region.
        negatives: the face-free photographs (`skimage.data` names, see `negative_pool`) that
            negative scene cells and real backgrounds are cut from.
        balance: exponent b of label-balanced drawing: a face of label c is drawn with weight
            n_c^−b within its source, n_c = faces of label c in both sources' pools of the split
            (0 = uniform over faces, as before; 0.5 = each label's share ∝ √n_c).
        photo_share: probability that a mosaic is one whole photo (see module doc).
        photo_face_min, photo_face_max: face-box width range of photo canvases (0 = 0.98 · size).
        fer_upscale_share: probability that a scene cell or a photo canvas shows a FER+ image,
            enlarged, instead of an lfw-expressions photo.
    """

    lfw: str = ""
    ferplus: str = ""
    box_cache: str = "runs/cache/onepass/lfw-boxes.json"
    cache_dir: str = "runs/cache/onepass"
    seed: int = 0
    size: int = 320
    test_size: int = 640
    train_images: int = 3000
    val_images: int = 200
    test_images: int = 300
    faces_min: int = 1
    faces_max: int = 12
    test_faces_max: int = 24
    face_min: int = 16
    face_max: int = 160
    lfw_share: float = 0.5
    feather: float = 0.1
    margin: float = 1.4
    clutter: int = 8
    scene_share: float = 0.0
    grid_max: int = 4
    scene_face_max: int = 0
    negative_share: float = 0.25
    real_background_share: float = 0.0
    negatives: list[str] = field(default_factory=list)
    balance: float = 0.0
    photo_share: float = 0.0
    photo_face_min: int = 64
    photo_face_max: int = 0
    fer_upscale_share: float = 0.0

    #: keys holding paths (resolved by `ferx.train.runconfig` against the config file's folder)
    path_keys: ClassVar[tuple[str, ...]] = ("lfw", "ferplus", "box_cache", "cache_dir")

    def key(self) -> str:
        """Hash of everything that changes the mosaics, not of where the sources and outputs are.

        The locations (`path_keys`) stay out since configs give absolute paths (issue 16), so the same
        settings name the same folder on every machine. Options added after format 1 enter the hash
        only when they are switched on, so the mosaics of older configs keep their folder."""
        d = {k: v for k, v in asdict(self).items() if k not in self.path_keys}
        if not self.scene_share and not self.real_background_share and not self.negatives:
            for k in ("scene_share", "grid_max", "scene_face_max", "negative_share", "real_background_share",
                      "negatives"):
                d.pop(k)
        if not self.balance and not self.photo_share and not self.fer_upscale_share:
            for k in ("balance", "photo_share", "photo_face_min", "photo_face_max", "fer_upscale_share"):
                d.pop(k)
        d["version"] = FORMAT_VERSION
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]

    def folder(self) -> Path:
        return Path(self.cache_dir) / f"mosaics-{self.key()}"


@dataclass(frozen=True)
class FaceRef:
    """One face that can be pasted: its image file, face box in that image, label, provenance."""

    path: str
    box: tuple[float, float, float, float]
    label: int
    source: str
    identity: str | None


@dataclass
class MosaicSplit:
    """A generated split: images (N, S, S) uint8 grey and per image its boxes (G, 4) and labels (G,)."""

    images: np.ndarray
    boxes: list[np.ndarray]
    labels: list[np.ndarray]
    manifest: dict[str, Any]

    def __len__(self) -> int:
        return len(self.images)


def face_refs(cfg: MosaicConfig, split: str, cache: dict) -> tuple[list[FaceRef], list[FaceRef]]:
    """The lfw-expressions and FER+ faces of one split."""
    for key in ("lfw", "ferplus"):
        if not getattr(cfg, key):
            raise ConfigError(f"data.{key}: no dataset folder given")
    index = {lab: i for i, lab in enumerate(EXPRESSIONS)}
    lfw = []
    for s in open_dataset(f"lfw-expressions:{cfg.lfw}").samples:
        if identity_split(s.identity or "") != split:
            continue
        entry = cache["lfw"].get(s.path.name)
        if entry is None or len(entry["boxes"]) != 1:
            continue
        x1, y1, x2, y2 = entry["boxes"][0]
        if min(x2 - x1, y2 - y1) < 20:  # too small in its photo to be pasted at useful sizes
            continue
        lfw.append(FaceRef(str(s.path), tuple(entry["boxes"][0]), index[s.label], "lfw-expressions", s.identity))
    fbox = tuple(cache["ferplus_box"])
    fer = [FaceRef(str(s.path), fbox, index[s.label], "ferplus", None)
           for s in open_dataset(f"ferplus:{cfg.ferplus}", split, protocol="majority").samples]
    return lfw, fer


def _background(size: int, rng: np.random.Generator, clutter: int) -> Image.Image:
    img = background(size, size, rng)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(0, clutter + 1))):
        shade = tuple(int(v) for v in rng.integers(0, 256, 3))
        x0, y0 = rng.uniform(-0.1, 1.0, 2) * size
        w, h = rng.uniform(0.03, 0.4, 2) * size
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=shade)
        elif kind == 1:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=shade)
        else:
            draw.line([x0, y0, x0 + w, y0 + h], fill=shade, width=int(rng.integers(1, 6)))
    return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.5))))


def _load(path: str, memo: dict[str, np.ndarray]) -> np.ndarray:
    if path not in memo:
        memo[path] = np.asarray(Image.open(path).convert("L"))
    return memo[path]


def _jitter(grey: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-face contrast/brightness jitter, so faces do not share one exposure."""
    a = rng.uniform(0.7, 1.3)
    b = rng.uniform(-30, 30)
    mean = grey.mean()
    return np.clip((grey.astype(np.float32) - mean) * a + mean + b, 0, 255).astype(np.uint8)


def _fill(region: np.ndarray, w: int, h: int, rng: np.random.Generator) -> Image.Image:
    img = Image.fromarray(_jitter(region, rng)).resize((w, h), Image.BILINEAR)
    return img.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else img


def _cuts(size: int, n: int, rng: np.random.Generator) -> list[int]:
    """n cells along one side, borders jittered by up to a quarter cell."""
    inner = [(k + rng.uniform(-0.25, 0.25)) * size / n for k in range(1, n)]
    return [0, *[int(round(v)) for v in inner], size]


class FacePool:
    """The faces of one source, drawn uniformly or label-balanced (`MosaicConfig.balance`).

    Uniform drawing takes one `rng.integers` per face, as before issue 26, so configs without
    `balance` make the same mosaics."""

    def __init__(self, refs: list[FaceRef], label_counts: np.ndarray | None = None, balance: float = 0.0) -> None:
        self.refs = refs
        self.cdf: np.ndarray | None = None
        if balance and refs:
            if label_counts is None:
                label_counts = np.bincount([r.label for r in refs], minlength=len(EXPRESSIONS))
            w = np.maximum(label_counts[[r.label for r in refs]], 1).astype(np.float64) ** -balance
            self.cdf = np.cumsum(w) / w.sum()

    def __len__(self) -> int:
        return len(self.refs)

    def draw(self, rng: np.random.Generator) -> FaceRef:
        if self.cdf is None:
            return self.refs[int(rng.integers(len(self.refs)))]
        return self.refs[min(int(np.searchsorted(self.cdf, rng.random(), side="right")), len(self.refs) - 1)]


def _as_pool(refs: FacePool | list[FaceRef]) -> FacePool:
    return refs if isinstance(refs, FacePool) else FacePool(list(refs))


def _draw_photo_ref(lfw: FacePool, fer: FacePool | None, cfg: MosaicConfig, rng: np.random.Generator) -> FaceRef:
    """A scene cell's or photo canvas's face: lfw-expressions, or a FER+ image to be enlarged."""
    if fer is not None and len(fer) and cfg.fer_upscale_share and rng.random() < cfg.fer_upscale_share:
        return fer.draw(rng)
    return lfw.draw(rng)


def _scaled_photo(ref: FaceRef, fmin: float, fmax: float, max_face_h: float, rng: np.random.Generator,
                  memo: dict[str, np.ndarray]) -> tuple[Image.Image, np.ndarray]:
    """The face's whole photo, jittered, scaled so that its face box is log-uniform fmin–fmax px wide
    (and at most max_face_h tall), flipped half the time; and the face box in it."""
    photo = _jitter(_load(ref.path, memo), rng)
    bx1, by1, bx2, by2 = ref.box
    fw = float(np.exp(rng.uniform(np.log(fmin), np.log(fmax))))
    scale = fw / (bx2 - bx1)
    if (by2 - by1) * scale > max_face_h:
        scale = max_face_h / (by2 - by1)
    pw, ph = max(1, round(photo.shape[1] * scale)), max(1, round(photo.shape[0] * scale))
    img = Image.fromarray(photo).resize((pw, ph), Image.BILINEAR if scale > 1 else Image.LANCZOS)
    sx, sy = pw / photo.shape[1], ph / photo.shape[0]
    fb = np.array([bx1 * sx, by1 * sy, bx2 * sx, by2 * sy])
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
        fb = np.array([pw - fb[2], fb[1], pw - fb[0], fb[3]])
    return img, fb


def _window(fb: np.ndarray, cw: int, ch: int, rng: np.random.Generator) -> tuple[int, int]:
    """Origin (in the scaled photo) of a cw × ch window that holds the whole face box."""
    ox = rng.uniform(fb[2] - cw, fb[0]) if fb[2] - fb[0] < cw else fb[0]
    oy = rng.uniform(fb[3] - ch, fb[1]) if fb[3] - fb[1] < ch else fb[1]
    return int(np.floor(ox)), int(np.floor(oy))


def make_scene(refs: FacePool | list[FaceRef], cfg: MosaicConfig, size: int, rng: np.random.Generator,
               memo: dict[str, np.ndarray], negatives: list[np.ndarray], fer: FacePool | None = None,
               ) -> tuple[np.ndarray, np.ndarray, list[FaceRef]]:
    """One grey scene grid: (S, S) uint8, (G, 4) boxes, and the faces placed (see module doc)."""
    pool = _as_pool(refs)
    n = int(rng.integers(1, cfg.grid_max + 1))
    xs, ys = _cuts(size, n, rng), _cuts(size, n, rng)
    canvas = _background(size, rng, cfg.clutter).convert("L")
    boxes: list[list[float]] = []
    placed: list[FaceRef] = []
    for i in range(n):
        for j in range(n):
            x0, y0, cw, ch = xs[j], ys[i], xs[j + 1] - xs[j], ys[i + 1] - ys[i]
            fmax = min(cfg.scene_face_max or cfg.face_max, 0.9 * min(cw, ch))
            if fmax < cfg.face_min or rng.random() < cfg.negative_share:
                if negatives:
                    canvas.paste(_fill(negative_region(negatives, cw / ch, rng), cw, ch, rng), (x0, y0))
                continue
            ref = _draw_photo_ref(pool, fer, cfg, rng)
            img, fb = _scaled_photo(ref, cfg.face_min, fmax, 0.95 * ch, rng, memo)
            ox, oy = _window(fb, cw, ch, rng)
            cell = canvas.crop((x0, y0, x0 + cw, y0 + ch))
            if negatives and rng.random() < 0.5:  # real clutter around photos that do not fill the cell
                cell = _fill(negative_region(negatives, cw / ch, rng), cw, ch, rng)
            cell.paste(img, (-ox, -oy))
            canvas.paste(cell, (x0, y0))
            box = [fb[0] - ox + x0, fb[1] - oy + y0, fb[2] - ox + x0, fb[3] - oy + y0]
            boxes.append([float(np.clip(box[0], x0, x0 + cw)), float(np.clip(box[1], y0, y0 + ch)),
                          float(np.clip(box[2], x0, x0 + cw)), float(np.clip(box[3], y0, y0 + ch))])
            placed.append(ref)
    return np.asarray(canvas), np.array(boxes, np.float64).reshape(-1, 4), placed


def make_photo(lfw: FacePool, fer: FacePool | None, cfg: MosaicConfig, size: int, rng: np.random.Generator,
               memo: dict[str, np.ndarray], negatives: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[FaceRef]]:
    """One whole photo at close-up size on an S × S canvas (see module doc): (S, S) uint8, (1, 4) box, face."""
    ref = _draw_photo_ref(lfw, fer, cfg, rng)
    fmax = cfg.photo_face_max or 0.98 * size
    img, fb = _scaled_photo(ref, min(cfg.photo_face_min, fmax), fmax, 0.98 * size, rng, memo)
    letterboxed = rng.random() < 0.5
    if letterboxed:
        canvas = Image.new("L", (size, size), PAD_VALUE)  # the stage's letterbox
    elif negatives and rng.random() < 0.5:
        canvas = _fill(negative_region(negatives, 1.0, rng), size, size, rng)
    else:
        canvas = _background(size, rng, cfg.clutter).convert("L")
    pw, ph = img.size
    if letterboxed and pw <= size and ph <= size:
        ox = oy = 0
    elif pw <= size and ph <= size:  # anywhere on the canvas (a negative origin places the photo inside)
        ox, oy = -int(rng.integers(0, size - pw + 1)), -int(rng.integers(0, size - ph + 1))
    else:
        ox, oy = _window(fb, size, size, rng)
    canvas.paste(img, (-ox, -oy))
    box = np.clip([fb[0] - ox, fb[1] - oy, fb[2] - ox, fb[3] - oy], 0, size)
    return np.asarray(canvas), np.array([box], np.float64), [ref]


def make_mosaic(
    refs_lfw: FacePool | list[FaceRef], refs_fer: FacePool | list[FaceRef], cfg: MosaicConfig, size: int,
    n_faces: int, rng: np.random.Generator, memo: dict[str, np.ndarray], negatives: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[FaceRef]]:
    """One grey mosaic: (S, S) uint8, (G, 4) boxes, and the faces placed."""
    cap = min(cfg.face_max, max(cfg.face_min, np.sqrt(0.45 * size * size / n_faces) / cfg.margin))
    lfw, fer = _as_pool(refs_lfw), _as_pool(refs_fer)
    chosen: list[FaceRef] = []
    for _ in range(n_faces):
        pool = lfw if (len(lfw) and (rng.random() < cfg.lfw_share or not len(fer))) else fer
        chosen.append(pool.draw(rng))
    widths = np.exp(rng.uniform(np.log(cfg.face_min), np.log(cap), n_faces)).round().astype(int)
    photos, boxes = [], []
    for ref in chosen:
        photos.append(np.repeat(_jitter(_load(ref.path, memo), rng)[..., None], 3, axis=2))
        boxes.append(np.array(ref.box))
    base = _background(size, rng, cfg.clutter)
    if negatives and cfg.real_background_share and rng.random() < cfg.real_background_share:
        base = _fill(negative_region(negatives, 1.0, rng), size, size, rng).convert("RGB")
    m = compose(photos, boxes, list(widths), (size, size), rng, margin=cfg.margin, feather=cfg.feather,
                base=base, skip_unplaceable=True)
    grey = np.asarray(Image.fromarray(m.image).convert("L"))
    return grey, m.boxes, [chosen[i] for i in m.sources]


def generate_split(cfg: MosaicConfig, split: str, cache: dict, progress: bool = True) -> MosaicSplit:
    from tqdm import tqdm

    if split not in SPLIT_NAMES:
        raise ValueError(f"unknown mosaic split {split!r}; use one of {', '.join(SPLIT_NAMES)}")
    shaped_like_test = split in TEST_SHAPED
    count = cfg.test_images if shaped_like_test else {"train": cfg.train_images, "val": cfg.val_images}[split]
    size = cfg.test_size if shaped_like_test else cfg.size
    fmax = cfg.test_faces_max if shaped_like_test else cfg.faces_max
    if size % 32 or size < 64:
        raise ValueError(f"canvas size must be a multiple of 32 and at least 64, got {size}")
    if cfg.face_max * cfg.margin >= size:
        raise ValueError(f"face_max {cfg.face_max} px (with margin {cfg.margin}) does not fit a {size}-px canvas")
    rng = np.random.default_rng([cfg.seed, SPLIT_NAMES.index(split)])
    refs_lfw, refs_fer = face_refs(cfg, FACE_POOL[split], cache)
    if not refs_lfw and not refs_fer:
        raise ValueError(f"no faces available for split {split!r}")
    counts = np.bincount([r.label for r in refs_lfw + refs_fer], minlength=len(EXPRESSIONS))
    lfw, fer = FacePool(refs_lfw, counts, cfg.balance), FacePool(refs_fer, counts, cfg.balance)
    memo: dict[str, np.ndarray] = {}
    negatives = negative_pool(cfg.negatives)
    images = np.zeros((count, size, size), np.uint8)
    rows: list[list[Any]] = []
    all_boxes, all_labels = [], []
    for i in tqdm(range(count), desc=f"mosaics {split}", disable=not progress, file=sys.stderr):
        if len(lfw) and cfg.photo_share and rng.random() < cfg.photo_share:
            img, boxes, placed = make_photo(lfw, fer, cfg, size, rng, memo, negatives)
        elif len(lfw) and cfg.scene_share and rng.random() < cfg.scene_share:
            img, boxes, placed = make_scene(lfw, cfg, size, rng, memo, negatives, fer)
        else:
            n = int(rng.integers(cfg.faces_min, fmax + 1))
            img, boxes, placed = make_mosaic(lfw, fer, cfg, size, n, rng, memo, negatives)
        images[i] = img
        all_boxes.append(boxes.astype(np.float32))
        all_labels.append(np.array([r.label for r in placed], np.int64))
        for b, r in zip(boxes, placed):
            rows.append([i, *np.round(b, 2).tolist(), r.label, r.source, Path(r.path).name, r.identity])
    manifest = {
        "format": FORMAT_VERSION, "split": split, "faces_from": FACE_POOL[split], "config": asdict(cfg),
        "key": cfg.key(), "images": count,
        "size": size, "labels": list(EXPRESSIONS),
        "faces_columns": ["image", "x1", "y1", "x2", "y2", "label", "source", "file", "identity"], "faces": rows,
        "pool": {"lfw-expressions": len(refs_lfw), "ferplus": len(refs_fer),
                 "lfw_identities": sorted({r.identity for r in refs_lfw if r.identity})},
    }
    return MosaicSplit(images, all_boxes, all_labels, manifest)
