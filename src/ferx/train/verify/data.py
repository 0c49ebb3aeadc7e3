"""The face verifier's examples: the aligned crops the pipeline would show it, labelled face or not.

Every example is what the deployed pipeline produces for a detection: BlazeFace's box (threshold
`MINE_THRESHOLD`, below the pipeline's 0.5, so that near-misses are mined too), the face mesh on it
(confirmed or not: the presence is kept, so measures can be restricted to what the mesh lets
through), and the 48-px grey crop `ferx.facecrop` makes from that mesh. Labels come from where the
faces are known to be:

- lfw-expressions photos (split by identity, `identity_split`): the photo's sure, centred face is a
  face; detections lying inside it and much smaller (an eye, a nose) are *parts*, the negatives that
  make "an eye inside a face" a second face. Photos are also enlarged 1.5–3.5×, where the pyramid's
  fine levels fire on such parts.
- composed scenes: those faces pasted at 24–200 px on face-free photos enlarged to 640–1280 px
  canvases; detections away from every pasted crop are *clutter*.
- face-free photographs (scikit-image's bundled photos, a `train` dependency; `PHOTOS` says which
  photo serves which split), cropped, rotated by multiples of 90°, mirrored, enlarged up to 6×:
  every detection is clutter. The photos the issue's false faces came from (the cat, the coffee cup,
  the astronaut) are in no split: they are the tests.
- FER+ crops (Train for train, Valid for val): the mesh on the whole 48-px image, as the pipeline's
  whole-image rule reads it, is a face.

    python -m ferx.train.verify mine --split train --out CACHE/train.npz
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ferx.boxes import box_iou, inside_share
from ferx.data.mosaic import compose
from ferx.data.readers import identity_split
from ferx.facecrop import SIZE, aligned_crop
from ferx.io import load_image
from ferx.types import Faces

#: Detector threshold while mining: lower than the pipeline's 0.5, so that the verifier also learns
#: from the boxes just below it (the pipeline's own false boxes score 0.50–0.76).
MINE_THRESHOLD = 0.3
#: Face-free photos (scikit-image) per split. Tests use the cat ("chelsea"), "coffee" and the
#: astronaut; "camera" shows a person. None of them is here.
PHOTOS: dict[str, tuple[str, ...]] = {
    "train": ("brick", "grass", "gravel", "clock", "colorwheel", "hubble_deep_field", "immunohistochemistry",
              "logo", "moon", "page", "retina", "text", "cell", "coins", "checkerboard", "microaneurysms",
              "shepp_logan_phantom", "binary_blobs", "horse"),
    "val": ("rocket", "stereo_motorcycle"),
}
KINDS = ("face", "part", "clutter")


@dataclass
class Examples:
    """Mined crops. crops (N, 48, 48) uint8; label (N,) 1 face / 0 not; kind (N,) index into KINDS;
    presence (N,) the mesh's face presence; score (N,) the detection score (0 for a whole-image box);
    side (N,) the box's longer side in image pixels; group (N,) index into `groups` (where it came from)."""

    crops: np.ndarray
    label: np.ndarray
    kind: np.ndarray
    presence: np.ndarray
    score: np.ndarray
    side: np.ndarray
    group: np.ndarray
    groups: tuple[str, ...]

    def save(self, path: Path) -> None:
        from ferx.fsutil import atomic_write_bytes

        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, crops=self.crops, label=self.label, kind=self.kind, presence=self.presence,
                            score=self.score, side=self.side, group=self.group, groups=np.array(self.groups))
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> Examples:
        z = np.load(path)
        return cls(z["crops"], z["label"], z["kind"], z["presence"], z["score"], z["side"], z["group"],
                   tuple(str(g) for g in z["groups"]))

    def __len__(self) -> int:
        return len(self.label)


