"""Training and evaluation of AU-guided expression classifiers on the shared harness.

    ferx train configs/ferplus-guided.yaml [key=value ...] [--out RUN] [--resume]
    ferx eval RUN_DIR [--split test] [--data SPEC] [--max-images N]

The run folder is the harness's (`ferx.train.harness.fit`): config.yaml, metrics.csv, log.txt,
last.pt, best.pt (best validation accuracy); after training, report.json (test metrics of best.pt
on the first `max_eval` test images, or all; it says how many of how many) and its confusion PNG.
`ferx eval` evaluates the whole split unless told `--max-images`: `max_eval` is a training-time
budget (per-epoch validation and the report right after training), not a property of the model. This module supplies the model (`ferx.train.models`), the data (face crops
with AU heatmaps, `ferx.train.data`) and the loss (cross-entropy + λ · attention alignment,
`ferx.train.metrics`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ferx.config import from_dict
from ferx.data.readers import Dataset, DatasetError, canonical_split, dataset_kind, open_dataset
from ferx.errors import ConfigError
from ferx.train.data import CropTensors, PhotoCrops, augment, domain_augment, load_crops, load_photo_crops
from ferx.train.harness import Randomness, Task, Validation, device, fit, normalise
from ferx.train.metrics import (
    alignment_loss,
    classification_report,
    distillation_loss,
    map_cosine,
    soft_cross_entropy,
)
from ferx.train.models import create_model
from ferx.train.runconfig import APPLY, REFUSE, RunConfig, check_distillation
from ferx.train.runlog import RunLog
from ferx.train.teachers import batch_logits, ensemble_distributions, load_classifier_run


@dataclass
class ClassifierTrainConfig(RunConfig):
    """One training run of a classifier (the optimiser, schedule and run keys: `RunConfig`).

    Attributes:
        data: dataset spec, KIND:PATH or PATH (see ferx.data.readers.open_dataset); required.
        train_protocol: FER+ label protocol for training targets ("majority", "probability").
        eval_protocol: FER+ protocol for validation and test ("majority" is the paper's headline).
        soft_labels: train on the targets' distributions (FER+ probability mode) instead of argmax.
        val_split, test_split: split names.
        architecture, model_options: see ferx.train.models.
        guidance_weight: λ of the AU alignment term; 0 trains without AU guidance.
        class_weighting: "none", "sqrt_inv" (weights ∝ 1/√frequency) or "inv".
        label_smoothing: ε of label smoothing (Szegedy et al. 2016): targets (1 − ε)·t + ε/C.
        augment: flips, small affine, random erasing.
        domain_augment: probability of each photometric change that imitates other cameras (gamma,
            contrast, blur, low resolution, JPEG; `ferx.train.data.domain_augment`); 0 = off.
        cross_val: a second validation set of full photos (dataset spec, e.g.
            "lfw-expressions:PATH"), cropped as the analyzer crops faces and scored every epoch
            (xval_accuracy, xval_macro_recall in metrics.csv); reported only, the checkpoint is
            still chosen on `val_split`. "" = none.
        teachers: models to distil from (Hinton et al. 2015): training run folders (their best.pt)
            or ONNX classifiers (a shipped name or NAME.onnx); their probabilities on the
            un-augmented training crops are computed once and averaged (an ensemble teacher).
        distill_weight: α; loss = (1 − α)·CE(targets) + α·T²·KL(teacher_T ‖ student_T) + λ·align.
        distill_temperature: T of the distillation term.
        cross_val_split, cross_val_options: its split ("" = the whole dataset) and reader options (lfw-expressions:
            split "val" with {partition: halves} is identity half A).
        cache_dir: landmark cache.
        max_train, max_eval: use only the first N training / validation images (smoke tests); 0 = all.
            max_eval also bounds the test report written right after training (report.json says
            "n" of "n_split"); `ferx eval` evaluates the whole split.
    """

    data: str = ""
    train_protocol: str = "majority"
    eval_protocol: str = "majority"
    soft_labels: bool = False
    val_split: str = "val"
    test_split: str = "test"
    architecture: str = "resnet-fer"
    model_options: dict[str, Any] = field(default_factory=dict)
    guidance_weight: float = 9.0
    class_weighting: str = "sqrt_inv"
    label_smoothing: float = 0.0
    augment: bool = True
    domain_augment: float = 0.0
    teachers: list[str] = field(default_factory=list)
    distill_weight: float = 0.0
    distill_temperature: float = 2.0
    cross_val: str = ""
    cross_val_split: str = "val"
    cross_val_options: dict[str, Any] = field(default_factory=dict)
    cache_dir: str = "runs/cache/landmarks"
    max_train: int = 0
    max_eval: int = 0
    # the harness's keys whose defaults differ for this model
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.05
    warmup_epochs: float = 1.0
    patience: int = 8

    resume_policy: ClassVar[dict[str, str]] = {
        **RunConfig.resume_policy,
        "data": REFUSE, "train_protocol": REFUSE, "eval_protocol": REFUSE, "soft_labels": REFUSE,
        "val_split": REFUSE, "test_split": REFUSE, "max_train": REFUSE, "max_eval": REFUSE,
        "architecture": REFUSE, "model_options": REFUSE, "guidance_weight": REFUSE, "class_weighting": REFUSE,
        "augment": REFUSE, "label_smoothing": REFUSE, "domain_augment": REFUSE,
        "teachers": REFUSE, "distill_weight": REFUSE, "distill_temperature": REFUSE,
        "cross_val": REFUSE, "cross_val_split": REFUSE, "cross_val_options": REFUSE,  # metrics.csv columns
        "cache_dir": APPLY,  # landmark cache location; its entries are keyed by file content
    }
    path_keys: ClassVar[tuple[str, ...]] = (*RunConfig.path_keys, "data", "cache_dir", "cross_val", "teachers")

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1); got {self.label_smoothing}")
        if not 0.0 <= self.domain_augment <= 1.0:
            raise ConfigError(f"domain_augment is a probability in [0, 1]; got {self.domain_augment}")
        check_distillation(self.teachers, self.distill_weight, self.distill_temperature)


def check_splits(train_split: str, val_split: str, test_split: str) -> None:
    """ConfigError unless the training, validation and test splits are three different splits (after
    the readers' aliases: public_test is val, private_test is test): every choice (best checkpoint,
    early stopping) is made on validation data, and the test split is for reporting only."""
    try:
        train_c, val_c, test_c = (canonical_split(s) for s in (train_split, val_split, test_split))
    except DatasetError as e:
        raise ConfigError(str(e)) from None
    if val_c == test_c:
        raise ConfigError(f"val_split {val_split!r} and test_split {test_split!r} are the same split ({val_c}): "
                          f"the best checkpoint and early stopping would be chosen on test data; "
                          f"validate on the dataset's validation split")
    if train_c in (val_c, test_c):
        raise ConfigError(f"val_split {val_split!r} and test_split {test_split!r} must differ from the training "
                          f"split {train_split!r}")


def _open(cfg: ClassifierTrainConfig, split: str, protocol: str, limit: int = 0) -> Dataset:
    if not cfg.data:
        raise ConfigError("data: no dataset given (a spec KIND:PATH, e.g. ferplus:PATH/TO/ferplus)")
    kind, _ = dataset_kind(cfg.data)  # an unknown KIND: or a missing folder is said here, in the readers' words
    return open_dataset(cfg.data, split, **({"protocol": protocol} if kind == "ferplus" else {})).head(limit)


def training_prior(targets: torch.Tensor, class_weights: torch.Tensor | None) -> list[float]:
    """The label prior a model learns from its training targets (N, C) — one-hot, soft or smoothed,
    as the loss sees them — under the run's class weights: mean target × weight, normalised. What
    `onnx-classifier`'s `prior: uniform` divides out (distillation targets are not counted)."""
    prior = targets.double().mean(0) * (1.0 if class_weights is None else class_weights.double().cpu())
    return [round(float(v), 6) for v in prior / prior.sum()]


def _class_weights(labels: torch.Tensor, n: int, mode: str) -> torch.Tensor | None:
    if mode == "none":
        return None
    if mode not in ("sqrt_inv", "inv"):
        raise ConfigError(f"class_weighting must be none, sqrt_inv or inv; got {mode!r}")
    counts = torch.bincount(labels, minlength=n).float().clamp(min=1)
    w = 1.0 / counts.sqrt() if mode == "sqrt_inv" else 1.0 / counts
    return w / (w * counts).sum() * counts.sum()  # mean weight over samples = 1


@torch.no_grad()
def predict(model: nn.Module, crops: CropTensors, device: torch.device, batch: int = 512) -> dict[str, np.ndarray]:
    """Probabilities, true-class CAM cosine and attention cosine for every crop."""
    model.eval()
    probs, cam_cos, att_cos = [], [], []
    for start in range(0, len(crops), batch):
        sl = slice(start, start + batch)
        out = model(normalise(crops.images[sl]).to(device))
        probs.append(torch.softmax(out["logits"], 1).cpu())
        true_cam = out["cam"][torch.arange(out["cam"].shape[0]), crops.labels[sl].to(device)].clamp(min=0)
        hm = crops.heatmaps[sl].to(device)
        cam_cos.append(map_cosine(true_cam, hm).cpu())
        att_cos.append(map_cosine(out["attention"], hm).cpu())
    has = crops.has_heatmap.numpy()
    return {
        "probs": torch.cat(probs).numpy(),
        "cam_cos": torch.cat(cam_cos).numpy()[has],
        "att_cos": torch.cat(att_cos).numpy()[has],
    }


def smooth_labels(targets: torch.Tensor, epsilon: float) -> torch.Tensor:
    """(1 − ε)·t + ε/C for target distributions t (B, C)."""
    return (1.0 - epsilon) * targets + epsilon / targets.shape[1]


def photo_probabilities(model: nn.Module, crops: PhotoCrops, device: torch.device) -> np.ndarray:
    if not len(crops):
        return np.zeros((0, len(crops.label_set)), np.float32)
    return torch.softmax(batch_logits(model, crops.images, device), 1).numpy()


def evaluate_photos(model: nn.Module, crops: PhotoCrops, device: torch.device) -> dict[str, Any]:
    """Accuracy, macro-recall (mean recall over the labels present) and the rest of
    `classification_report` on photo crops."""
    report = classification_report(crops.labels.numpy(), photo_probabilities(model, crops, device).argmax(1),
                                   crops.label_set)
    recalls = list(report["per_class_recall"].values())
    report["macro_recall"] = float(np.mean(recalls)) if recalls else float("nan")
    report["missed"] = crops.missed
    return report


def evaluate(model: nn.Module, crops: CropTensors, device: torch.device) -> dict[str, Any]:
    p = predict(model, crops, device)
    report = classification_report(crops.labels.numpy(), p["probs"].argmax(1), crops.label_set)
    report["cam_cos"] = float(p["cam_cos"].mean()) if len(p["cam_cos"]) else float("nan")
    report["att_cos"] = float(p["att_cos"].mean()) if len(p["att_cos"]) else float("nan")
    report["n_with_heatmap"] = int(len(p["att_cos"]))
    return report


class ClassifierTask(Task[ClassifierTrainConfig]):
    """Face crops with AU heatmaps → `create_model(architecture)` → CE + λ · (1 − cos(attention, heatmap))."""

    metric = "val_accuracy"
    losses = ("train_loss", "train_ce", "train_align")

    def __init__(self, config: ClassifierTrainConfig, progress: bool = True) -> None:
        check_splits("train", config.val_split, config.test_split)
        super().__init__(config)
        self.progress = progress

    def setup(self, device: torch.device, rng: Randomness, log: RunLog) -> nn.Module:
        cfg, cache = self.config, Path(self.config.cache_dir)
        self.device, self.generator = device, rng.torch
        self.train_crops = load_crops(_open(cfg, "train", cfg.train_protocol, cfg.max_train), cache,
                                      progress=self.progress)
        self.val_crops = load_crops(_open(cfg, cfg.val_split, cfg.eval_protocol, cfg.max_eval), cache,
                                    progress=self.progress)
        tr = self.train_crops
        log(f"train {len(tr)} ({int(tr.has_heatmap.sum())} with AU heatmaps, {tr.no_landmarks} without landmarks), "
            f"val {len(self.val_crops)}")
        self.teacher_soft: torch.Tensor | None = None
        if cfg.teachers and cfg.distill_weight > 0:
            self.teacher_soft, mean = ensemble_distributions(cfg.teachers, tr, device, cfg.distill_temperature)
            agree = float((mean.argmax(1) == tr.labels).float().mean())
            log(f"distilling from {len(cfg.teachers)} teacher(s) at T {cfg.distill_temperature}, α {cfg.distill_weight}; "
                f"the teachers' mean agrees with {100 * agree:.1f} % of the training labels")
        self.cross_crops: PhotoCrops | None = None
        if cfg.cross_val:
            ds = open_dataset(cfg.cross_val, cfg.cross_val_split or None, **cfg.cross_val_options)
            crops = load_photo_crops(ds, cache, progress=self.progress)
            unknown = sorted(set(crops.label_set) - set(tr.label_set))
            if unknown:
                raise ConfigError(f"cross_val {cfg.cross_val}: labels {unknown} are not among the training labels "
                                  f"{list(tr.label_set)}")
            to_train = torch.tensor([tr.label_set.index(lab) for lab in crops.label_set], dtype=torch.int64)
            self.cross_crops = PhotoCrops(crops.images, to_train[crops.labels] if len(crops) else crops.labels,
                                          tr.label_set, crops.missed, crops.paths)
            log(f"cross-dataset validation: {ds.name}, {len(self.cross_crops)} faces "
                f"({self.cross_crops.missed} photos without one)")
        weights = _class_weights(tr.labels, len(tr.label_set), cfg.class_weighting)
        self.class_weights = None if weights is None else weights.to(device)
        # the targets the loss sees, built once: soft or one-hot, smoothed when asked
        targets = tr.soft if cfg.soft_labels else torch.nn.functional.one_hot(tr.labels, len(tr.label_set)).float()
        self.targets = smooth_labels(targets, cfg.label_smoothing) if cfg.label_smoothing else targets
        self.train_prior = training_prior(self.targets, weights)
        return create_model(cfg.architecture, num_classes=len(tr.label_set), **cfg.model_options)

    def steps_per_epoch(self) -> int:
        return -(-len(self.train_crops) // self.config.batch_size)  # the last, smaller batch included

    def batches(self) -> list[torch.Tensor]:
        order = torch.randperm(len(self.train_crops), generator=self.generator)
        size = self.config.batch_size
        return [order[i * size : (i + 1) * size] for i in range(self.steps_per_epoch())]

    def step(self, model: nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
        tr, cfg = self.train_crops, self.config
        pixels = tr.images[batch]
        if cfg.domain_augment > 0:
            pixels = domain_augment(pixels, self.generator, p=cfg.domain_augment)
        images, heat = normalise(pixels), tr.heatmaps[batch].float()
        if cfg.augment:
            images, heat = augment(images, heat, self.generator)
        images, heat = images.to(self.device), heat.to(self.device)
        targets = self.targets[batch].to(self.device)
        outputs = model(images)
        ce = soft_cross_entropy(outputs["logits"], targets, self.class_weights)
        align = alignment_loss(outputs["attention"], heat, tr.has_heatmap[batch].to(self.device))
        if self.teacher_soft is not None:
            kd = distillation_loss(outputs["logits"], self.teacher_soft[batch].to(self.device), cfg.distill_temperature)
            ce = (1.0 - cfg.distill_weight) * ce + cfg.distill_weight * kd
        loss = ce + cfg.guidance_weight * align
        return loss, [loss.item(), ce.item(), align.item()]

    def validate(self, model: nn.Module) -> Validation:
        val = evaluate(model, self.val_crops, self.device)
        row = {"val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"], "val_cam_cos": val["cam_cos"],
               "val_att_cos": val["att_cos"]}
        if self.cross_crops is not None:
            cross = evaluate_photos(model, self.cross_crops, self.device)
            row.update({"xval_accuracy": cross["accuracy"], "xval_macro_recall": cross["macro_recall"]})
            val = {**val, "cross_val": cross}
        return Validation(row, val)

    def checkpoint_extras(self, model: nn.Module) -> dict[str, Any]:
        return {"label_set": self.train_crops.label_set, "train_prior": self.train_prior}


def train(config: ClassifierTrainConfig, out: Path, *, resume: bool = False, progress: bool = True) -> Path:
    """Train (or resume) a run in `out`, then report its best checkpoint on the test split (its first
    `max_eval` images when set: a smoke run stays small; report.json says how many of how many);
    returns `out`."""
    fit(ClassifierTask(config, progress), out, resume=resume, progress=progress)
    report = evaluate_run(out, split=config.test_split, progress=progress, limit=config.max_eval)
    log = RunLog(out, echo=progress)
    log(f"test ({images_evaluated(report)}): accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}, "
        f"CAM-COS {report['cam_cos']:.3f}, ATT-COS {report['att_cos']:.3f}"
        + ("" if report["n"] == report["n_split"] else f"; `ferx eval {out}` evaluates all {report['n_split']}"))
    log.close()
    return out


def images_evaluated(report: dict[str, Any]) -> str:
    """"128 of 3137 images of ferplus:majority/test": how much of the split a report covers."""
    return f"{report['n']} of {report.get('n_split', '?')} images of {report.get('dataset', '?')}"


def load_run_model(run: Path, device: torch.device | None = None) -> tuple[nn.Module, ClassifierTrainConfig, tuple[str, ...]]:
    """A run's best checkpoint (eval mode), its training config and its label order."""
    model, config, labels = load_classifier_run(run, device)
    return model, from_dict(ClassifierTrainConfig, config), labels


def evaluate_run(run: Path, split: str = "test", data: str | None = None, progress: bool = True,
                 limit: int = 0) -> dict[str, Any]:
    """Metrics of a run's best checkpoint on the whole split (or its first `limit` images); writes
    `report_name(...)` and its confusion PNG into the run folder. The report holds "n" (images
    evaluated) and "n_split" (images in the split) and, under "report", the file it was written to."""
    dev = device("auto")
    model, config, labels = load_run_model(run, dev)
    model.to(dev)
    if data:
        config.data = data
    whole = _open(config, split, config.eval_protocol)
    ds = whole.head(limit)
    crops = in_model_labels(load_crops(ds, Path(config.cache_dir), progress=progress), labels)
    report = evaluate(model, crops, dev)
    report.update({"run": str(run), "dataset": ds.name, "split": split, "dropped": ds.dropped, "n_split": len(whole)})
    path = Path(run) / report_name(split, config.test_split, ds if data else None)
    report["report"] = str(path)
    path.write_text(json.dumps(report, indent=1))
    _confusion_png(report, path.with_name(path.stem + "-confusion.png"))
    return report


def in_model_labels(crops: CropTensors, model_labels: tuple[str, ...]) -> CropTensors:
    """`crops` with their labels as indices into the model's label order: another dataset (`--data`)
    may name the same emotions in another order or only some of them, and scoring its indices against
    the model's outputs would compare different classes.

    Raises:
        ConfigError: the dataset has labels the model was not trained on.
    """
    if tuple(crops.label_set) == tuple(model_labels):
        return crops
    unknown = [label for label in crops.label_set if label not in model_labels]
    if unknown:
        raise ConfigError(f"the dataset's labels {unknown} are not among the model's ({', '.join(model_labels)})")
    to_model = torch.tensor([model_labels.index(label) for label in crops.label_set], dtype=torch.long)
    soft = torch.zeros(len(crops), len(model_labels), dtype=crops.soft.dtype)
    soft[:, to_model] = crops.soft
    return replace(crops, labels=to_model[crops.labels], soft=soft, label_set=tuple(model_labels))


def report_name(split: str, test_split: str, other: Dataset | None = None) -> str:
    """report.json for the run's own test split (what the export reads), report-SPLIT.json for its
    other splits, report-SPLIT-DATASET.json for another dataset (`--data`): its kind and folder name,
    so that evaluations on two datasets do not overwrite each other."""
    if other is None:
        return "report.json" if split == test_split else f"report-{split}.json"
    tag = other.kind if other.root.name.lower() == other.kind else f"{other.kind}-{other.root.name}"
    return f"report-{split}-{re.sub(r'[^A-Za-z0-9._-]+', '_', tag)}.json"


def _confusion_png(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.array(report["confusion"], float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    labels = report["labels"]
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{report.get('dataset', '')} — accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
