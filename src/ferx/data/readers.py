"""Readers for labelled face datasets, all behind one interface.

`open_dataset(spec, split)` returns a `Dataset`: its label set (named, in ferx's canonical order)
and a list of `Sample`s (image path, label, optional soft label, identity, split, face box).
`spec` is `KIND:PATH`, or a PATH whose kind is recognised from its files.

Kinds and their layouts:
    ferplus          Microsoft's FERPlus layout: FER2013{Train,Valid,Test}/label.csv + PNGs.
                     Labels follow the FER+ paper's protocols (`protocol=`): majority,
                     probability (= crossentropy), multi_target; images whose votes end on
                     unknown / not-a-face, or that have no majority, are dropped as the paper does.
    fer2013          root/{train,public_test,private_test}/<class>/*.png (what
                     shared/data/fer2013/materialize.py writes, and what most copies look like).
                     A folder with Kaggle's fer2013.csv, or the shared folder with the script, is
                     recognised as FER2013 (with or without a kind) and told how to write the layout.
    folders          root/<class>/*.jpg, optionally under split folders root/<split>/<class>/; a
                     folder of images without class folders is told so, with this layout.

An unknown KIND in "KIND:PATH" is named as such (`dataset_kind`), not taken for part of a path.
    lfw-expressions  labels.csv (image, emotion, identity) + images/; no official split, so
                     identities are hashed into train/val/test (80/10/10), disjoint by identity;
                     `partition="halves"` hashes them into two halves instead, val (half A: every
                     choice made on lfw) and test (half B: reporting), for using lfw as a second,
                     cross-dataset validation set next to a model trained elsewhere.
    rafdb            RAF-DB basic: EmoLabel/list_patition_label.txt ("train_00001.jpg 5") and
                     Image/aligned/*_aligned.jpg (or Image/original/*.jpg with `aligned=False`).
    affectnet        training.csv / validation.csv (subDirectory_filePath, face_x, face_y,
                     face_width, face_height, facial_landmarks, expression, valence, arousal)
                     with images under the root (or `images=DIR`).

Splits are named "train", "val", "test" (aliases: valid/validation → val, public_test → val,
private_test → test). Labels are ferx names: neutral, happiness, surprise, sadness, anger, disgust,
fear, contempt; each reader maps its dataset's names or numbers explicitly.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ferx.errors import FerxError
from ferx.facs import EXPRESSIONS
from ferx.io import IMAGE_EXTENSIONS


class DatasetError(FerxError):
    """A dataset is missing files, has an unknown layout, or a label the reader cannot map."""


SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "public_test": "val", "publictest": "val",
    "test": "test", "private_test": "test", "privatetest": "test",
}
#: Names datasets use for ferx's labels.
_LABEL_ALIASES = {
    "neutral": "neutral", "happiness": "happiness", "happy": "happiness", "surprise": "surprise",
    "surprised": "surprise", "sadness": "sadness", "sad": "sadness", "anger": "anger", "angry": "anger",
    "disgust": "disgust", "disgusted": "disgust", "fear": "fear", "fearful": "fear", "afraid": "fear",
    "contempt": "contempt",
}
SEVEN = tuple(e for e in EXPRESSIONS if e != "contempt")


@dataclass(frozen=True)
class Sample:
    """One labelled image.

    Attributes:
        path: the image file.
        label: ferx label name (None for unlabelled images).
        soft: (C,) label distribution over the dataset's `label_set` (FER+ votes), if any.
        identity: person identifier where the dataset has one (for identity-disjoint splits).
        split: "train", "val", "test" or "all".
        box: face box x1 y1 x2 y2 in the image, where the dataset gives one (AffectNet).
    """

    path: Path
    label: str | None
    soft: np.ndarray | None = None
    identity: str | None = None
    split: str = "all"
    box: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class Dataset:
    """A dataset's label set and samples (possibly one split).

    Attributes:
        name: e.g. "ferplus:majority/test".
        kind: reader kind.
        root: dataset folder.
        label_set: the labels this dataset uses, in ferx's canonical order.
        samples: the samples.
        dropped: how many entries were left out and why (e.g. FER+ "unknown" majority).
    """

    name: str
    kind: str
    root: Path
    label_set: tuple[str, ...]
    samples: list[Sample]
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)

    def head(self, n: int) -> Dataset:
        """The dataset's first `n` samples (all of them for 0)."""
        return replace(self, samples=self.samples[:n]) if n else self

    def counts(self) -> dict[str, int]:
        c = Counter(s.label for s in self.samples)
        return {lab: c.get(lab, 0) for lab in self.label_set}

    def labels_index(self) -> np.ndarray:
        """(N,) label index into `label_set` per sample."""
        index = {lab: i for i, lab in enumerate(self.label_set)}
        return np.array([index[s.label] for s in self.samples if s.label is not None])


