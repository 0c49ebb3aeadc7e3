"""Training and evaluation of the one-pass detector (needs ferx[train]).

    ferx train-detector configs/onepass-vss.yaml [key=value ...] [--out RUN] [--resume]
    ferx eval-detector RUN_OR_MODEL.onnx [--split test] [--conf 0.01] [--nms 0.3]

A run folder holds config.yaml (resolved), metrics.csv (one row per epoch), log.txt, last.pt
(model, EMA, optimizer, RNG: everything to resume), best.pt (EMA weights with the best validation
face AP50:95), and after training report.json + pr.png on the test mosaics.

`--resume` continues from last.pt with the run's saved config.yaml (the CONFIG file is not re-read);
key=value overrides given with it are applied from the next epoch when the key is resumable
(`RESUME_POLICY`: epochs, threads, device, data.cache_dir) and recorded in log.txt and as a comment
at the end of config.yaml; any other key is refused with a usage error (exit 2).

Splits are fixed by name: training on "train", the best checkpoint chosen on "val", the report on
"test" (the config has no split keys, so a validation split equal to the test split cannot be
configured: `val_split=...` is an unknown key).
"""

from __future__ import annotations

import copy
import csv
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from ferx.config import ConfigError, from_dict, load_yaml
from ferx.facs import EXPRESSIONS
from ferx.onepass.data import SPLIT_NAMES, MosaicConfig, MosaicSplit, load_split
from ferx.onepass.decode import postprocess
from ferx.onepass.evaluate import Prediction, evaluate, pr_plot, summary
from ferx.onepass.loss import detection_loss
from ferx.onepass.model import OnePassDetector, create_model, model_config
from ferx.train.loop import APPLY, REFUSE, note_ignored_config, resume_changes, resume_note, write_run_config
from ferx.train.runlog import RunLog

#: What `--resume` does with a key whose value differs from the run's saved config.yaml (see
#: `ferx.train.loop.RESUME_POLICY` for the classifier). Every DetectorTrainConfig field is listed
#: (a test checks); a nested key follows its nearest listed parent.
#:   apply  — takes effect from the next epoch; recorded in log.txt and config.yaml.
#:   refuse — usage error: the mosaics, model, objective, optimiser, augmentation, the validation
#:            metric that picks best.pt, or the seed would differ between the epochs of one run.
#: `epochs` recomputes the cosine schedule over the new total (extending a run raises the learning
#: rate again), and may not go below the epochs already done. `data.cache_dir` only says where the
#: mosaics are stored (it is not part of their hash).
RESUME_POLICY: dict[str, str] = {
    "data": REFUSE, "data.cache_dir": APPLY,
    "model": REFUSE, "model_options": REFUSE, "seed": REFUSE, "max_train": REFUSE, "max_val": REFUSE,
    "batch_size": REFUSE, "optimizer": REFUSE, "lr": REFUSE, "weight_decay": REFUSE, "momentum": REFUSE,
    "warmup_epochs": REFUSE, "min_lr_ratio": REFUSE, "ema": REFUSE, "ema_decay": REFUSE,
    "mixup": REFUSE, "flip": REFUSE, "photometric": REFUSE, "class_balance": REFUSE,
    "val_conf": REFUSE, "nms_iou": REFUSE,  # the validation AP that chooses best.pt
    "epochs": APPLY, "threads": APPLY, "device": APPLY,
}


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
class DetectorTrainConfig:
    """One training run of the one-pass detector.

    Attributes:
        data: how the mosaics are made (`ferx.onepass.data.MosaicConfig`).
        model: registered model name (`ferx.onepass.model.model_names()`), model_options: overrides.
        epochs, batch_size: passes over the training mosaics, images per step.
        optimizer: "adamw" or "sgd"; lr, weight_decay, momentum (SGD); warmup_epochs (linear
            warm-up), then a cosine schedule down to lr · min_lr_ratio.
        ema, ema_decay: keep an exponential moving average of the weights (YOLOX: 0.9998 with a
            warm-up ramp), used for validation, checkpoints and export.
        mixup: probability of blending a training mosaic with another (union of the boxes);
            flip: probability of a horizontal flip; photometric: brightness/contrast jitter.
        val_conf, nms_iou: thresholds for validation predictions (low conf for AP).
        threads: torch CPU threads (0 = torch's default). seed: all randomness. device: auto/cpu/cuda.
        max_train, max_val: use only the first N mosaics (0 = all; for smoke tests).
        class_balance: exponent a of the class loss's positive weights (n_max / n_c)^a, n_c = training
            faces of class c (0 = unweighted; 0.5 = square-root inverse frequency). The rare labels
            (fear, disgust, contempt: ~1 % of faces each or less) are otherwise never predicted.
    """

    data: MosaicConfig = field(default_factory=MosaicConfig)
    model: str = "onepass-nano-vss"
    model_options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 5
    batch_size: int = 16
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 0.05
    momentum: float = 0.9
    warmup_epochs: float = 0.5
    min_lr_ratio: float = 0.05
    ema: bool = True
    ema_decay: float = 0.9998
    mixup: float = 0.15
    flip: float = 0.5
    photometric: bool = True
    val_conf: float = 0.01
    nms_iou: float = 0.3
    threads: int = 0
    seed: int = 0
    device: str = "auto"
    max_train: int = 0
    max_val: int = 0
    class_balance: float = 0.0


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def to_input(images: np.ndarray) -> torch.Tensor:
    """(B, H, W) uint8 grey → (B, 1, H, W) float in [-1, 1] (the convention the ONNX sidecar records)."""
    return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None] / 127.5 - 1.0


