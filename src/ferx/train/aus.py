"""Image-reading AU heads (issue 11 phase 2): a region-restricted CNN trained weakly from FER+ vote
distributions through the FACS prior P(AU | expression), on the shared harness.

    python -m ferx.train.aus train configs/aus-heads.yaml [key=value ...] --out RUN [--resume]
    python -m ferx.train.aus export RUN --name au-heads [--out DIR]
    python -m ferx.train.aus report RUN DIR/au-heads.onnx        (held-out figures, once)

`train` runs `ferx.train.harness.fit` (config.yaml, metrics.csv, log.txt, last.pt every epoch,
best.pt by the mean validation AUC). `export` writes NAME.onnx + NAME.json and measures the
exported model: the per-AU calibration (rest / full), the fusion with the mesh estimate (image head,
mesh, or their mean — whichever separates the AU's expressions from neutral best) and the
reliability grade, all chosen on the choice data only (lfw-expressions identity half A + FER+
val), never the test splits; `report` gives the held-out figures (lfw half B, FER+ test) once, RUN/report.json.

Model (`AUHeadNet`, registered as architecture "au-heads"): the aligned 48×48 grey crop
(`ferx.facecrop`) → a shallow trunk (receptive field 13 px: 3×3 convs, two of stride 2) → a
(64, 12, 12) feature map; per AU its region mask (`ferx.aus.heads.region_masks`, from the mesh
landmarks) pools the map inside the region only, and a per-AU two-layer head gives one logit. So an
AU's output depends only on pixels near its own landmarks: it cannot read the whole-face expression.
Loss: binary cross-entropy to q_AU = Σₑ P(e | votes) P(AU | e) (Zhang, Dong, Hu & Ji, CVPR 2018)
plus `prior_weight` × two co-occurrence terms (AU12 and AU15 exclude each other; AU26 implies AU25).
The classifier's output is never seen.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ferx import facs
from ferx.aus.heads import GRID, HEAD_AUS, HEAD_CODES, au_targets, crop_points, intensity, region_masks
from ferx.config import from_dict
from ferx.errors import ConfigError
from ferx.facecrop import SIZE, TEMPLATE, aligned_crop
from ferx.train.harness import INPUT_NORMALISATION, Randomness, Task, Validation, fit, normalise
from ferx.train.models import ARCHITECTURES, create_model
from ferx.train.runconfig import APPLY, REFUSE, RunConfig
from ferx.train.runlog import RunLog

K = len(HEAD_AUS)


# -- model ----------------------------------------------------------------------------------------
def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


@ARCHITECTURES.register("au-heads")
class AUHeadNet(nn.Module):
    """Region-restricted AU heads on a shallow shared trunk.

    forward(image (B, 1, 48, 48) in [-1, 1], masks (B, K, 12, 12)) → logits (B, K).
    Receptive field of a feature cell: 13 px of the crop (convs 3, 3/2, 3, 3/2, then 1×1).

    Args:
        num_aus: K (columns of `ferx.aus.heads.HEAD_AUS`).
        widths: channels of the four 3×3 convs (the 1×1 keeps the last).
        hidden: units of each AU's hidden layer.
    """

    def __init__(self, num_aus: int = K, widths: tuple[int, ...] = (16, 32, 48, 64), hidden: int = 32,
                 in_channels: int = 1) -> None:
        super().__init__()
        w = tuple(widths)
        self.trunk = nn.Sequential(_conv(in_channels, w[0]), _conv(w[0], w[1], stride=2), _conv(w[1], w[2]),
                                   _conv(w[2], w[3], stride=2), _conv(w[3], w[3], k=1))
        self.w1 = nn.Parameter(torch.randn(num_aus, w[3], hidden) * (2.0 / w[3]) ** 0.5)
        self.b1 = nn.Parameter(torch.zeros(num_aus, hidden))
        self.w2 = nn.Parameter(torch.randn(num_aus, hidden) * (1.0 / hidden) ** 0.5)
        self.b2 = nn.Parameter(torch.zeros(num_aus))
        self.num_aus, self.in_channels = num_aus, in_channels

    def forward(self, image: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        feat = self.trunk(image)  # (B, C, 12, 12)
        pooled = torch.einsum("bkhw,bchw->bkc", masks, feat) / (masks.sum(dim=(2, 3))[..., None] + 1e-6)
        hid = torch.relu(torch.einsum("bkc,kcd->bkd", pooled, self.w1) + self.b1)
        return torch.einsum("bkd,kd->bk", hid, self.w2) + self.b2


# -- data -----------------------------------------------------------------------------------------
def prepare(image_paths: list[Path], landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1, 48, 48) uint8 aligned crops and (N, K, 12, 12) float16 region masks, as inference
    computes them (`ferx.aus.image_heads`)."""
    from PIL import Image

    crops = np.zeros((len(image_paths), 1, SIZE, SIZE), np.uint8)
    pts = np.zeros((len(image_paths), landmarks.shape[1], 2), np.float32)
    for i, (p, lm) in enumerate(zip(image_paths, landmarks)):
        with Image.open(p) as im:
            crops[i, 0] = aligned_crop(im.convert("L"), lm, SIZE)
        pts[i] = crop_points(lm)
    masks = np.concatenate([region_masks(pts[s : s + 1024]) for s in range(0, len(pts), 1024)] or
                           [np.zeros((0, K, GRID, GRID), np.float32)])
    return crops, masks.astype(np.float16)