class Miner:
    """Runs the deployed detector (at `MINE_THRESHOLD`) and mesh, and collects labelled crops."""

    def __init__(self) -> None:
        from ferx.detect.blazeface import BlazeFaceDetector
        from ferx.landmarks.facemesh import FaceMeshLandmarker

        self.detector = BlazeFaceDetector(score_threshold=MINE_THRESHOLD)
        self.mesher = FaceMeshLandmarker()
        self.rows: list[tuple[np.ndarray, int, int, float, float, float, int]] = []
        self.groups: list[str] = []

    def candidates(self, image: np.ndarray, extra: Faces | None = None) -> tuple[Faces, np.ndarray, np.ndarray]:
        """Detections (plus `extra` boxes), their meshes (N, 478, 3) and presences (N,)."""
        faces = self.detector.process(image, Faces.empty())
        if extra is not None:
            faces = Faces.concat([faces, extra]) if len(faces) else extra
        if not len(faces):
            return faces, np.zeros((0, 478, 3), np.float32), np.zeros(0, np.float32)
        mesh, presence = self.mesher.mesh(image, faces)
        return faces, mesh, presence

    def add(self, image: np.ndarray, faces: Faces, mesh: np.ndarray, presence: np.ndarray, labels: np.ndarray,
            group: str) -> None:
        """Keep the crops of the candidates whose label is 0 (part), 1 (face) or 2 (clutter); -1 skips."""
        if group not in self.groups:
            self.groups.append(group)
        g = self.groups.index(group)
        grey = Image.fromarray(image).convert("L")
        sides = np.maximum(faces.boxes[:, 2] - faces.boxes[:, 0], faces.boxes[:, 3] - faces.boxes[:, 1])
        for i, lab in enumerate(labels):
            if lab < 0 or not np.isfinite(mesh[i]).all():
                continue
            kind = {1: 0, 0: 1, 2: 2}[int(lab)]
            self.rows.append((aligned_crop(grey, mesh[i], SIZE), int(lab == 1), kind, float(presence[i]),
                              float(faces.scores[i]), float(sides[i]), g))

    def examples(self) -> Examples:
        r = self.rows
        crops = np.stack([x[0] for x in r]) if r else np.zeros((0, SIZE, SIZE), np.uint8)
        cols = [np.array([x[k] for x in r]) for k in range(1, 7)]
        return Examples(crops, cols[0].astype(np.int8), cols[1].astype(np.int8), cols[2].astype(np.float32),
                        cols[3].astype(np.float32), cols[4].astype(np.float32), cols[5].astype(np.int16),
                        tuple(self.groups))

    def close(self) -> None:
        self.detector.close()
        self.mesher.close()


def label_candidates(boxes: np.ndarray, truth: np.ndarray, keep_out: np.ndarray | None = None) -> np.ndarray:
    """(N,) label of each candidate box against the true face boxes: 1 face (IoU >= 0.4), 0 a part of
    a face (>= 60 % of its area inside a true face at most 40 % of that face's area), 2 clutter (no
    overlap with any true face, nor with `keep_out` regions such as the pasted crops around them),
    -1 ambiguous (not used)."""
    out = np.full(len(boxes), -1, np.int8)
    if not len(boxes):
        return out
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    if len(truth):
        iou = box_iou(boxes, truth)
        inside = inside_share(boxes, truth)
        t_area = (truth[:, 2] - truth[:, 0]) * (truth[:, 3] - truth[:, 1])
        small = area[:, None] <= 0.4 * t_area[None, :]
        out[((inside >= 0.6) & small).any(axis=1)] = 0
        out[(iou >= 0.4).any(axis=1)] = 1
        clear = inside.max(axis=1) < 0.05
    else:
        clear = np.ones(len(boxes), bool)
    if keep_out is not None and len(keep_out):
        clear &= box_iou(boxes, keep_out).max(axis=1) == 0
    out[clear & (out < 0)] = 2
    return out


def skimage_photo(name: str) -> np.ndarray:
    """scikit-image's bundled photo `name` as (H, W, 3) uint8 RGB (grey, boolean and float ones converted)."""
    import skimage.data

    img = getattr(skimage.data, name)()
    img = np.asarray(img[0] if isinstance(img, tuple) else img)
    if img.dtype != np.uint8:
        img = (img.astype(np.float64) / max(float(img.max()), 1e-9) * 255).round().astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else np.ascontiguousarray(img[..., :3])


def face_free_photos(split: str) -> list[np.ndarray]:
    """The split's face-free photos (`PHOTOS`)."""
    return [skimage_photo(name) for name in PHOTOS[split]]