def canonical_split(split: str | None) -> str | None:
    if split is None:
        return None
    try:
        return _SPLIT_ALIASES[split.lower()]
    except KeyError:
        raise DatasetError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}") from None


def canonical_label(name: str, where: str) -> str:
    try:
        return _LABEL_ALIASES[name.strip().lower()]
    except KeyError:
        raise DatasetError(f"{where}: unknown expression label {name!r}") from None


# -- FER+ ------------------------------------------------------------------------------------------
FERPLUS_COLUMNS = EXPRESSIONS + ("unknown", "NF")
_FERPLUS_FOLDERS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
FERPLUS_PROTOCOLS = ("majority", "probability", "crossentropy", "multi_target")


def ferplus_target(votes: np.ndarray, protocol: str) -> np.ndarray | None:
    """FER+ label processing (Barsoum et al. 2016, as in Microsoft's FERPlus release).

    Args:
        votes: (10,) annotator votes in FERPLUS_COLUMNS order.
        protocol: "majority", "probability"/"crossentropy" (same targets) or "multi_target".
    Returns:
        (8,) distribution over EXPRESSIONS, or None when the image is dropped (its processed
        target is unknown / not-a-face, or no label gathers enough votes).

    Single votes are treated as annotator noise and removed first. Majority: the top emotion must
    hold more than half of the remaining votes. Probability: the top emotions (at most 3, until 75 %
    of the votes) are kept, and the image is dropped if they hold no more than half of the votes or a
    tie pulls in unknown / not-a-face. Multi-target: every emotion with at least 30 % of the votes.
    """
    if protocol not in FERPLUS_PROTOCOLS:
        raise DatasetError(f"unknown FER+ protocol {protocol!r}; use one of {', '.join(FERPLUS_PROTOCOLS)}")
    v = np.asarray(votes, np.float64).copy()
    v[v <= 1] = 0.0
    total = v.sum()
    if total <= 0:
        return None
    kept = np.zeros_like(v)
    if protocol == "majority":
        top = int(np.argmax(v))
        if v[top] > 0.5 * total:
            kept[top] = v[top]
    elif protocol == "multi_target":
        kept[v >= 0.3 * total] = v[v >= 0.3 * total]
    else:
        remaining = v.copy()
        count = 0
        while kept.sum() < 0.75 * total and count < 3:
            top_value = remaining.max()
            if top_value <= 0:
                break
            ties = np.flatnonzero(remaining == top_value)
            if ties.max() >= len(EXPRESSIONS):  # a tie with unknown / NF: stop, keep what came before
                break
            kept[ties] = top_value
            remaining[ties] = 0
            count += len(ties)
        if count > 3:
            return None
    if kept.sum() <= 0.5 * total or kept[len(EXPRESSIONS):].sum() > 0:
        return None
    return (kept[: len(EXPRESSIONS)] / kept[: len(EXPRESSIONS)].sum()).astype(np.float32)