def features(cache: Path, name: str) -> dict[str, np.ndarray]:
    """A measurement cache of benchmarks/au_features.py (lfw.npz, ferplus-SPLIT.npz)."""
    path = Path(cache) / f"{name}.npz"
    if not path.exists():
        raise ConfigError(f"{path} missing: run `python benchmarks/au_features.py --cache {cache}` first")
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def split_tensors(cfg: AUTrainConfig, split: str, limit: int = 0) -> dict[str, np.ndarray]:
    """FER+ SPLIT (faces the mesh found, majority label) as crops, masks, vote targets and labels;
    cached in `cfg.cache_dir`."""
    d = features(Path(cfg.features), f"ferplus-{split}")
    n = len(d["image"]) if not limit else min(limit, len(d["image"]))
    key = hashlib.sha1(f"{cfg.ferplus}|{split}|{n}|{GRID}|{HEAD_CODES}|v1".encode()).hexdigest()[:12]
    path = Path(cfg.cache_dir) / f"ferplus-{split}-{n}-{key}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    from ferx.data.readers import open_dataset

    root = Path(cfg.ferplus)
    votes = {f"{s.path.parent.name}/{s.path.name}": s.soft
             for s in open_dataset(f"ferplus:{root}", split, protocol="probability").samples}
    images = [str(x) for x in d["image"][:n]]
    soft = np.stack([votes.get(im, d["soft"][i]) for i, im in enumerate(images)]).astype(np.float32)
    crops, masks = prepare([root / im for im in images], d["landmarks"][:n])
    out = {"crops": crops, "masks": masks, "targets": au_targets(soft), "label": d["label"][:n]}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


# -- metrics --------------------------------------------------------------------------------------
def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Area under the ROC curve, ties counted half (as benchmarks/bench_au_validity.py)."""
    if not len(pos) or not len(neg):
        return float("nan")
    x = np.concatenate([pos, neg]).astype(np.float64)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inv]
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def grading_labels(number: int) -> list[str]:
    """The labels an AU is graded on (benchmarks/bench_au_validity.py): its defining prototypes, else
    every prototype that uses it."""
    core = [e for e in facs.EXPRESSIONS if number in facs.core_aus(e)]
    return core or [e for e, p in facs.EMOTION_PROTOTYPES.items() if number in p.supports]


def au_aucs(values: np.ndarray, labels: np.ndarray, numbers: tuple[int, ...] = HEAD_AUS) -> dict[int, float]:
    """AU → AUC of its column, grading labels' faces vs neutral faces."""
    neu = labels == "neutral"
    return {n: auc(values[np.isin(labels, grading_labels(n)), j], values[neu, j]) for j, n in enumerate(numbers)}