class ModelEMA:
    """Exponential moving average of a model's weights and buffers; decay ramps up as in YOLOX."""

    def __init__(self, model: torch.nn.Module, decay: float, updates: int = 0) -> None:
        self.module = copy.deepcopy(model).eval()
        self.decay, self.updates = decay, updates
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / 2000))
        msd = model.state_dict()
        for k, v in self.module.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
            else:
                v.copy_(msd[k])


def make_batch(split: MosaicSplit, idx: np.ndarray, cfg: DetectorTrainConfig, rng: np.random.Generator,
               num_classes: int, augment: bool) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
    """Images (B, 1, S, S) and per image (boxes, one-hot targets), with flip / mixup / jitter."""
    images = np.asarray(split.images[idx], np.float32)
    size = images.shape[-1]
    targets = []
    eye = np.eye(num_classes, dtype=np.float32)
    for j, i in enumerate(idx):
        boxes, labels = split.boxes[i].copy(), split.labels[i].copy()
        if augment:
            if rng.random() < cfg.mixup:
                k = int(rng.integers(len(split)))
                r = float(rng.beta(8.0, 8.0))
                images[j] = r * images[j] + (1 - r) * np.asarray(split.images[k], np.float32)
                boxes = np.concatenate([boxes, split.boxes[k]])
                labels = np.concatenate([labels, split.labels[k]])
            if rng.random() < cfg.flip:
                images[j] = images[j][:, ::-1]
                boxes = np.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], 1) if len(boxes) else boxes
            if cfg.photometric:
                mean = images[j].mean()
                images[j] = np.clip((images[j] - mean) * rng.uniform(0.75, 1.25) + mean + rng.uniform(-20, 20), 0, 255)
        targets.append((torch.from_numpy(boxes.astype(np.float32)).reshape(-1, 4),
                        torch.from_numpy(eye[labels] if len(labels) else np.zeros((0, num_classes), np.float32))))
    return torch.from_numpy(images)[:, None] / 127.5 - 1.0, targets


@torch.no_grad()
def predict_torch(model: torch.nn.Module, images: np.ndarray, conf: float, nms_iou: float,
                  device: torch.device, batch: int = 16) -> list[Prediction]:
    """Predictions of a torch model on (N, S, S) grey canvases (no letterbox: canvases are square)."""
    model.eval()
    out: list[Prediction] = []
    for s in range(0, len(images), batch):
        x = to_input(np.asarray(images[s : s + batch])).to(device)
        maps = [m.float().cpu().numpy() for m in model(x)]
        for boxes, scores, probs in postprocess(maps, tuple(x.shape[2:]), conf, nms_iou):
            out.append(Prediction(boxes, scores, probs))
    return out