def photo_view(photo: np.ndarray, rng: np.random.Generator, longest: int) -> np.ndarray:
    """A random crop of a photo (30–100 % of each side), rotated by a multiple of 90°, maybe mirrored
    and greyed, resized so its longer side is `longest` px (usually an enlargement)."""
    img = np.rot90(photo, int(rng.integers(4)))
    if rng.random() < 0.5:
        img = img[:, ::-1]
    h, w = img.shape[:2]
    ch, cw = int(h * rng.uniform(0.3, 1.0)), int(w * rng.uniform(0.3, 1.0))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    pil = Image.fromarray(np.ascontiguousarray(img[y : y + ch, x : x + cw]))
    if rng.random() < 0.3:
        pil = pil.convert("L").convert("RGB")
    k = longest / max(pil.size)
    return np.asarray(pil.resize((max(16, round(pil.width * k)), max(16, round(pil.height * k))), Image.BICUBIC))


def lfw_photos(lfw: Path, split: str) -> list[Path]:
    with open(lfw / "labels.csv", newline="") as f:
        return [lfw / "images" / r["image"] for r in csv.DictReader(f) if identity_split(r["identity"]) == split]


def sure_centred_face(faces: Faces, presence: np.ndarray, shape: tuple[int, ...]) -> int:
    """Row of an lfw photo's own face: the largest sure (presence >= 0.9) detection centred in the
    photo (centre within the middle 40 %) and at least a quarter of its width; -1 if none."""
    h, w = shape[:2]
    b = faces.boxes
    cx, cy, bw = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0]
    ok = (presence >= 0.9) & (np.abs(cx - w / 2) < 0.2 * w) & (np.abs(cy - h / 2) < 0.2 * h) & (bw >= w / 4)
    return int(np.argmax(np.where(ok, bw, -1))) if ok.any() else -1


#: Images mined per source and split (lfw photos: all of the split's).
COUNTS: dict[str, dict[str, int]] = {
    "train": {"lfw": 1000, "enlarged": 300, "scenes": 160, "photos": 320, "ferplus": 2000},
    "val": {"lfw": 240, "enlarged": 80, "scenes": 60, "photos": 140, "ferplus": 500},
}