# -- training -------------------------------------------------------------------------------------
@dataclass
class AUTrainConfig(RunConfig):
    """One training run of the AU heads (the optimiser, schedule and run keys: `RunConfig`).

    Attributes:
        ferplus: the FER+ folder (FER2013Train/…); required.
        features: the cache of benchmarks/au_features.py (mesh landmarks of every FER+ crop, lfw).
        cache_dir: prepared crops and masks.
        architecture, model_options: see `AUHeadNet`.
        prior_weight: weight of the co-occurrence prior terms.
        augment: horizontal flips (image and masks together).
        max_train, max_eval: first N faces only (smoke tests); 0 = all.
    """

    ferplus: str = ""
    features: str = ""
    cache_dir: str = "runs/cache/au-heads"
    architecture: str = "au-heads"
    model_options: dict[str, Any] = field(default_factory=dict)
    prior_weight: float = 0.1
    augment: bool = True
    max_train: int = 0
    max_eval: int = 0
    epochs: int = 4
    batch_size: int = 64
    optimizer: str = "adamw"
    lr: float = 0.003
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.3
    threads: int = 1

    resume_policy: ClassVar[dict[str, str]] = {
        **RunConfig.resume_policy,
        "ferplus": REFUSE, "features": REFUSE, "architecture": REFUSE, "model_options": REFUSE,
        "prior_weight": REFUSE, "augment": REFUSE, "max_train": REFUSE, "max_eval": REFUSE,
        "cache_dir": APPLY,  # prepared tensors, keyed by their inputs
    }
    path_keys: ClassVar[tuple[str, ...]] = (*RunConfig.path_keys, "ferplus", "features", "cache_dir")


def prior_loss(probs: torch.Tensor) -> torch.Tensor:
    """Co-occurrence priors: AU12 and AU15 exclude each other; AU26 implies AU25."""
    j = {n: i for i, n in enumerate(HEAD_AUS)}
    return (probs[:, j[12]] * probs[:, j[15]]).mean() + torch.relu(probs[:, j[26]] - probs[:, j[25]]).mean()


@torch.no_grad()
def predict(model: nn.Module, crops: np.ndarray, masks: np.ndarray, device: torch.device, batch: int = 512) -> np.ndarray:
    """(N, K) head probabilities."""
    model.eval()
    out = []
    for s in range(0, len(crops), batch):
        x = normalise(torch.from_numpy(crops[s : s + batch])).to(device)
        m = torch.from_numpy(masks[s : s + batch].astype(np.float32)).to(device)
        out.append(torch.sigmoid(model(x, m)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, K), np.float32)


