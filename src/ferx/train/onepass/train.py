"""Training and evaluation of the one-pass detector on the shared harness (needs ferx[train]).

    ferx train-detector configs/onepass-vss.yaml [key=value ...] [--out RUN] [--resume]
    ferx eval-detector RUN_OR_MODEL.onnx [--split test] [--conf 0.01] [--nms 0.3] [--data CONFIG]

The run folder is the harness's (`ferx.train.harness.fit`): config.yaml, metrics.csv, log.txt,
last.pt, best.pt (EMA weights with the best validation face AP50:95); `ferx train-detector` then
writes report.json + pr.png on the test mosaics. This module supplies the model
(`ferx.train.onepass.model`), the data (mosaics, `ferx.train.onepass.data`, with flips, mixup and photometric
jitter) and the loss (SimOTA, `ferx.train.onepass.loss`).

Splits are fixed by name: training on "train", the best checkpoint chosen on "val", the report on
"test" (the config has no split keys, so a validation split equal to the test split cannot be
configured: `val_split=...` is an unknown key).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ferx.config import from_dict
from ferx.errors import ConfigError
from ferx.facs import EXPRESSIONS
from ferx.train.onepass.data.mosaics import SPLIT_NAMES, MosaicConfig, MosaicSplit
from ferx.train.onepass.data.store import load_split
from ferx.detect.onepass_decode import postprocess
from ferx.train.onepass.evaluate import Prediction, evaluate, pr_plot, summary
from ferx.train.onepass.loss import detection_loss
from ferx.train.onepass.photos import photo_figures, photo_set, predict_photos_torch
from ferx.train.onepass.targets import SOURCES, teacher_targets
from ferx.train.onepass.model import OnePassDetector, create_model
from ferx.train.harness import Randomness, Task, Validation, fit, load_best, normalise
from ferx.train.runconfig import APPLY, REFUSE, RunConfig, check_distillation
from ferx.train.runlog import RunLog


def class_weights(labels: list[np.ndarray], num_classes: int, exponent: float) -> np.ndarray | None:
    """(C,) float32 positive weights (n_max / n_c)^exponent from the training faces' labels, or None
    when exponent is 0. A class with no faces gets the largest weight of the others."""
    if exponent == 0:
        return None
    if exponent < 0:
        raise ConfigError(f"class_balance must be ≥ 0, got {exponent}")
    counts = np.bincount(np.concatenate(labels) if labels else np.zeros(0, np.int64), minlength=num_classes)
    seen = counts > 0
    if not seen.any():
        return None
    w = np.ones(num_classes)
    w[seen] = (counts[seen].max() / counts[seen]) ** exponent
    w[~seen] = w[seen].max()
    return w.astype(np.float32)


@dataclass
class DetectorTrainConfig(RunConfig):
    """One training run of the one-pass detector (the optimiser, schedule, EMA and run keys: `RunConfig`).

    Attributes:
        data: how the mosaics are made (`ferx.train.onepass.data.mosaics.MosaicConfig`).
        model: registered model name (`ferx.train.onepass.model.ARCHITECTURES`), model_options: constructor
            arguments that override the name's.
        mixup: probability of blending a training mosaic with another (union of the boxes);
            flip: probability of a horizontal flip; photometric: brightness/contrast jitter.
        val_conf, nms_iou: thresholds for validation predictions (low conf for AP).
        max_train, max_val: use only the first N mosaics (0 = all; for smoke tests).
        class_balance: exponent a of the class loss's positive weights (n_max / n_c)^a, n_c = training
            faces of class c (0 = unweighted; 0.5 = square-root inverse frequency). The rare labels
            (fear, disgust, contempt: ~1 % of faces each or less) are otherwise never predicted.
        teachers: expression classifiers to distil the class head from (training run folders or ONNX
            classifiers, as for `ferx train`; several are averaged). Each training face is shown to
            them as the two-stage pipeline shows it — a FER+ face its 48×48 image, an
            lfw-expressions face the analyzer's aligned crop of its photo (`teacher_targets`).
        distill_weight: α; a face's class target is (1 − α)·one-hot(label) + α·teacher distribution
            (faces the teachers cannot see — a photo without a face for the analyzer — keep one-hot).
        distill_temperature: T of the teachers' distributions, softmax(log p / T) (1 = as they are:
            the class loss is a per-label BCE, whose targets are already probabilities).
        distill_sources: which faces the teachers teach ("lfw-expressions", "ferplus"; default both).
        ferplus_votes: weight v of FER+ faces' vote distributions, (1 − v)·one-hot + v·votes, for the
            FER+ faces the teachers do not teach (0 = one-hot). See `ferx.train.onepass.targets`.
        val_photos: also validate every epoch on the whole lfw-expressions photos of validation
            identities, letterboxed as the stage does (`ferx.train.onepass.photos`): metrics.csv gets
            val_photo_found, val_photo_label_accuracy, val_photo_macro_recall (at `photo_conf`, of
            the faces found), val_expression, the mean of val_expr_map50 and val_photo_macro_recall,
            and the same two of all validation faces (a face not found counts as wrong):
            val_photo_macro_recall_of_all and val_expression_of_all — the column to select by,
            since one of found faces let a checkpoint win on the 4 faces it found (issue 26's runs).
        photo_conf: face-score threshold of the photo figures (the shipped model's 0.4).
        select: the validation column that chooses best.pt (larger is better; `SELECTABLE`).
    """

    data: MosaicConfig = field(default_factory=MosaicConfig)
    model: str = "onepass-nano-vss"
    model_options: dict[str, Any] = field(default_factory=dict)
    mixup: float = 0.15
    flip: float = 0.5
    photometric: bool = True
    val_conf: float = 0.01
    nms_iou: float = 0.3
    max_train: int = 0
    max_val: int = 0
    class_balance: float = 0.0
    teachers: list[str] = field(default_factory=list)
    distill_weight: float = 0.0
    distill_temperature: float = 1.0
    distill_sources: list[str] = field(default_factory=lambda: list(SOURCES))
    ferplus_votes: float = 0.0
    val_photos: bool = False
    photo_conf: float = 0.4
    select: str = "val_face_ap50_95"
    # the harness's keys whose defaults differ for this model (YOLOX-like: AdamW, EMA, clipping)
    epochs: int = 5
    batch_size: int = 16
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 0.5
    min_lr_ratio: float = 0.05
    ema: bool = True
    clip_grad_norm: float = 10.0

    #: `data.cache_dir` only says where the mosaics are stored (it is not part of their hash);
    #: val_conf and nms_iou define the validation AP that chooses best.pt.
    resume_policy: ClassVar[dict[str, str]] = {
        **RunConfig.resume_policy,
        "data": REFUSE, "data.cache_dir": APPLY,
        "model": REFUSE, "model_options": REFUSE, "max_train": REFUSE, "max_val": REFUSE,
        "mixup": REFUSE, "flip": REFUSE, "photometric": REFUSE, "class_balance": REFUSE,
        "val_conf": REFUSE, "nms_iou": REFUSE,
        "teachers": REFUSE, "distill_weight": REFUSE, "distill_temperature": REFUSE,
        "distill_sources": REFUSE, "ferplus_votes": REFUSE, "val_photos": REFUSE, "photo_conf": REFUSE,
        "select": REFUSE,
    }
    path_keys: ClassVar[tuple[str, ...]] = (*RunConfig.path_keys, "data", "teachers")

    def __post_init__(self) -> None:
        check_distillation(self.teachers, self.distill_weight, self.distill_temperature)
        if not 0.0 <= self.ferplus_votes <= 1.0:
            raise ConfigError(f"ferplus_votes is a weight in [0, 1]; got {self.ferplus_votes}")
        unknown = set(self.distill_sources) - set(SOURCES)
        if unknown:
            raise ConfigError(f"distill_sources: unknown source(s) {sorted(unknown)}; use {', '.join(SOURCES)}")
        allowed = SELECTABLE + (PHOTO_COLUMNS if self.val_photos else ())
        if self.select not in allowed:
            raise ConfigError(f"select: {self.select!r} is not a validation column of this config; use one of "
                              f"{', '.join(allowed)}" + ("" if self.val_photos else " (photo columns need val_photos)"))


#: validation columns that can choose best.pt; PHOTO_COLUMNS only with `val_photos`
SELECTABLE = ("val_face_ap50_95", "val_face_ap50", "val_expr_map50", "val_label_accuracy")
PHOTO_COLUMNS = ("val_photo_found", "val_photo_label_accuracy", "val_photo_macro_recall", "val_expression",
                 "val_photo_macro_recall_of_all", "val_expression_of_all")


class DetectorTask(Task[DetectorTrainConfig]):
    """Mosaics → `create_model(model)` → SimOTA detection loss (IoU + objectness + class)."""

    metric = "val_face_ap50_95"
    losses = ("loss", "iou", "obj", "cls")

    def __init__(self, config: DetectorTrainConfig, progress: bool = True) -> None:
        super().__init__(config)
        self.progress = progress
        self.metric = config.select

    def setup(self, device: torch.device, rng: Randomness, log: RunLog) -> nn.Module:
        cfg = self.config
        self.device, self.rng = device, rng.numpy
        # the model first: an unknown name or option fails before any mosaic is made (no data is
        # random in torch, so the initial weights are the same either way)
        model = create_model(cfg.model, num_classes=len(EXPRESSIONS), **cfg.model_options)
        self.train_split = _first(load_split(cfg.data, "train", self.progress), cfg.max_train)
        self.val_split = _first(load_split(cfg.data, "val", self.progress), cfg.max_val)
        pos_weight = class_weights(self.train_split.labels, len(EXPRESSIONS), cfg.class_balance)
        if pos_weight is not None:
            log("class loss positive weights: " + ", ".join(f"{n} {w:.2f}" for n, w in zip(EXPRESSIONS, pos_weight)))
        self.pos_weight = None if pos_weight is None else torch.from_numpy(pos_weight).to(device)
        tr = self.train_split
        self.class_targets: list[np.ndarray] | None = None
        teach = bool(cfg.teachers) and cfg.distill_weight > 0
        if teach or cfg.ferplus_votes > 0:
            self.class_targets, stats = teacher_targets(
                tr, cfg.data, cfg.teachers, cfg.distill_weight, cfg.distill_temperature, device, self.progress,
                sources=cfg.distill_sources, votes=cfg.ferplus_votes)
            log((f"distilling the class head from {len(cfg.teachers)} teacher(s), α {cfg.distill_weight}, "
                 f"T {cfg.distill_temperature}; " if teach else "") + f"FER+ votes weight {cfg.ferplus_votes}: " +
                "; ".join(f"{src} {v['taught']} of {v['faces']} faces taught (the teachers agree with "
                          f"{100 * v['agreement']:.1f} % of their labels), {v['votes']} by votes"
                          for src, v in stats.items()))
        self.val_photo_set = photo_set(cfg.data, "val") if cfg.val_photos else None
        log(f"{cfg.model}: train {len(tr)} mosaics ({sum(len(b) for b in tr.boxes)} faces), val {len(self.val_split)}; "
            f"data {cfg.data.folder()}")
        return model

    def parameter_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        """No weight decay on biases, norms and the scan's decay / step / skip parameters."""
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            (no_decay if p.ndim <= 1 or name.endswith(("a_log", "dt_bias", "d_skip")) else decay).append(p)
        return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]

    def steps_per_epoch(self) -> int:
        return len(self.train_split) // self.config.batch_size  # full batches only

    def batches(self) -> list[np.ndarray]:
        order = self.rng.permutation(len(self.train_split))
        size = self.config.batch_size
        return [np.sort(order[i * size : (i + 1) * size]) for i in range(self.steps_per_epoch())]

    def step(self, model: nn.Module, batch: np.ndarray) -> tuple[torch.Tensor, list[float]]:
        x, targets = make_batch(self.train_split, batch, self.config, self.rng, len(EXPRESSIONS), augment=True,
                                class_targets=self.class_targets)
        x = x.to(self.device)
        targets = [(b.to(self.device), c.to(self.device)) for b, c in targets]
        size = int(self.train_split.images.shape[-1])
        losses = detection_loss(model(x), (size, size), targets, self.pos_weight)
        return losses["loss"], [float(losses[k].detach()) for k in self.losses]

    def validate(self, model: nn.Module) -> Validation:
        val = evaluate_split(model, self.val_split, self.config.val_conf, self.config.nms_iou, self.device)
        row = {"val_face_ap50": val["face_ap50"], "val_face_ap50_95": val["face_ap50_95"],
               "val_expr_map50": val["expression_map50"],
               "val_label_accuracy": val["at_conf"]["label_accuracy_of_found_faces"]}
        record = summary(val)
        if self.val_photo_set is not None:
            preds = predict_photos_torch(model, self.val_photo_set, self.config.photo_conf, self.config.nms_iou,
                                         self.device)
            photos = photo_figures(preds, self.val_photo_set, self.config.photo_conf)
            labels = photos["labels"]  # no face found: accuracy and macro-recall 0, not NaN (best.pt compares them)
            row.update({"val_photo_found": photos["found"],
                        "val_photo_label_accuracy": float(np.nan_to_num(labels["accuracy"])),
                        "val_photo_macro_recall": float(np.nan_to_num(labels["macro_recall"]))})
            row["val_expression"] = (row["val_expr_map50"] + row["val_photo_macro_recall"]) / 2
            # every validation face counts, found or not: a checkpoint cannot win on the few it finds
            row["val_photo_macro_recall_of_all"] = float(np.nan_to_num(photos["labels_of_all"]["macro_recall"]))
            row["val_expression_of_all"] = (row["val_expr_map50"] + row["val_photo_macro_recall_of_all"]) / 2
            record["photos"] = photos
        return Validation(row, record)

    def checkpoint_extras(self, model: nn.Module) -> dict[str, Any]:
        return {"model_name": self.config.model, "model_config": dict(model.config), "labels": list(EXPRESSIONS)}


def _first(split: MosaicSplit, n: int) -> MosaicSplit:
    """The first n mosaics of a split (all when n is 0)."""
    if not n:
        return split
    return MosaicSplit(split.images[:n], split.boxes[:n], split.labels[:n], split.manifest)


def train(config: DetectorTrainConfig, out: Path, *, resume: bool = False, progress: bool = True) -> Path:
    """Train (or resume) a run in `out`; returns the run folder."""
    return fit(DetectorTask(config, progress), out, resume=resume, progress=progress)


def make_batch(split: MosaicSplit, idx: np.ndarray, cfg: DetectorTrainConfig, rng: np.random.Generator,
               num_classes: int, augment: bool, class_targets: list[np.ndarray] | None = None,
               ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Images (B, 1, S, S) and per image (boxes, class target distributions), with flip / mixup /
    jitter. `class_targets`: per mosaic (G, C) distributions (`teacher_targets`); None = one-hot labels."""
    images = np.asarray(split.images[idx], np.float32)
    size = images.shape[-1]
    targets = []
    eye = np.eye(num_classes, dtype=np.float32)

    def classes(i: int) -> np.ndarray:
        return class_targets[i] if class_targets is not None else eye[split.labels[i]].reshape(-1, num_classes)

    for j, i in enumerate(idx):
        boxes, cls = split.boxes[i].copy(), classes(i)
        if augment:
            if rng.random() < cfg.mixup:
                k = int(rng.integers(len(split)))
                r = float(rng.beta(8.0, 8.0))
                images[j] = r * images[j] + (1 - r) * np.asarray(split.images[k], np.float32)
                boxes = np.concatenate([boxes, split.boxes[k]])
                cls = np.concatenate([cls, classes(k)])
            if rng.random() < cfg.flip:
                images[j] = images[j][:, ::-1]
                boxes = np.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], 1) if len(boxes) else boxes
            if cfg.photometric:
                mean = images[j].mean()
                images[j] = np.clip((images[j] - mean) * rng.uniform(0.75, 1.25) + mean + rng.uniform(-20, 20), 0, 255)
        targets.append((torch.from_numpy(boxes.astype(np.float32)).reshape(-1, 4),
                        torch.from_numpy(np.ascontiguousarray(cls, np.float32)).reshape(-1, num_classes)))
    return normalise(torch.from_numpy(images)[:, None]), targets


@torch.no_grad()
def predict_torch(model: torch.nn.Module, images: np.ndarray, conf: float, nms_iou: float,
                  device: torch.device, batch: int = 16) -> list[Prediction]:
    """Predictions of a torch model on (N, S, S) grey canvases (no letterbox: canvases are square)."""
    model.eval()
    out: list[Prediction] = []
    for s in range(0, len(images), batch):
        x = normalise(torch.from_numpy(np.array(images[s : s + batch]))[:, None]).to(device)  # a copy: mmap is read-only
        maps = [m.float().cpu().numpy() for m in model(x)]
        for boxes, scores, probs in postprocess(maps, tuple(x.shape[2:]), conf, nms_iou):
            out.append(Prediction(boxes, scores, probs))
    return out


def evaluate_split(model: torch.nn.Module, split: MosaicSplit, conf: float, nms_iou: float,
                   device: torch.device) -> dict[str, Any]:
    preds = predict_torch(model, split.images, conf, nms_iou, device)
    return evaluate(preds, split.boxes, split.labels, EXPRESSIONS)


def load_run_model(run: Path, device: torch.device | None = None) -> tuple[OnePassDetector, dict[str, Any]]:
    """The best checkpoint's (EMA) model of a run, and the checkpoint record."""
    state = load_best(run, "detector", device)
    model = OnePassDetector(**state["model_config"])
    model.load_state_dict(state["model"])
    return model.eval(), state


def evaluate_target(target: Path, split: str = "test", conf: float = 0.01, nms_iou: float = 0.3,
                    data: MosaicConfig | None = None, progress: bool = True, threads: int = 0) -> dict[str, Any]:
    """Evaluate a run folder (torch, best.pt) or an exported NAME.onnx on a split's mosaics (any of
    `ferx.train.onepass.data.mosaics.SPLIT_NAMES`; "val-like-test" for choosing an exported model's settings).
    `data` says which mosaics (a training config's `data` section); default for a run folder: its own.

    AP uses every detection with face score ≥ `conf`; precision / recall / label accuracy are also
    given at an operating point: the exported model's recorded threshold (sidecar `defaults.conf`),
    or the paper's 0.5 for a run folder. Writes report[-SPLIT].json and pr[-SPLIT].png beside the
    run / model.
    """
    if split not in SPLIT_NAMES:
        raise ConfigError(f"unknown split {split!r}; use one of {', '.join(SPLIT_NAMES)}")
    operating = 0.5
    target = Path(target)
    if target.suffix == ".onnx":
        from ferx.detect.onepass import OnnxDetector

        if data is None:
            raise ConfigError("evaluating an .onnx model needs --data CONFIG.yaml (which mosaics to use)")
        ms = load_split(data, split, progress)
        det = OnnxDetector(str(target), threads=threads or 2)
        operating = float(det.meta.get("defaults", {}).get("conf", operating))
        preds = [Prediction(*det.predict(np.asarray(img), conf=conf, nms_iou=nms_iou)) for img in ms.images]
        where = target.parent / target.stem
        name = "model"
    else:
        if threads:
            torch.set_num_threads(threads)
        model, state = load_run_model(target)
        data = data or from_dict(DetectorTrainConfig, state["config"]).data
        ms = load_split(data, split, progress)
        preds = predict_torch(model, ms.images, conf, nms_iou, torch.device("cpu"))
        where = target
        name = state["model_name"]
    report = evaluate(preds, ms.boxes, ms.labels, EXPRESSIONS, conf=operating)
    out = summary(report)
    out.update({"target": str(target), "split": split, "mosaics": str(data.folder() / split), "conf": conf,
                "nms_iou": nms_iou})
    suffix = "" if split == "test" else f"-{split}"
    if target.suffix == ".onnx":
        json_path, png_path = Path(f"{where}-report{suffix}.json"), Path(f"{where}-pr{suffix}.png")
    else:
        json_path, png_path = where / f"report{suffix}.json", where / f"pr{suffix}.png"
    json_path.write_text(json.dumps(out, indent=1))
    pr_plot(report, png_path, title=f"{name} on {split} mosaics ({len(ms)} images, {report['faces']['n_gt']} faces)")
    return out