def mine(split: str, lfw: Path, ferplus: Path, seed: int = 0, progress: bool = True,
         scale: float = 1.0) -> Examples:
    """All of a split's examples (`COUNTS` × `scale` images per source)."""
    from tqdm import tqdm

    rng = np.random.default_rng([seed, ("train", "val").index(split)])
    counts = {k: max(1, int(v * scale)) for k, v in COUNTS[split].items()}
    miner = Miner()
    bar = tqdm(desc=f"mining {split}", disable=not progress, file=sys.stderr, unit="img")
    try:
        paths = lfw_photos(lfw, split)
        refs = _mine_lfw(miner, paths[:: max(1, len(paths) // counts["lfw"])][: counts["lfw"]], bar)
        photos = face_free_photos(split)
        for _ in range(counts["enlarged"]):
            _mine_enlarged(miner, refs[int(rng.integers(len(refs)))], rng)
            bar.update()
        for _ in range(counts["scenes"]):
            _mine_scene(miner, refs, photos, rng)
            bar.update()
        for _ in range(counts["photos"]):
            _mine_photo(miner, photos, rng)
            bar.update()
        _mine_ferplus(miner, ferplus, split, counts["ferplus"], rng, bar)
    finally:
        bar.close()
        miner.close()
    return miner.examples()


def _mine_lfw(miner: Miner, paths: list[Path], bar: object) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each photo's own face (a face) and the parts of it the detector fires on; returns the
    (photo, face box) pairs for the scenes."""
    refs = []
    for path in paths:
        image = load_image(path)
        faces, mesh, presence = miner.candidates(image)
        bar.update()  # type: ignore[attr-defined]
        k = sure_centred_face(faces, presence, image.shape) if len(faces) else -1
        if k < 0:
            continue
        truth = faces.boxes[k : k + 1]
        labels = label_candidates(faces.boxes, truth)
        labels[(labels == 1) & (np.arange(len(labels)) != k)] = -1  # the face once, from its best box
        labels[labels == 2] = -1  # an lfw photo's background may hold other people
        miner.add(image, faces, mesh, presence, labels, "lfw")
        _add_eye_boxes(miner, image, faces.boxes[k], mesh[k])
        refs.append((image, truth[0]))
    return refs


def _add_eye_boxes(miner: Miner, image: np.ndarray, face_box: np.ndarray, face_mesh: np.ndarray) -> None:
    """Boxes on each eye of a face (0.25–0.45 of the face's side), as a fine pyramid level fires on
    them, through the mesh: the parts the pipeline must never report as a second face."""
    side = float(max(face_box[2] - face_box[0], face_box[3] - face_box[1]))
    rng = np.random.default_rng(int(face_box.sum() * 100) % (2**32))
    boxes, points = [], []
    for centre in (face_mesh[[33, 133], :2].mean(axis=0), face_mesh[[263, 362], :2].mean(axis=0)):
        s = side * float(rng.uniform(0.25, 0.45))
        c = centre + rng.uniform(-0.1, 0.1, 2) * s
        boxes.append([c[0] - s / 2, c[1] - s / 2, c[0] + s / 2, c[1] + s / 2])
        points.append(np.array([[-0.2, -0.1], [0.2, -0.1], [0, 0.05], [-0.15, 0.2], [0.15, 0.2]]) * s + c)
    eyes = Faces(np.array(boxes, np.float32), np.full(2, 0.5, np.float32), np.array(points, np.float32))
    mesh, presence = miner.mesher.mesh(image, eyes)
    miner.add(image, eyes, mesh, presence, np.zeros(2, np.int8), "lfw-eye")


def _mine_enlarged(miner: Miner, ref: tuple[np.ndarray, np.ndarray], rng: np.random.Generator) -> None:
    """An lfw photo enlarged 1.5–3.5×: the pyramid's fine levels see its eyes, nose and mouth at the
    size of whole faces."""
    image, box = ref
    k = float(rng.uniform(1.5, 3.5))
    h, w = image.shape[:2]
    big = np.asarray(Image.fromarray(image).resize((round(w * k), round(h * k)), Image.BICUBIC))
    faces, mesh, presence = miner.candidates(big)
    labels = label_candidates(faces.boxes, (box * k)[None])
    labels[labels == 2] = -1  # an lfw photo's background may hold other people
    miner.add(big, faces, mesh, presence, labels, "lfw-enlarged")


def _mine_scene(miner: Miner, refs: list[tuple[np.ndarray, np.ndarray]], photos: list[np.ndarray],
                rng: np.random.Generator) -> None:
    """lfw faces of 24–200 px pasted on an enlarged face-free photo of 640 to 1280 px."""
    longest = int(rng.choice([640, 1024, 1280]))
    base = photo_view(photos[int(rng.integers(len(photos)))], rng, longest)
    n = int(rng.integers(2, 8))
    sel = rng.choice(len(refs), n, replace=False)
    sizes = [int(s) for s in np.exp(rng.uniform(np.log(24), np.log(200), n))]
    m = compose([refs[j][0] for j in sel], [refs[j][1] for j in sel], sizes, (base.shape[1], base.shape[0]), rng,
                base=Image.fromarray(base), skip_unplaceable=True, feather=0.05)
    faces, mesh, presence = miner.candidates(m.image)
    centre, side = (m.boxes[:, :2] + m.boxes[:, 2:]) / 2, (m.boxes[:, 2:] - m.boxes[:, :2]).max(axis=1, initial=0)
    pasted = np.concatenate([centre - 0.8 * side[:, None], centre + 0.8 * side[:, None]], axis=1)
    miner.add(m.image, faces, mesh, presence, label_candidates(faces.boxes, m.boxes, keep_out=pasted), "scene")


def _mine_photo(miner: Miner, photos: list[np.ndarray], rng: np.random.Generator) -> None:
    """A view of a face-free photo, 320 to 1024 px: every detection is clutter."""
    image = photo_view(photos[int(rng.integers(len(photos)))], rng, int(rng.choice([320, 640, 1024])))
    faces, mesh, presence = miner.candidates(image)
    miner.add(image, faces, mesh, presence, np.full(len(faces), 2, np.int8), "photo")


def _mine_ferplus(miner: Miner, ferplus: Path, split: str, n: int, rng: np.random.Generator, bar: object) -> None:
    """FER+ crops read as one whole-image face (the pipeline's rule for crops the detector misses)."""
    from ferx.pipeline import whole_image_face

    folder = ferplus / {"train": "FER2013Train", "val": "FER2013Valid"}[split]
    names = sorted(p.name for p in folder.glob("*.png"))
    for name in rng.choice(names, min(n, len(names)), replace=False):
        image = load_image(folder / name)
        face = whole_image_face(image, 0.0)
        mesh, presence = miner.mesher.mesh(image, face)
        miner.add(image, face, mesh, presence, np.ones(1, np.int8), "ferplus")
        bar.update()  # type: ignore[attr-defined]