def read_ferplus(root: Path, split: str | None, protocol: str = "majority") -> Dataset:
    splits = [split] if split else list(SPLITS)
    samples: list[Sample] = []
    dropped: Counter[str] = Counter()
    for sp in splits:
        folder = root / _FERPLUS_FOLDERS[sp]
        label_csv = folder / "label.csv"
        if not label_csv.exists():
            raise DatasetError(f"{root}: not a FER+ folder (missing {_FERPLUS_FOLDERS[sp]}/label.csv)")
        with open(label_csv, newline="") as f:
            for line, row in enumerate(csv.reader(f), 1):
                if len(row) != 12:
                    raise DatasetError(f"{label_csv}:{line}: expected 12 columns (image, box, 10 vote counts), got {len(row)}")
                target = ferplus_target(np.array(row[2:], float), protocol)
                if target is None:
                    dropped[f"{sp}: no {protocol} label (unknown / not a face / no agreement)"] += 1
                    continue
                samples.append(Sample(folder / row[0], EXPRESSIONS[int(np.argmax(target))], target, None, sp))
    return Dataset(f"ferplus:{protocol}/{split or 'all'}", "ferplus", root, EXPRESSIONS, samples, dict(dropped))


# -- class folders (FER2013, plain folders) ------------------------------------------------------
def _class_folder_samples(folder: Path, split: str, label_set: tuple[str, ...]) -> list[Sample]:
    samples = []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        label = canonical_label(class_dir.name, str(class_dir))
        if label not in label_set:
            raise DatasetError(f"{class_dir}: label {label!r} is not in this dataset's label set {label_set}")
        for f in sorted(class_dir.iterdir()):
            if f.suffix.lower() in IMAGE_EXTENSIONS:
                samples.append(Sample(f, label, None, None, split))
    return samples


#: The hint every message about a folder that looks like FER2013 gives (ferx reads its folder layout).
FER2013_HINT = "write FER2013's folder layout with shared/data/fer2013/materialize.py OUT and give fer2013:OUT"


def looks_like_fer2013(root: Path) -> bool:
    """FER2013 in a form ferx does not read: Kaggle's fer2013.csv, or the shared folder that holds the
    script writing its layout (index.csv + materialize.py)."""
    return (root / "fer2013.csv").is_file() or ((root / "index.csv").is_file() and (root / "materialize.py").is_file())


def read_fer2013(root: Path, split: str | None) -> Dataset:
    folders = {"train": "train", "val": "public_test", "test": "private_test"}
    missing = [name for name in folders.values() if not (root / name).is_dir()]
    if missing:
        raise DatasetError(f"{root}: not a FER2013 folder layout (missing {', '.join(missing)}); {FER2013_HINT}")
    samples: list[Sample] = []
    for sp in [split] if split else list(SPLITS):
        samples += _class_folder_samples(root / folders[sp], sp, SEVEN)
    return Dataset(f"fer2013/{split or 'all'}", "fer2013", root, SEVEN, samples)


FOLDERS_LAYOUT = "root/<class>/*.jpg, optionally under split folders root/<split>/<class>/ (split: train, val, test)"


