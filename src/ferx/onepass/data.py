"""Training data for the one-pass detector: seeded mosaics of real faces with exact boxes and labels.

Two face sources, both from ../shared/data:
  * lfw-expressions photos. The face box is the two-stage pipeline's (`ferx.Analyzer`, BlazeFace +
    mesh confirmation) on the photo at full size, computed once and cached (`box_cache`);
    photos where it finds no face or several are left out. Label: the dataset's `emotion` column.
    Split: `ferx.data.readers.identity_split` (identities hashed 80/10/10), so train, val and test
    never share a person.
  * FER+ 48×48 faces, majority-vote label, split by FER+'s official Train/Valid/Test folders. FER+
    has no identity information, so its splits cannot be checked for identity overlap. Its face
    box is a fixed box inside the 48×48 frame, measured once as the median pipeline box on
    upscaled FER+ test faces (cached with the lfw boxes), so both sources are boxed alike.

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
Everything follows from `MosaicConfig.seed`; a split's mosaics are stored once as a uint8 array
(`images.npy`, (N, S, S)) plus `manifest.json` (config, seed, per face: image index, box, label,
source dataset, file, identity) under a folder named by the config's hash, so epochs only read.

    python -m ferx.onepass.data boxes                 # cache the pipeline's lfw boxes (≈ 2 min)
    python -m ferx.onepass.data generate configs/onepass-vss.yaml   # write the mosaics
    python -m ferx.onepass.data generate configs/onepass-csp.yaml --splits val-like-test
                                      # validation faces on test-shaped canvases (choosing inference settings)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ferx.data.mosaic import background, compose
from ferx.data.readers import identity_split, open_dataset
from ferx.facs import EXPRESSIONS

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
        lfw, ferplus: dataset folders.
        box_cache: JSON of the pipeline's lfw-expressions boxes (`python -m ferx.onepass.data boxes`).
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
    """

    lfw: str = "../shared/data/lfw-expressions"
    ferplus: str = "../shared/data/ferplus"
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

    def key(self) -> str:
        """Hash of everything that changes the mosaics (not where they are stored).

        Options added after format 1 enter the hash only when they are switched on, so the
        mosaics of older configs keep their folder."""
        d = {k: v for k, v in asdict(self).items() if k != "cache_dir"}
        if not self.scene_share and not self.real_background_share and not self.negatives:
            for k in ("scene_share", "grid_max", "scene_face_max", "negative_share", "real_background_share",
                      "negatives"):
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


# -- face boxes -------------------------------------------------------------------------------------
def cache_boxes(lfw: str, ferplus: str, out: str | Path, progress: bool = True, ferplus_samples: int = 300,
                limit: int = 0) -> dict:
    """Run the two-stage pipeline (detector + landmark confirmation) over every lfw-expressions
    photo, and over upscaled FER+ test faces to measure where its box sits in a 48×48 FER+ frame.

    Writes JSON: {"lfw": {image: {"boxes": [[x1,y1,x2,y2], ...], "keypoints": [...]}},
    "ferplus_box": [x1, y1, x2, y2] (in the 48-px frame), "keypoint_template": (5, 2) keypoints
    relative to the box (x from x1 in box widths, y from y1 in box heights)}.
    """
    from tqdm import tqdm

    from ferx.io import load_image
    from ferx.pipeline import Analyzer

    ds = open_dataset(f"lfw-expressions:{lfw}")
    result: dict[str, Any] = {"lfw": {}, "pipeline": "ferx.Analyzer(aus=None, expression=None, explain=None)"}
    rel_kp = []
    with Analyzer(aus=None, expression=None, explain=None) as analyzer:
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
            f"{p}: no cached lfw-expressions boxes; make them with `python -m ferx.onepass.data boxes --out {p}`")
    return json.loads(p.read_text())


def face_refs(cfg: MosaicConfig, split: str, cache: dict) -> tuple[list[FaceRef], list[FaceRef]]:
    """The lfw-expressions and FER+ faces of one split."""
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


# -- generation ---------------------------------------------------------------------------------
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


def negative_pool(names: list[str]) -> list[np.ndarray]:
    """Grey face-free photographs for negatives: `skimage.data` images by name.

    scikit-image (a `train` dependency) ships these in its wheel — bricks, grass, gravel, coffee,
    coins, a cat, a rocket, a motorcycle, pages of text, cells, the Moon, Hubble's deep field —
    so nothing is downloaded. `astronaut` and `camera` show people and are refused: the astronaut
    is also ferx's bundled example, on which the detector's false positives are checked.
    """
    if not names:
        return []
    import skimage.data

    pool = []
    for name in names:
        if name in ("astronaut", "camera"):
            raise ValueError(f"negatives: skimage.data.{name} shows a person; it cannot be a face-free negative")
        fn = getattr(skimage.data, name, None)
        if fn is None:
            raise ValueError(f"negatives: skimage.data has no image {name!r}")
        img = fn()
        img = img[0] if isinstance(img, tuple) else img
        img = np.asarray(img)
        if img.dtype == bool:
            img = img.astype(np.uint8) * 255
        if img.ndim == 3:
            img = np.asarray(Image.fromarray(img[..., :3].astype(np.uint8)).convert("L"))
        pool.append(np.ascontiguousarray(img.astype(np.uint8)))
    return pool