def evaluate_split(model: torch.nn.Module, split: MosaicSplit, conf: float, nms_iou: float,
                   device: torch.device) -> dict[str, Any]:
    preds = predict_torch(model, split.images, conf, nms_iou, device)
    return evaluate(preds, split.boxes, split.labels, EXPRESSIONS)


def train(config: DetectorTrainConfig, out: Path, *, resume: bool = False, progress: bool = True) -> Path:
    """Train (or resume) a run in `out`; returns the run folder."""
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    saved = out / "config.yaml"
    note = ""
    if resume:
        if not (out / "last.pt").exists():
            raise ConfigError(f"{out}: nothing to resume (no last.pt)")
        # the saved config is the run's; `config` may differ from it only in resumable keys
        done = int(torch.load(out / "last.pt", map_location="cpu", weights_only=False)["epoch"]) + 1
        # through the dataclass, so that keys added to it since the run started count as their defaults
        run_config = asdict(from_dict(DetectorTrainConfig, load_yaml(saved)))
        changes = resume_changes(run_config, asdict(config), RESUME_POLICY, done)
        note = resume_note(changes, done + 1)
    if config.optimizer not in ("adamw", "sgd"):
        raise ConfigError(f"optimizer must be adamw or sgd, got {config.optimizer!r}")
    model_config(config.model, **config.model_options)  # unknown names / options raise before any work
    write_run_config(saved, asdict(config), resume, note)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = _device(config.device)
    say = RunLog(out, echo=progress)

    tr = load_split(config.data, "train", progress)
    va = load_split(config.data, "val", progress)
    if config.max_train:
        tr = MosaicSplit(tr.images[: config.max_train], tr.boxes[: config.max_train], tr.labels[: config.max_train], tr.manifest)
    if config.max_val:
        va = MosaicSplit(va.images[: config.max_val], va.boxes[: config.max_val], va.labels[: config.max_val], va.manifest)
    model = create_model(config.model, num_classes=len(EXPRESSIONS), **config.model_options).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    pos_weight = class_weights(tr.labels, len(EXPRESSIONS), config.class_balance)
    if pos_weight is not None:
        say("class loss positive weights: " + ", ".join(f"{n} {w:.2f}" for n, w in zip(EXPRESSIONS, pos_weight)))
        pos_weight = torch.from_numpy(pos_weight).to(device)
    say(f"{config.model}: {n_params / 1e6:.2f} M parameters; train {len(tr)} mosaics "
        f"({sum(len(b) for b in tr.boxes)} faces), val {len(va)}; device {device}; data {config.data.folder()}")

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith(("a_log", "dt_bias", "d_skip")) else decay).append(p)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=config.lr)
    else:
        opt = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)
    steps_per_epoch = len(tr) // config.batch_size
    if steps_per_epoch == 0:
        raise ConfigError(f"batch_size {config.batch_size} is larger than the {len(tr)} training mosaics")
    total = config.epochs * steps_per_epoch
    warm = int(config.warmup_epochs * steps_per_epoch)

    def lr_at(step: int) -> float:
        if step < warm:
            return config.lr * (step + 1) / warm
        t = (step - warm) / max(1, total - warm)
        return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))

    ema = ModelEMA(model, config.ema_decay) if config.ema else None
    rng = np.random.default_rng(config.seed)
    start_epoch, best = 0, -1.0
    if resume:
        state = torch.load(out / "last.pt", map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if ema is not None:
            ema.module.load_state_dict(state["ema"])
            ema.updates = state["ema_updates"]
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        start_epoch, best = state["epoch"] + 1, state["best"]
        say(f"resumed after epoch {start_epoch}, best val face AP50:95 {best:.4f}")
        if note:
            say(f"changed on resume {note}")
    metrics_path = out / "metrics.csv"
    columns = ["epoch", "lr", "loss", "iou", "obj", "cls", "val_face_ap50", "val_face_ap50_95",
               "val_expr_map50", "val_label_accuracy", "seconds"]
    if not metrics_path.exists() or start_epoch == 0:
        with open(metrics_path, "w", newline="") as f:
            csv.writer(f).writerow(columns)
    size = int(tr.images.shape[-1])

    for epoch in range(start_epoch, config.epochs):
        t0 = time.time()
        model.train()
        order = rng.permutation(len(tr))
        sums = np.zeros(4)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress,
                   leave=False, file=sys.stderr)
        for step in bar:
            idx = np.sort(order[step * config.batch_size : (step + 1) * config.batch_size])
            x, targets = make_batch(tr, idx, config, rng, len(EXPRESSIONS), augment=True)
            x = x.to(device)
            targets = [(b.to(device), c.to(device)) for b, c in targets]
            for g in opt.param_groups:
                g["lr"] = lr_at(epoch * steps_per_epoch + step)
            losses = detection_loss(model(x), (size, size), targets, pos_weight)
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            if ema is not None:
                ema.update(model)
            sums += [float(losses[k].detach()) for k in ("loss", "iou", "obj", "cls")]
            bar.set_postfix(loss=f"{sums[0] / (step + 1):.3f}")
        evaluated = ema.module if ema is not None else model
        val = evaluate_split(evaluated, va, config.val_conf, config.nms_iou, device)
        mean = sums / steps_per_epoch
        row = [epoch + 1, f"{lr_at((epoch + 1) * steps_per_epoch - 1):.6f}", *(f"{v:.4f}" for v in mean),
               f"{val['face_ap50']:.4f}", f"{val['face_ap50_95']:.4f}", f"{val['expression_map50']:.4f}",
               f"{val['at_conf']['label_accuracy_of_found_faces']:.4f}", f"{time.time() - t0:.0f}"]
        with open(metrics_path, "a", newline="") as f:
            csv.writer(f).writerow(row)
        record = {"model": evaluated.state_dict(), "model_name": config.model,
                  "model_config": asdict(evaluated.config), "config": asdict(config), "labels": list(EXPRESSIONS),
                  "epoch": epoch, "val": summary(val)}
        if val["face_ap50_95"] > best:
            best = val["face_ap50_95"]
            torch.save(record, out / "best.pt")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                    "ema": None if ema is None else ema.module.state_dict(),
                    "ema_updates": 0 if ema is None else ema.updates, "rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(), "epoch": epoch, "best": best}, out / "last.pt")
        say(f"epoch {epoch + 1}: loss {mean[0]:.3f} (iou {mean[1]:.3f} obj {mean[2]:.3f} cls {mean[3]:.3f}) "
            f"val face AP50 {val['face_ap50']:.3f} AP50:95 {val['face_ap50_95']:.3f} expression mAP50 "
            f"{val['expression_map50']:.3f} ({time.time() - t0:.0f} s)")
    say.close()
    return out