def _flat_contents(root: Path) -> str | None:
    """What a folder without sub-folders holds, in words (None when it has sub-folders)."""
    if any(p.is_dir() for p in root.iterdir()):
        return None
    images = sum(1 for p in root.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    return f"{images} image(s) directly in the folder, no sub-folders" if images else "no sub-folders and no images"


def read_folders(root: Path, split: str | None) -> Dataset:
    # said before "class folders … split": a flat folder has neither, and FER2013 has its own reader
    if looks_like_fer2013(root):
        raise DatasetError(f"{root}: this looks like FER2013, which ferx reads in its folder layout; {FER2013_HINT}")
    flat = _flat_contents(root)
    if flat:
        raise DatasetError(f"{root}: {flat}; a folders dataset is labelled by its folders: {FOLDERS_LAYOUT}")
    sub = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    split_dirs = {canonical_split(name): p for name, p in sub.items() if name in _SPLIT_ALIASES}
    if split_dirs:
        if split is not None and split not in split_dirs:
            raise DatasetError(f"{root}: no {split!r} split folder (found {', '.join(sorted(split_dirs))})")
        chosen = {split: split_dirs[split]} if split else split_dirs
        samples = [s for sp, p in chosen.items() for s in _class_folder_samples(p, sp, EXPRESSIONS)]
    else:
        if split is not None:
            raise DatasetError(f"{root}: class folders ({', '.join(sorted(sub))}) without split folders; omit the "
                               f"split or add train/val/test folders ({FOLDERS_LAYOUT})")
        samples = _class_folder_samples(root, "all", EXPRESSIONS)
    if not samples:
        raise DatasetError(f"{root}: no images found in class folders")
    present = {s.label for s in samples}
    label_set = tuple(e for e in EXPRESSIONS if e in present)
    return Dataset(f"folders:{root.name}/{split or 'all'}", "folders", root, label_set, samples)


# -- lfw-expressions ----------------------------------------------------------------------------------
def identity_split(identity: str) -> str:
    """Deterministic 80/10/10 train/val/test assignment by identity (md5 of the name)."""
    bucket = int(hashlib.md5(identity.encode()).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "val" if bucket == 1 else "train"


def identity_half(identity: str) -> str:
    """"A" or "B": identity-disjoint halves of lfw-expressions (md5 bucket < 5 → A). A is where
    choices are made (AU calibration, grades, cross-dataset validation of classifiers), B is for
    reporting only."""
    return "A" if int(hashlib.md5(identity.encode()).hexdigest(), 16) % 10 < 5 else "B"


LFW_PARTITIONS = ("80/10/10", "halves")


def read_lfw_expressions(root: Path, split: str | None, partition: str = "80/10/10") -> Dataset:
    if partition not in LFW_PARTITIONS:
        raise DatasetError(f"lfw-expressions: partition must be one of {', '.join(LFW_PARTITIONS)}; got {partition!r}")
    if partition == "halves" and split == "train":
        raise DatasetError("lfw-expressions partition 'halves' has only val (half A) and test (half B)")
    labels = root / "labels.csv"
    if not labels.exists():
        raise DatasetError(f"{root}: missing labels.csv (image, emotion, identity)")
    samples = []
    with open(labels, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"image", "emotion", "identity"} <= set(reader.fieldnames):
            raise DatasetError(f"{labels}: expected columns image, emotion, identity; got {reader.fieldnames}")
        for row in reader:
            if partition == "halves":
                sp = {"A": "val", "B": "test"}[identity_half(row["identity"])]
            else:
                sp = identity_split(row["identity"])
            if split is None or sp == split:
                label = canonical_label(row["emotion"], str(labels))
                samples.append(Sample(root / "images" / row["image"], label, None, row["identity"], sp))
    tag = "" if partition == "80/10/10" else "halves:"
    return Dataset(f"lfw-expressions/{tag}{split or 'all'}", "lfw-expressions", root, EXPRESSIONS, samples)


# -- RAF-DB -------------------------------------------------------------------------------------------
RAFDB_LABELS = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")  # 1..7


def read_rafdb(root: Path, split: str | None, aligned: bool = True) -> Dataset:
    listing = root / "EmoLabel" / "list_patition_label.txt"
    if not listing.exists():
        raise DatasetError(f"{root}: not RAF-DB basic (missing EmoLabel/list_patition_label.txt)")
    image_dir = root / "Image" / ("aligned" if aligned else "original")
    if not image_dir.is_dir():
        raise DatasetError(f"{root}: missing image folder {image_dir.relative_to(root)}")
    if split == "val":
        raise DatasetError("RAF-DB basic has only train and test splits")
    samples = []
    for line_no, line in enumerate(listing.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= 7:
            raise DatasetError(f"{listing}:{line_no}: expected 'NAME LABEL' with LABEL 1–7, got {line!r}")
        name, number = parts[0], int(parts[1])
        sp = "train" if name.startswith("train") else "test"
        if split is not None and sp != split:
            continue
        stem = Path(name).stem
        file = image_dir / (f"{stem}_aligned.jpg" if aligned else name)
        samples.append(Sample(file, RAFDB_LABELS[number - 1], None, None, sp))
    return Dataset(f"rafdb/{split or 'all'}", "rafdb", root, SEVEN, samples)


# -- AffectNet ----------------------------------------------------------------------------------------
AFFECTNET_LABELS = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt")  # 0..7
_AFFECTNET_FILES = {"train": "training.csv", "val": "validation.csv"}


def read_affectnet(root: Path, split: str | None, images: str | None = None) -> Dataset:
    if split == "test":
        raise DatasetError("AffectNet's test set is not public; papers report on its validation set: use split 'val'")
    image_root = Path(images) if images else root
    samples: list[Sample] = []
    dropped: Counter[str] = Counter()
    for sp in [split] if split else ["train", "val"]:
        table = root / _AFFECTNET_FILES[sp]
        if not table.exists():
            raise DatasetError(f"{root}: missing {_AFFECTNET_FILES[sp]}")
        with open(table, newline="") as f:
            reader = csv.DictReader(f)
            need = {"subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "expression"}
            if reader.fieldnames is None or not need <= set(reader.fieldnames):
                raise DatasetError(f"{table}: expected columns {', '.join(sorted(need))}; got {reader.fieldnames}")
            for row in reader:
                code = int(row["expression"])
                if not 0 <= code <= 7:  # 8 none, 9 uncertain, 10 no-face
                    dropped[f"{sp}: expression code {code} (not one of the 8 emotions)"] += 1
                    continue
                x, y = float(row["face_x"]), float(row["face_y"])
                w, h = float(row["face_width"]), float(row["face_height"])
                samples.append(Sample(image_root / row["subDirectory_filePath"], AFFECTNET_LABELS[code],
                                      None, None, sp, (x, y, x + w, y + h)))
    return Dataset(f"affectnet/{split or 'all'}", "affectnet", root, EXPRESSIONS, samples, dict(dropped))


READERS: dict[str, Callable[..., Dataset]] = {
    "ferplus": read_ferplus,
    "fer2013": read_fer2013,
    "folders": read_folders,
    "lfw-expressions": read_lfw_expressions,
    "rafdb": read_rafdb,
    "affectnet": read_affectnet,
}


def detect_kind(root: Path) -> str:
    """Recognise a dataset's kind from its files."""
    if (root / "FER2013Train" / "label.csv").exists() or (root / "FER2013Test" / "label.csv").exists():
        return "ferplus"
    if ((root / "private_test").is_dir() and (root / "train").is_dir()) or looks_like_fer2013(root):
        return "fer2013"  # a FER2013 in another form: its reader says how to write the layout
    if (root / "labels.csv").exists() and (root / "images").is_dir():
        return "lfw-expressions"
    if (root / "EmoLabel" / "list_patition_label.txt").exists():
        return "rafdb"
    if (root / "training.csv").exists() or (root / "validation.csv").exists():
        return "affectnet"
    if any(p.is_dir() for p in root.iterdir()):
        return "folders"
    raise DatasetError(f"{root}: cannot tell the dataset kind ({_flat_contents(root)}); use KIND:PATH with KIND in "
                       f"{', '.join(READERS)} (folders: {FOLDERS_LAYOUT})")


def dataset_kind(spec: str | Path) -> tuple[str, Path]:
    """The reader kind and folder of a dataset spec ("KIND:PATH", or a PATH whose kind is detected).

    Raises:
        DatasetError: an unknown kind ("nosuch:/data" names no such folder: the kind is the mistake),
            a missing folder, or one whose kind cannot be told.
    """
    text = str(spec)
    kind, _, path = text.partition(":")
    if kind in READERS and path:
        root = Path(path)
    elif path and kind.isidentifier() and not Path(text).exists():
        raise DatasetError(f"{text}: unknown dataset kind {kind!r}; known: {', '.join(READERS)} (or give a folder "
                           "and let the kind be detected)")
    else:
        kind, root = "", Path(text)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset folder")
    return kind or detect_kind(root), root


def open_dataset(spec: str | Path, split: str | None = None, **options: object) -> Dataset:
    """Open a dataset.

    Args:
        spec: "KIND:PATH" or a PATH (kind detected).
        split: "train", "val", "test" (or an alias); None for every split.
        **options: reader options, e.g. protocol="probability" for FER+, aligned=False for
            RAF-DB, images=DIR for AffectNet. Unknown options raise.
    """
    kind, root = dataset_kind(spec)
    reader = READERS[kind]
    import inspect

    from ferx.registry import check_options

    valid = [p for p in inspect.signature(reader).parameters if p not in ("root", "split")]
    check_options(f"{kind} reader", options, valid, error=DatasetError)
    return reader(root, canonical_split(split), **options)