def _negative_region(pool: list[np.ndarray], aspect: float, rng: np.random.Generator) -> np.ndarray:
    """A random crop (width/height ≈ aspect, 32 px to the whole image) of a random pool image,
    rotated by a random multiple of 90°."""
    img = np.rot90(pool[int(rng.integers(len(pool)))], int(rng.integers(4)))
    h, w = img.shape
    ch = float(np.exp(rng.uniform(np.log(32), np.log(h))))
    cw = ch * aspect
    if cw > w:
        cw, ch = float(w), w / aspect
    cx, cy = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    return np.ascontiguousarray(img[int(cy):int(cy + max(ch, 1)), int(cx):int(cx + max(cw, 1))])


def _fill(region: np.ndarray, w: int, h: int, rng: np.random.Generator) -> Image.Image:
    img = Image.fromarray(_jitter(region, rng)).resize((w, h), Image.BILINEAR)
    return img.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else img


def _cuts(size: int, n: int, rng: np.random.Generator) -> list[int]:
    """n cells along one side, borders jittered by up to a quarter cell."""
    inner = [(k + rng.uniform(-0.25, 0.25)) * size / n for k in range(1, n)]
    return [0, *[int(round(v)) for v in inner], size]


def make_scene(refs: list[FaceRef], cfg: MosaicConfig, size: int, rng: np.random.Generator,
               memo: dict[str, np.ndarray], negatives: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[FaceRef]]:
    """One grey scene grid: (S, S) uint8, (G, 4) boxes, and the faces placed (see module doc)."""
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
                    canvas.paste(_fill(_negative_region(negatives, cw / ch, rng), cw, ch, rng), (x0, y0))
                continue
            ref = refs[int(rng.integers(len(refs)))]
            photo = _jitter(_load(ref.path, memo), rng)
            bx1, by1, bx2, by2 = ref.box
            fw = float(np.exp(rng.uniform(np.log(cfg.face_min), np.log(fmax))))
            scale = fw / (bx2 - bx1)
            if (by2 - by1) * scale > 0.95 * ch:
                scale = 0.95 * ch / (by2 - by1)
            pw, ph = max(1, round(photo.shape[1] * scale)), max(1, round(photo.shape[0] * scale))
            img = Image.fromarray(photo).resize((pw, ph), Image.BILINEAR if scale > 1 else Image.LANCZOS)
            sx, sy = pw / photo.shape[1], ph / photo.shape[0]
            fb = np.array([bx1 * sx, by1 * sy, bx2 * sx, by2 * sy])
            if rng.random() < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
                fb = np.array([pw - fb[2], fb[1], pw - fb[0], fb[3]])
            # window origin (in the scaled photo) such that the face lies inside the cell
            ox = rng.uniform(fb[2] - cw, fb[0]) if fb[2] - fb[0] < cw else fb[0]
            oy = rng.uniform(fb[3] - ch, fb[1]) if fb[3] - fb[1] < ch else fb[1]
            ox, oy = int(np.floor(ox)), int(np.floor(oy))
            cell = canvas.crop((x0, y0, x0 + cw, y0 + ch))
            if negatives and rng.random() < 0.5:  # real clutter around photos that do not fill the cell
                cell = _fill(_negative_region(negatives, cw / ch, rng), cw, ch, rng)
            cell.paste(img, (-ox, -oy))
            canvas.paste(cell, (x0, y0))
            box = [fb[0] - ox + x0, fb[1] - oy + y0, fb[2] - ox + x0, fb[3] - oy + y0]
            boxes.append([float(np.clip(box[0], x0, x0 + cw)), float(np.clip(box[1], y0, y0 + ch)),
                          float(np.clip(box[2], x0, x0 + cw)), float(np.clip(box[3], y0, y0 + ch))])
            placed.append(ref)
    return np.asarray(canvas), np.array(boxes, np.float64).reshape(-1, 4), placed