def load_run_model(run: Path, device: torch.device | None = None) -> tuple[OnePassDetector, dict[str, Any]]:
    """The best checkpoint's (EMA) model of a run, and the checkpoint record."""
    path = Path(run) / "best.pt"
    if not path.is_file():
        raise ConfigError(f"{run}: no best.pt (not a detector run folder, or no epoch finished)")
    state = torch.load(path, map_location=device or "cpu", weights_only=False)
    from ferx.onepass.model import ModelConfig

    model = OnePassDetector(ModelConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    return model.eval(), state


def evaluate_target(target: Path, split: str = "test", conf: float = 0.01, nms_iou: float = 0.3,
                    data_config: Path | None = None, progress: bool = True, threads: int = 0) -> dict[str, Any]:
    """Evaluate a run folder (torch, best.pt) or an exported NAME.onnx on a split's mosaics (any of
    `ferx.onepass.data.SPLIT_NAMES`; "val-like-test" for choosing an exported model's settings).

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
        from ferx.onepass.stage import OnnxDetector

        if data_config is None:
            raise ConfigError("evaluating an .onnx model needs --data CONFIG.yaml (which mosaics to use)")
        cfg = from_dict(DetectorTrainConfig, load_yaml(data_config))
        ms = load_split(cfg.data, split, progress)
        det = OnnxDetector(str(target), threads=threads or 2)
        operating = float(det.meta.get("defaults", {}).get("conf", operating))
        preds = [Prediction(*det.predict(np.asarray(img), conf=conf, nms_iou=nms_iou)) for img in ms.images]
        where = target.parent / target.stem
        name = "model"
    else:
        if threads:
            torch.set_num_threads(threads)
        model, state = load_run_model(target)
        cfg = from_dict(DetectorTrainConfig, state["config"]) if data_config is None else \
            from_dict(DetectorTrainConfig, load_yaml(data_config))
        ms = load_split(cfg.data, split, progress)
        preds = predict_torch(model, ms.images, conf, nms_iou, torch.device("cpu"))
        where = target
        name = state["model_name"]
    report = evaluate(preds, ms.boxes, ms.labels, EXPRESSIONS, conf=operating)
    out = summary(report)
    out.update({"target": str(target), "split": split, "mosaics": str(cfg.data.folder() / split), "conf": conf,
                "nms_iou": nms_iou})
    suffix = "" if split == "test" else f"-{split}"
    if target.suffix == ".onnx":
        json_path, png_path = Path(f"{where}-report{suffix}.json"), Path(f"{where}-pr{suffix}.png")
    else:
        json_path, png_path = where / f"report{suffix}.json", where / f"pr{suffix}.png"
    json_path.write_text(json.dumps(out, indent=1))
    pr_plot(report, png_path, title=f"{name} on {split} mosaics ({len(ms)} images, {report['faces']['n_gt']} faces)")
    return out


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """["epochs=3", "data.train_images=100"] → nested dict (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like key=value")
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(value)
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v
    return base


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m ferx.onepass.train")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a one-pass detector")
    t.add_argument("config")
    t.add_argument("overrides", nargs="*", help="key=value, nested keys with dots (data.train_images=500)")
    t.add_argument("--out", help="run folder (default runs/<config name>)")
    t.add_argument("--resume", action="store_true",
                   help="continue RUN from last.pt with its saved config.yaml; overrides of resumable keys "
                        "(epochs, threads, device, data.cache_dir) are applied and recorded, others refused")
    t.add_argument("--quiet", action="store_true")
    e = sub.add_parser("eval", help="evaluate a run folder or an exported .onnx model")
    e.add_argument("target")
    e.add_argument("--split", default="test", help="train, val, test or val-like-test (validation faces on "
                   "test-shaped mosaics: for choosing an exported model's settings)")
    e.add_argument("--conf", type=float, default=0.01, help="score threshold for AP (default 0.01)")
    e.add_argument("--nms", type=float, default=0.3, help="NMS IoU (default 0.3, the paper's)")
    e.add_argument("--data", type=Path, help="training YAML whose mosaics to use (required for .onnx)")
    e.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        if args.command == "train":
            if args.resume and not args.out:
                raise ConfigError("--resume needs --out RUN (the run folder to continue)")
            out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
            overrides = parse_overrides(args.overrides)
            if args.resume and (out / "config.yaml").exists():
                # the run's own config is the base; the command line's overrides change it
                base = load_yaml(out / "config.yaml")
                note_ignored_config(args.config, base, overrides)
            else:
                base = load_yaml(args.config)
            cfg = from_dict(DetectorTrainConfig, _merge(base, overrides))
            train(cfg, out, resume=args.resume, progress=not args.quiet)
            report = evaluate_target(out, "test", progress=not args.quiet)
            print(json.dumps({k: report[k] for k in ("face_ap50", "face_ap50_95", "expression_map50",
                                                     "expression_map50_95")}, indent=1))
        else:
            report = evaluate_target(Path(args.target), args.split, args.conf, args.nms, args.data, threads=args.threads)
            print(json.dumps({k: report[k] for k in ("face_ap50", "face_ap50_95", "expression_map50",
                                                     "expression_map50_95", "at_conf")}, indent=1))
    except (ConfigError, FileNotFoundError) as e:
        print(f"ferx: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