class AUTask(Task[AUTrainConfig]):
    """Aligned crops + region masks → `AUHeadNet` → BCE to the FACS-prior targets (+ priors)."""

    metric = "val_mean_auc"
    losses = ("train_loss", "train_bce", "train_prior")

    def __init__(self, config: AUTrainConfig, progress: bool = True) -> None:
        if not config.ferplus or not config.features:
            raise ConfigError("ferplus and features are required (the FER+ folder and the au_features cache)")
        super().__init__(config)
        self.progress = progress

    def setup(self, device: torch.device, rng: Randomness, log: RunLog) -> nn.Module:
        cfg = self.config
        self.device, self.generator = device, rng.torch
        t0 = time.time()
        self.train = split_tensors(cfg, "train", cfg.max_train)
        self.val = split_tensors(cfg, "val", cfg.max_eval)
        self.crops = torch.from_numpy(self.train["crops"])
        self.masks = torch.from_numpy(self.train["masks"])
        self.targets = torch.from_numpy(self.train["targets"])
        log(f"train {len(self.crops)} FER+ faces, val {len(self.val['crops'])} ({time.time() - t0:.0f} s to load); "
            f"{K} AU heads: {', '.join(HEAD_CODES)}")
        return create_model(cfg.architecture, num_aus=K, **cfg.model_options)

    def steps_per_epoch(self) -> int:
        return -(-len(self.crops) // self.config.batch_size)

    def batches(self) -> list[torch.Tensor]:
        order = torch.randperm(len(self.crops), generator=self.generator)
        size = self.config.batch_size
        return [order[i * size : (i + 1) * size] for i in range(self.steps_per_epoch())]

    def step(self, model: nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
        x, m = normalise(self.crops[batch]), self.masks[batch].float()
        if self.config.augment:
            flip = torch.rand(len(batch), generator=self.generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            m = torch.where(flip[:, None, None, None], m.flip(-1), m)
        logits = model(x.to(self.device), m.to(self.device))
        q = self.targets[batch].to(self.device)
        bce = F.binary_cross_entropy_with_logits(logits, q)
        prior = prior_loss(torch.sigmoid(logits))
        loss = bce + self.config.prior_weight * prior
        return loss, [loss.item(), bce.item(), prior.item()]

    def validate(self, model: nn.Module) -> Validation:
        p = predict(model, self.val["crops"], self.val["masks"], self.device)
        aucs = au_aucs(p, self.val["label"])
        bce = float(F.binary_cross_entropy(torch.from_numpy(p).clamp(1e-6, 1 - 1e-6),
                                           torch.from_numpy(self.val["targets"])))
        row = {"val_mean_auc": float(np.nanmean(list(aucs.values()))), "val_bce": bce,
               **{f"val_auc_AU{n}": v for n, v in aucs.items()}}
        return Validation(row, {"auc": {f"AU{n}": v for n, v in aucs.items()}, "bce": bce})

    def checkpoint_extras(self, model: nn.Module) -> dict[str, Any]:
        return {"aus": list(HEAD_CODES)}


def train(config: AUTrainConfig, out: Path, *, resume: bool = False, progress: bool = True) -> Path:
    """Train (or resume) a run in `out` (what `ferx train-aus` calls); returns `out`."""
    return fit(AUTask(config, progress), out, resume=resume, progress=progress)


def load_run_model(run: Path) -> tuple[nn.Module, AUTrainConfig]:
    state = torch.load(Path(run) / "best.pt", map_location="cpu", weights_only=False)
    config = from_dict(AUTrainConfig, state["config"])
    if list(state.get("aus", HEAD_CODES)) != list(HEAD_CODES):
        raise ConfigError(f"{run}: trained for {state['aus']}, this ferx has heads for {list(HEAD_CODES)}")
    model = create_model(config.architecture, num_aus=K, **config.model_options)
    model.load_state_dict(state["model"])
    return model.eval(), config


# -- export and measurement ---------------------------------------------------------------------
class _Export(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(image, masks))


#: Choices searched on lfw half A for the AU-only scorer (as benchmarks/bench_au_validity.py).
NEUTRAL_LEVELS = tuple(np.round(np.arange(0.04, 0.26, 0.01), 2))
TEMPERATURES = (0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3)
FUSIONS = ("mesh", "image", "mean")


def au_only_probabilities(aus: np.ndarray, blendshapes: np.ndarray, measured: np.ndarray, neutral: float,
                          temperature: float) -> np.ndarray:
    """(N, 8) AU-only expression probabilities: `facs.au_evidence`'s formula with the given measured mask."""
    support, oppose, unilateral = facs.evidence_matrices(measured)
    a = np.clip(np.nan_to_num(aus) / 5.0, 0, 1)
    ev = a @ support - 0.5 * (a[:, :, None] * oppose[None]).max(axis=1)
    ev = ev + (facs.one_sidedness(aus, blendshapes) / 5.0) @ unilateral
    return facs.evidence_probabilities(ev, neutral, temperature)


def _accuracy(p: np.ndarray, labels: np.ndarray) -> float:
    return float((np.array(facs.EXPRESSIONS)[p.argmax(1)] == labels).mean())


def _log_loss(p: np.ndarray, labels: np.ndarray) -> float:
    idx = np.array([facs.EXPRESSIONS.index(e) for e in labels])
    return float(-np.log(np.clip(p[np.arange(len(labels)), idx], 1e-9, 1)).mean())


def _choose_scoring(aus: np.ndarray, bs: np.ndarray, measured: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    neutral = max(NEUTRAL_LEVELS, key=lambda n: (_accuracy(au_only_probabilities(aus, bs, measured, n, 0.05), labels), -n))
    temp = min(TEMPERATURES, key=lambda t: _log_loss(au_only_probabilities(aus, bs, measured, neutral, t), labels))
    return float(neutral), float(temp)


#: Two heads whose logits correlate at least this much on lfw half A read the same thing.
INDISTINCT_CORRELATION = 0.95
#: The best grade of an AU read by the image head alone when its head is indistinct from another's.
INDISTINCT_CAP = "weak"


def indistinct_heads(probs: np.ndarray, fusion: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Grade caps for AUs read by the image head alone (`fusion` "image") whose head's logit
    correlates ≥ INDISTINCT_CORRELATION with another head's on the given faces: trained weakly from
    expression labels, two such heads answer "is this the expression whose prototype holds both",
    not which of the two movements it is, so neither AU's absence may be stated (AU23 lip tightener
    and AU24 lip pressor correlate at 0.99 on lfw A). An AU fused with the mesh keeps an
    independent source and is not capped."""
    logit = np.log(np.clip(probs, 1e-6, 1 - 1e-6)) - np.log(np.clip(1 - probs, 1e-6, 1))
    r = np.corrcoef(logit.T)
    out: dict[str, dict[str, Any]] = {}
    for j, code in enumerate(HEAD_CODES):
        if fusion.get(code) != "image":
            continue
        others = [(float(r[j, k]), HEAD_CODES[k]) for k in range(len(HEAD_CODES)) if k != j]
        best, other = max(others)
        if best >= INDISTINCT_CORRELATION:
            out[code] = {"cap": INDISTINCT_CAP, "correlation": round(best, 3), "with": other}
    return out


def _onnx_probs(onnx_path: Path, crops: np.ndarray, masks: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    x = crops.astype(np.float32) / 127.5 - 1.0
    return np.concatenate([sess.run(["probs"], {"image": x[s : s + 256], "masks": masks[s : s + 256].astype(np.float32)})[0]
                           for s in range(0, len(x), 256)])


def measure(onnx_path: Path, cfg: AUTrainConfig, lfw_root: Path, held_out: bool = False
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(sidecar measurements chosen on lfw half A + FER+ val, and with `held_out` the report on lfw
    half B + FER+ test — computed only when asked, so that exporting never shows test figures)."""
    cache = Path(cfg.features)
    lfw = features(cache, "lfw")
    sets: dict[str, dict[str, np.ndarray]] = {}
    crops, masks = prepare([lfw_root / "images" / str(im) for im in lfw["image"]], lfw["landmarks"])
    for half in ("A", "B") if held_out else ("A",):
        sel = lfw["half"] == half
        sets[f"lfw {half}"] = {"crops": crops[sel], "masks": masks[sel], "label": lfw["label"][sel],
                               "landmarks": lfw["landmarks"][sel], "blendshapes": lfw["blendshapes"][sel]}
    for split in ("val", "test") if held_out else ("val",):
        d = features(cache, f"ferplus-{split}")
        t = split_tensors(cfg, split)
        sets[f"FER+ {split}"] = {"crops": t["crops"], "masks": t["masks"], "label": d["label"],
                                 "landmarks": d["landmarks"], "blendshapes": d["blendshapes"]}
    for s in sets.values():
        s["probs"] = _onnx_probs(onnx_path, s["crops"], s["masks"])
        s["mesh"] = facs.au_intensities(s["blendshapes"], s["landmarks"])
    choice = ("lfw A", "FER+ val")
    # calibration on the choice data: rest = neutral 90th percentile, full = grading labels' 95th
    pa = np.concatenate([sets[c]["probs"] for c in choice])
    la = np.concatenate([sets[c]["label"] for c in choice])
    rest = np.percentile(pa[la == "neutral"], 90, axis=0)
    full = np.array([np.percentile(pa[np.isin(la, grading_labels(n)), j], 95) for j, n in enumerate(HEAD_AUS)])
    full = np.maximum(full, rest + 0.05)
    cols = [facs.AU_CODES.index(c) for c in HEAD_CODES]
    for s in sets.values():
        s["image"] = intensity(s["probs"], rest, full)
        s["meshK"] = s["mesh"][:, cols]
        s["mean"] = (s["image"] + s["meshK"]) / 2

    def validity(name: str, j: int, n: int, which: tuple[str, ...]) -> dict[str, float]:
        out = {}
        for c in which:
            s = sets.get(c, {})
            if c in sets:
                out[c] = au_aucs(s[name][:, [j]], s["label"], (n,))[n]
        return out

    per_au: dict[str, Any] = {}
    fused_choice: dict[str, str] = {}
    for j, n in enumerate(HEAD_AUS):
        row: dict[str, Any] = {}
        for fu in FUSIONS:
            name = "meshK" if fu == "mesh" else fu
            a = validity(name, j, n, tuple(sets))
            v = a["FER+ val"] if n == 14 else (a["lfw A"] + a["FER+ val"]) / 2
            row[fu] = {"validity": round(v, 3), **{k: round(x, 3) for k, x in a.items()}}
        best = max(FUSIONS, key=lambda f: (row[f]["validity"], f == "mesh"))  # ties keep the mesh
        fused_choice[f"AU{n}"] = best
        row["use"], row["grade"] = best, facs.grade_of(row[best]["validity"])
        row["mesh_grade"] = facs.grade_of(row["mesh"]["validity"])
        per_au[f"AU{n}"] = row
    for s in sets.values():
        s["fused"] = s["mesh"].copy()
        for j, n in enumerate(HEAD_AUS):
            src = {"mesh": s["meshK"], "image": s["image"], "mean": s["mean"]}[fused_choice[f"AU{n}"]]
            s["fused"][:, facs.AU_CODES.index(f"AU{n}")] = src[:, j]
    new_measured = facs.AU_MEASURED.copy()
    for code, r in per_au.items():
        new_measured[facs.AU_CODES.index(code)] = r["grade"] != "unreliable"
    accuracy: dict[str, Any] = {}
    for name, key, measured in (("mesh (today)", "mesh", facs.AU_MEASURED), ("fused, new grades", "fused", new_measured),
                                ("fused, today's grades", "fused", facs.AU_MEASURED)):
        s = sets["lfw A"]
        neutral, temp = _choose_scoring(s[key], s["blendshapes"], measured, s["label"])
        accuracy[name] = {"neutral": neutral, "temperature": temp}
        for c, s in sets.items():
            p = au_only_probabilities(s[key], s["blendshapes"], measured, neutral, temp)
            accuracy[name][c] = {"accuracy": round(_accuracy(p, s["label"]), 4), "log_loss": round(_log_loss(p, s["label"]), 3),
                                 "n": len(p)}
    caps = indistinct_heads(sets["lfw A"]["probs"], fused_choice)
    for code, cap in caps.items():  # the grades written are the ones the estimator reports
        per_au[code]["grade"] = facs.grade_of(per_au[code][per_au[code]["use"]]["validity"], cap["cap"])
    side = {"calibration": {"rest": [round(float(x), 4) for x in rest], "full": [round(float(x), 4) for x in full]},
            "fusion": fused_choice, "grades": {k: r["grade"] for k, r in per_au.items()},
            "validity": {k: r[r["use"]]["validity"] for k, r in per_au.items()}, "per_au": per_au,
            "grade_caps": caps,
            "evidence": {"neutral_evidence": accuracy["fused, new grades"]["neutral"],
                         "temperature": accuracy["fused, new grades"]["temperature"],
                         "chosen_on": "lfw-expressions identity half A: neutral level by accuracy, then "
                                      "temperature by log-loss"},
            "au_only": {m: {k: v for k, v in a.items() if k not in ("lfw B", "FER+ test")} for m, a in accuracy.items()}}
    if not held_out:
        return side, {}
    report = {"per_au": {k: {f: {c: r[f][c] for c in ("lfw B", "FER+ test")} for f in FUSIONS} | {"use": r["use"]}
                         for k, r in per_au.items()},
              "au_only": {m: {c: a[c] for c in ("lfw B", "FER+ test")} | {"neutral": a["neutral"], "temperature": a["temperature"]}
                          for m, a in accuracy.items()}}
    return side, report


def write_onnx(model: nn.Module, onnx_path: Path) -> Path:
    """The model as ONNX: inputs image (B, 1, 48, 48) in [-1, 1] and masks (B, K, 12, 12); output probs (B, K)."""
    torch.onnx.export(_Export(model).eval(), (torch.zeros(1, 1, SIZE, SIZE), torch.ones(1, K, GRID, GRID)),
                      str(onnx_path), input_names=["image", "masks"], output_names=["probs"],
                      dynamic_axes={"image": {0: "batch"}, "masks": {0: "batch"}, "probs": {0: "batch"}},
                      opset_version=17, dynamo=False)
    return onnx_path


def sidecar(model: nn.Module, onnx_path: Path, **extra: Any) -> dict[str, Any]:
    """The sidecar keys every AU model has (the measured ones come in `extra`)."""
    return {"name": onnx_path.stem, "kind": "au-heads", "aus": list(HEAD_CODES),
            "input": {"size": SIZE, "channels": 1, "grey": True, "normalise": INPUT_NORMALISATION,
                      "template_outer_eye_corners": TEMPLATE.tolist(), "mask_grid": GRID},
            "outputs": ["probs"], "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
            "parameters": int(sum(p.numel() for p in model.parameters())), **extra}


def export_aus(run: Path, name: str, out_dir: Path, lfw_root: Path) -> Path:
    """NAME.onnx (inputs image (B, 1, 48, 48) in [-1, 1], masks (B, K, 12, 12); output probs (B, K)) and
    NAME.json (AUs, input convention, calibration, fusion and grades measured on the choice data)."""
    model, config = load_run_model(run)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = write_onnx(model, out_dir / f"{name}.onnx")
    side, _ = measure(onnx_path, config, lfw_root)
    meta = sidecar(model, onnx_path, train_config=asdict(config),
                   measured_on="lfw-expressions identity half A + FER+ val (choice data)", **side)
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=1))
    (Path(run) / "validation.json").write_text(json.dumps({"model": name, **side}, indent=1))
    return onnx_path


def report_aus(run: Path, onnx_path: Path, lfw_root: Path) -> dict[str, Any]:
    """The held-out figures (lfw half B, FER+ test) of an exported model, once: RUN/report.json."""
    _, config = load_run_model(run)
    side, report = measure(onnx_path, config, lfw_root, held_out=True)
    out = {"model": str(onnx_path), **report, "choice": side}
    (Path(run) / "report.json").write_text(json.dumps(out, indent=1))
    return out


def main(argv: list[str] | None = None) -> int:
    from ferx.train.runconfig import load_run_config

    ap = argparse.ArgumentParser(prog="python -m ferx.train.aus")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("config")
    t.add_argument("overrides", nargs="*")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--resume", action="store_true")
    t.add_argument("--quiet", action="store_true")
    e = sub.add_parser("export")
    e.add_argument("run", type=Path)
    e.add_argument("--name", required=True)
    e.add_argument("--out", type=Path, default=Path("models"))
    e.add_argument("--lfw", type=Path, default=Path(__file__).resolve().parents[3].parent / "shared/data/lfw-expressions")
    r = sub.add_parser("report", help="held-out figures of an exported model (lfw half B, FER+ test), once")
    r.add_argument("run", type=Path)
    r.add_argument("model", type=Path, help="NAME.onnx exported from RUN")
    r.add_argument("--lfw", type=Path, default=e.get_default("lfw"))
    args = ap.parse_args(argv)
    try:
        if args.cmd == "train":
            cfg = load_run_config(AUTrainConfig, args.config, args.overrides, args.out, args.resume)
            train(cfg, args.out, resume=args.resume, progress=not args.quiet)
        elif args.cmd == "report":
            out = report_aus(args.run, args.model, args.lfw)
            print(json.dumps(out["au_only"], indent=1))
        else:
            path = export_aus(args.run, args.name, args.out, args.lfw)
            print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) and {path.with_suffix('.json')}; "
                  f"choice-data measurements {args.run / 'validation.json'}")
    except ConfigError as err:
        print(f"ferx: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