def make_mosaic(
    refs_lfw: list[FaceRef], refs_fer: list[FaceRef], cfg: MosaicConfig, size: int, n_faces: int,
    rng: np.random.Generator, memo: dict[str, np.ndarray], negatives: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[FaceRef]]:
    """One grey mosaic: (S, S) uint8, (G, 4) boxes, and the faces placed."""
    cap = min(cfg.face_max, max(cfg.face_min, np.sqrt(0.45 * size * size / n_faces) / cfg.margin))
    chosen: list[FaceRef] = []
    for _ in range(n_faces):
        pool = refs_lfw if (refs_lfw and (rng.random() < cfg.lfw_share or not refs_fer)) else refs_fer
        chosen.append(pool[int(rng.integers(len(pool)))])
    widths = np.exp(rng.uniform(np.log(cfg.face_min), np.log(cap), n_faces)).round().astype(int)
    photos, boxes = [], []
    for ref in chosen:
        photos.append(np.repeat(_jitter(_load(ref.path, memo), rng)[..., None], 3, axis=2))
        boxes.append(np.array(ref.box))
    base = _background(size, rng, cfg.clutter)
    if negatives and cfg.real_background_share and rng.random() < cfg.real_background_share:
        base = _fill(_negative_region(negatives, 1.0, rng), size, size, rng).convert("RGB")
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
    lfw, fer = face_refs(cfg, FACE_POOL[split], cache)
    if not lfw and not fer:
        raise ValueError(f"no faces available for split {split!r}")
    memo: dict[str, np.ndarray] = {}
    negatives = negative_pool(cfg.negatives)
    images = np.zeros((count, size, size), np.uint8)
    rows: list[list[Any]] = []
    all_boxes, all_labels = [], []
    for i in tqdm(range(count), desc=f"mosaics {split}", disable=not progress, file=sys.stderr):
        if lfw and cfg.scene_share and rng.random() < cfg.scene_share:
            img, boxes, placed = make_scene(lfw, cfg, size, rng, memo, negatives)
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
        "pool": {"lfw-expressions": len(lfw), "ferplus": len(fer),
                 "lfw_identities": sorted({r.identity for r in lfw if r.identity})},
    }
    return MosaicSplit(images, all_boxes, all_labels, manifest)


def load_split(cfg: MosaicConfig, split: str, progress: bool = True) -> MosaicSplit:
    """The split's mosaics from the cache, generated (and stored) first when missing."""
    folder = cfg.folder() / split
    if not (folder / "manifest.json").is_file():
        cache = load_box_cache(cfg.box_cache)
        ms = generate_split(cfg, split, cache, progress)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "images.npy", ms.images)
        tmp = folder / "manifest.json.tmp"
        tmp.write_text(json.dumps(ms.manifest))
        tmp.replace(folder / "manifest.json")  # written last: a folder with a manifest is complete
        return ms
    manifest = json.loads((folder / "manifest.json").read_text())
    images = np.load(folder / "images.npy", mmap_mode="r")
    boxes: list[list[list[float]]] = [[] for _ in range(len(images))]
    labels: list[list[int]] = [[] for _ in range(len(images))]
    for row in manifest["faces"]:
        boxes[row[0]].append(row[1:5])
        labels[row[0]].append(row[5])
    return MosaicSplit(images, [np.array(b, np.float32).reshape(-1, 4) for b in boxes],
                       [np.array(lab, np.int64) for lab in labels], manifest)


def main(argv: list[str] | None = None) -> int:
    from ferx.config import from_dict, load_yaml

    ap = argparse.ArgumentParser(prog="python -m ferx.onepass.data")
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("boxes", help="cache the two-stage pipeline's face boxes of lfw-expressions")
    b.add_argument("--lfw", default=MosaicConfig.lfw)
    b.add_argument("--ferplus", default=MosaicConfig.ferplus)
    b.add_argument("--out", default=MosaicConfig.box_cache)
    g = sub.add_parser("generate", help="generate (or check) the mosaics of a training config")
    g.add_argument("config", help="training YAML (its `data` section)")
    g.add_argument("--splits", default="train,val,test",
                   help=f"comma-separated, of {', '.join(SPLIT_NAMES)} (val-like-test: validation faces on "
                        f"test-shaped canvases, for choosing inference settings)")
    args = ap.parse_args(argv)
    if args.command == "boxes":
        res = cache_boxes(args.lfw, args.ferplus, args.out)
        one = sum(len(v["boxes"]) == 1 for v in res["lfw"].values())
        print(f"{len(res['lfw'])} photos, {one} with exactly one face; FER+ box {res['ferplus_box']} "
              f"(found in {res['ferplus_box_found']}) → {args.out}")
        return 0
    cfg = from_dict(MosaicConfig, load_yaml(args.config).get("data", {}), where="data.")
    for split in args.splits.split(","):
        ms = load_split(cfg, split.strip())
        n_faces = sum(len(b) for b in ms.boxes)
        print(f"{split}: {len(ms)} mosaics, {n_faces} faces → {cfg.folder() / split}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
