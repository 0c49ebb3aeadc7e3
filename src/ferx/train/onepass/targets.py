"""Class targets of the one-pass detector's training faces: soft labels instead of one-hot.

Two sources of softness, each mixed with the face's dataset label as (1 − w)·one-hot + w·soft:
  * teachers (`teachers`, weight α = `distill_weight`): expression classifiers shown each face as the
    two-stage pipeline shows it — a FER+ face its 48×48 image, an lfw-expressions face the
    analyzer's aligned crop of its photo — un-augmented, once; `distill_sources` limits them to
    some sources (issue 26: lfw-expressions only, the two-stage teacher on the aligned crops);
  * FER+ votes (weight `ferplus_votes`): the ten annotators' distribution (FER+'s "probability"
    protocol) for FER+ faces the teachers do not teach.
A face neither reaches keeps its one-hot target.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ferx.errors import ConfigError
from ferx.facs import EXPRESSIONS
from ferx.train.onepass.data.mosaics import MosaicConfig, MosaicSplit

SOURCES = ("ferplus", "lfw-expressions")


def _teacher_soft(wanted: dict[str, list[str]], data: MosaicConfig, faces_from: str, teachers: list[str],
                  temperature: float, device: torch.device, progress: bool
                  ) -> tuple[dict[tuple[str, str], np.ndarray], dict[tuple[str, str], int]]:
    """The teachers' mean distribution (at `temperature`) and argmax (at T = 1) per (source, file)."""
    from ferx.data.readers import open_dataset
    from ferx.train.data import PhotoCrops, grey48, load_photo_crops
    from ferx.train.teachers import ensemble_distributions

    keys: list[tuple[str, str]] = []
    images: list[np.ndarray] = []
    if wanted.get("ferplus"):
        fer = open_dataset(f"ferplus:{data.ferplus}", faces_from, protocol="majority")
        by_name = {s.path.name: s.path for s in fer.samples}
        for name in wanted["ferplus"]:
            keys.append(("ferplus", name))
            images.append(grey48(by_name[name])[None])
    if wanted.get("lfw-expressions"):
        lfw = open_dataset(f"lfw-expressions:{data.lfw}")
        names = set(wanted["lfw-expressions"])
        subset = replace(lfw, samples=[s for s in lfw.samples if s.path.name in names])
        crops = load_photo_crops(subset, Path(data.cache_dir), progress=progress)
        keys += [("lfw-expressions", Path(p).name) for p in crops.paths]
        images += list(crops.images.numpy())
    if not keys:
        return {}, {}
    seen = PhotoCrops(torch.from_numpy(np.stack(images)), torch.zeros(len(keys), dtype=torch.int64), EXPRESSIONS, 0)
    target, mean = ensemble_distributions(teachers, seen, device, temperature)
    return dict(zip(keys, target.numpy().astype(np.float32))), dict(zip(keys, mean.argmax(1).tolist()))


def _vote_soft(names: list[str], data: MosaicConfig, faces_from: str) -> dict[tuple[str, str], np.ndarray]:
    """FER+ faces' vote distributions ("probability" protocol; images it drops are left out)."""
    from ferx.data.readers import open_dataset

    wanted = set(names)
    fer = open_dataset(f"ferplus:{data.ferplus}", faces_from, protocol="probability")
    return {("ferplus", s.path.name): np.asarray(s.soft, np.float32) for s in fer.samples
            if s.path.name in wanted and s.soft is not None}


def teacher_targets(split: MosaicSplit, data: MosaicConfig, teachers: list[str], weight: float, temperature: float,
                    device: torch.device, progress: bool = True, sources: tuple[str, ...] | list[str] = SOURCES,
                    votes: float = 0.0) -> tuple[list[np.ndarray], dict[str, dict[str, Any]]]:
    """Per mosaic (G, C) class targets (see module doc): teachers (weight α) on the faces of `sources`,
    FER+ votes (weight `votes`) on the FER+ faces the teachers do not see, one-hot otherwise.

    Also returns, per source: faces, how many were taught by the teachers / by votes, and how often
    the teachers' argmax agrees with the dataset label.
    """
    unknown = set(sources) - set(SOURCES)
    if unknown:
        raise ConfigError(f"distill_sources: unknown source(s) {sorted(unknown)}; use {', '.join(SOURCES)}")
    cols = split.manifest["faces_columns"]
    img_col, src_col, file_col = cols.index("image"), cols.index("source"), cols.index("file")
    rows = [r for r in split.manifest["faces"] if r[img_col] < len(split)]
    faces_from = split.manifest["faces_from"]
    taught = set(sources) if teachers and weight > 0 else set()
    wanted = {src: sorted({r[file_col] for r in rows if r[src_col] == src}) for src in SOURCES}
    soft, label_of = _teacher_soft({s: wanted[s] for s in taught}, data, faces_from, teachers, temperature,
                                   device, progress) if taught else ({}, {})
    vote = _vote_soft(wanted["ferplus"], data, faces_from) if votes > 0 and "ferplus" not in taught else {}
    eye = np.eye(len(EXPRESSIONS), dtype=np.float32)
    per_image: list[list[np.ndarray]] = [[] for _ in range(len(split))]
    stats = {src: {"faces": 0, "taught": 0, "agree": 0, "votes": 0} for src in SOURCES}
    for r in rows:
        label, key = int(r[cols.index("label")]), (r[src_col], r[file_col])
        st = stats[r[src_col]]
        st["faces"] += 1
        if key in soft:
            st["taught"] += 1
            st["agree"] += int(label_of[key] == label)
            per_image[r[img_col]].append((1.0 - weight) * eye[label] + weight * soft[key])
        elif key in vote:
            st["votes"] += 1
            per_image[r[img_col]].append((1.0 - votes) * eye[label] + votes * vote[key])
        else:
            per_image[r[img_col]].append(eye[label])
    out = [np.stack(f) if f else np.zeros((0, len(EXPRESSIONS)), np.float32) for f in per_image]
    report = {src: {"faces": v["faces"], "taught": v["taught"], "votes": v["votes"],
                    "agreement": v["agree"] / max(v["taught"], 1)} for src, v in stats.items() if v["faces"]}
    return out, report
