"""Training and evaluation of AU-guided expression classifiers.

    python -m ferx.train train configs/ferplus-guided.yaml [key=value ...] [--resume]
    python -m ferx.train eval RUN_DIR [--split test]

A run folder holds: config.yaml (resolved), metrics.csv (one row per epoch), last.pt (everything
needed to resume), best.pt (best validation accuracy), report.json (test metrics of best.pt), and
log.txt. CUDA is used when present (`device: auto`).

`--resume` continues from last.pt with the run's saved config.yaml (the CONFIG file is not re-read);
key=value overrides given with it are applied from the next epoch when the key is resumable
(`RESUME_POLICY`: epochs, patience, threads, device, cache_dir) and recorded in log.txt and as a
comment at the end of config.yaml; any other key is refused with a usage error (exit 2), since the
checkpoint and the run's record would no longer describe one experiment.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from ferx.config import ConfigError, from_dict, load_yaml
from ferx.data.readers import READERS, Dataset, DatasetError, canonical_split, detect_kind, open_dataset
from ferx.train.data import CropTensors, augment, load_crops, normalise
from ferx.train.metrics import alignment_loss, classification_report, map_cosine, soft_cross_entropy
from ferx.train.models import create_model
from ferx.train.runlog import RunLog


@dataclass
class TrainConfig:
    """One training run.

    Attributes:
        data: dataset spec (see ferx.data.readers.open_dataset).
        train_protocol: FER+ label protocol for training targets ("majority", "probability").
        eval_protocol: FER+ protocol for validation and test ("majority" is the paper's headline).
        soft_labels: train on the targets' distributions (FER+ probability mode) instead of argmax.
        val_split, test_split: split names.
        architecture, model_options: see ferx.train.models.
        guidance_weight: λ of the AU alignment term; 0 trains without AU guidance.
        class_weighting: "none", "sqrt_inv" (weights ∝ 1/√frequency) or "inv".
        epochs, batch_size, lr, momentum, weight_decay, warmup_epochs: SGD with a cosine schedule.
        patience: stop after this many epochs without a better validation accuracy.
        augment: flips, small affine, random erasing.
        seed: everything random derives from it.
        threads: torch CPU threads (0 = torch's default).
        device: "auto", "cpu" or "cuda".
        cache_dir: landmark cache.
        max_train, max_eval: use only the first N training / evaluation images (smoke tests); 0 = all.
        init_from: a checkpoint (e.g. another run's best.pt) whose model weights start this run
            (fine-tuning, or a warm restart of the schedule); "" = random initialisation.
    """

    data: str = "ferplus:../shared/data/ferplus"
    train_protocol: str = "majority"
    eval_protocol: str = "majority"
    soft_labels: bool = False
    val_split: str = "val"
    test_split: str = "test"
    architecture: str = "resnet-fer"
    model_options: dict[str, Any] = field(default_factory=dict)
    guidance_weight: float = 9.0
    class_weighting: str = "sqrt_inv"
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 1
    patience: int = 8
    augment: bool = True
    seed: int = 0
    threads: int = 0
    device: str = "auto"
    cache_dir: str = "runs/cache/landmarks"
    max_train: int = 0
    max_eval: int = 0
    init_from: str = ""


APPLY, REFUSE = "apply", "refuse"

#: What `--resume` does with a key whose value differs from the run's saved config.yaml. Every
#: TrainConfig field is listed (a test checks), so a new key needs a decision.
#:   apply  — takes effect from the next epoch; recorded in log.txt and config.yaml.
#:   refuse — usage error: the data, split, labels, model, objective, optimiser settings or seed
#:            would differ between the epochs of one run, so neither last.pt nor the run's record
#:            would describe one experiment. Start a new run instead (`init_from=RUN/last.pt` starts
#:            it from this run's weights).
#: `epochs` recomputes the cosine schedule over the new total (extending a run raises the learning
#: rate again), and may not go below the epochs already done.
RESUME_POLICY: dict[str, str] = {
    "data": REFUSE, "train_protocol": REFUSE, "eval_protocol": REFUSE, "soft_labels": REFUSE,
    "val_split": REFUSE, "test_split": REFUSE, "max_train": REFUSE, "max_eval": REFUSE,
    "architecture": REFUSE, "model_options": REFUSE, "init_from": REFUSE,
    "guidance_weight": REFUSE, "class_weighting": REFUSE, "augment": REFUSE, "seed": REFUSE,
    "batch_size": REFUSE, "lr": REFUSE, "momentum": REFUSE, "weight_decay": REFUSE, "warmup_epochs": REFUSE,
    "epochs": APPLY, "patience": APPLY,
    "threads": APPLY, "device": APPLY,  # where it runs, not what it learns
    "cache_dir": APPLY,  # landmark cache location; its entries are keyed by file content
}
RESUME_NOTE = "# resumed"


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"data": {"seed": 0}} → {"data.seed": 0} (lists and scalars are leaves)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def resume_changes(saved: dict[str, Any], given: dict[str, Any], policy: dict[str, str], done_epochs: int
                   ) -> list[tuple[str, Any, Any]]:
    """(key, saved value, given value) of every key whose value differs between the run's saved
    config and the one it is resumed with; ConfigError naming the keys that `policy` refuses
    (a dotted key follows its nearest listed parent; a key listed nowhere is refused)."""
    missing = object()
    fs, fg = _flatten(saved), _flatten(given)
    changes = [(k, fs.get(k, missing), fg.get(k, missing)) for k in sorted(set(fs) | set(fg))
               if fs.get(k, missing) != fg.get(k, missing)]

    def rule(key: str) -> str:
        parts = key.split(".")
        for n in range(len(parts), 0, -1):
            if ".".join(parts[:n]) in policy:
                return policy[".".join(parts[:n])]
        return REFUSE

    refused = [k for k, _, _ in changes if rule(k) != APPLY]
    if refused:
        allowed = ", ".join(k for k, v in policy.items() if v == APPLY)
        raise ConfigError(f"--resume cannot change {', '.join(refused)} (the checkpoint and the run's record would "
                          f"no longer describe one experiment; start a new run, e.g. with init_from=RUN/last.pt); "
                          f"keys that can change on resume: {allowed}")
    for k, _, new in changes:
        if k == "epochs" and isinstance(new, int) and new < done_epochs:
            raise ConfigError(f"--resume cannot set epochs={new}: the run has already done {done_epochs} epochs")
    return [(k, None if a is missing else a, None if b is missing else b) for k, a, b in changes]


def write_run_config(path: Path, config: dict[str, Any], resumed: bool, note: str = "") -> None:
    """config.yaml: the run's current config, then the changes made at earlier resumes as comment
    lines (kept when `resumed`, so the file tells which values held for which epochs)."""
    history = [line for line in path.read_text().splitlines() if line.startswith(RESUME_NOTE)] \
        if resumed and path.exists() else []
    if note:
        history.append(f"{RESUME_NOTE} {note}")
    path.write_text(yaml.safe_dump(config, sort_keys=False) + "".join(f"{line}\n" for line in history))


def resume_note(changes: list[tuple[str, Any, Any]], first_epoch: int) -> str:
    """One line saying what changed and from which epoch (1-based) it holds; "" when nothing did."""
    if not changes:
        return ""
    what = ", ".join(f"{k} {a!r} -> {b!r}" for k, a, b in changes)
    return f"at epoch {first_epoch} ({time.strftime('%Y-%m-%d %H:%M')}): {what}"


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


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """["lr=0.1", "model_options={widths: [32, 64]}"] → {"lr": 0.1, ...} (values parsed as YAML)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like key=value")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _open(cfg: TrainConfig, split: str, protocol: str, limit: int = 0) -> Dataset:
    kind = cfg.data.partition(":")[0]
    if kind not in READERS:
        kind = detect_kind(Path(cfg.data))
    ds = open_dataset(cfg.data, split, **({"protocol": protocol} if kind == "ferplus" else {}))
    if limit:
        ds = Dataset(ds.name, ds.kind, ds.root, ds.label_set, ds.samples[:limit], ds.dropped)
    return ds


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _class_weights(labels: torch.Tensor, n: int, mode: str) -> torch.Tensor | None:
    if mode == "none":
        return None
    counts = torch.bincount(labels, minlength=n).float().clamp(min=1)
    w = 1.0 / counts.sqrt() if mode == "sqrt_inv" else 1.0 / counts
    if mode not in ("sqrt_inv", "inv"):
        raise ConfigError(f"class_weighting must be none, sqrt_inv or inv; got {mode!r}")
    return w / (w * counts).sum() * counts.sum()  # mean weight over samples = 1


@torch.no_grad()
def predict(model: torch.nn.Module, crops: CropTensors, device: torch.device, batch: int = 512) -> dict[str, np.ndarray]:
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


def evaluate(model: torch.nn.Module, crops: CropTensors, device: torch.device) -> dict[str, Any]:
    p = predict(model, crops, device)
    report = classification_report(crops.labels.numpy(), p["probs"].argmax(1), crops.label_set)
    report["cam_cos"] = float(p["cam_cos"].mean()) if len(p["cam_cos"]) else float("nan")
    report["att_cos"] = float(p["att_cos"].mean()) if len(p["att_cos"]) else float("nan")
    report["n_with_heatmap"] = int(len(p["att_cos"]))
    return report


def train(config: TrainConfig, out: Path, *, resume: bool = False, progress: bool = True) -> Path:
    """Train (or resume) a run in `out`; returns the run folder."""
    from tqdm import tqdm

    check_splits("train", config.val_split, config.test_split)
    out.mkdir(parents=True, exist_ok=True)
    saved = out / "config.yaml"
    resuming = resume and (out / "last.pt").exists()
    note = ""
    if resuming:
        # the saved config is the run's; `config` may differ from it only in resumable keys
        done = int(torch.load(out / "last.pt", map_location="cpu", weights_only=False)["epoch"]) + 1
        # through the dataclass, so that keys added to it since the run started count as their defaults
        run_config = asdict(from_dict(TrainConfig, load_yaml(saved)))
        changes = resume_changes(run_config, asdict(config), RESUME_POLICY, done)
        note = resume_note(changes, done + 1)
    write_run_config(saved, asdict(config), resuming, note)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = _device(config.device)
    say = RunLog(out, echo=progress)

    cache = Path(config.cache_dir)
    tr = load_crops(_open(config, "train", config.train_protocol, config.max_train), cache, progress=progress)
    va = load_crops(_open(config, config.val_split, config.eval_protocol, config.max_eval), cache, progress=progress)
    say(f"train {len(tr)} ({int(tr.has_heatmap.sum())} with AU heatmaps, {tr.no_landmarks} without landmarks), "
        f"val {len(va)}; device {device}")

    model = create_model(config.architecture, num_classes=len(tr.label_set), **config.model_options).to(device)
    if config.init_from:  # a resume then overwrites these with last.pt
        init = Path(config.init_from)
        if not init.is_file():
            raise FileNotFoundError(f"init_from: no checkpoint at {init}")
        model.load_state_dict(torch.load(init, map_location=device, weights_only=False)["model"])
        say(f"model weights from {init}")
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                          weight_decay=config.weight_decay, nesterov=True)
    steps_per_epoch = -(-len(tr) // config.batch_size)
    total = config.epochs * steps_per_epoch
    warm = config.warmup_epochs * steps_per_epoch

    def lr_at(step: int) -> float:
        if step < warm:
            return config.lr * (step + 1) / warm
        return 0.5 * config.lr * (1 + np.cos(np.pi * (step - warm) / max(1, total - warm)))

    weights = _class_weights(tr.labels, len(tr.label_set), config.class_weighting)
    weights = None if weights is None else weights.to(device)
    gen = torch.Generator().manual_seed(config.seed)
    start_epoch, best, stale = 0, -1.0, 0
    if resume and (out / "last.pt").exists():
        state = torch.load(out / "last.pt", map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        start_epoch, best, stale = state["epoch"] + 1, state["best"], state["stale"]
        say(f"resumed after epoch {state['epoch'] + 1}, best val accuracy {best:.4f}")
        if note:
            say(f"changed on resume {note}")
    metrics_path = out / "metrics.csv"
    fields = ["epoch", "lr", "train_loss", "train_ce", "train_align", "val_accuracy", "val_macro_f1",
              "val_cam_cos", "val_att_cos", "seconds"]
    if not metrics_path.exists() or start_epoch == 0:
        with open(metrics_path, "w", newline="") as f:
            csv.writer(f).writerow(fields)

    for epoch in range(start_epoch, config.epochs):
        t0 = time.time()
        model.train()
        order = torch.randperm(len(tr), generator=gen)
        sums = np.zeros(3)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress,
                   leave=False, file=sys.stderr)
        for step in bar:
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            images = normalise(tr.images[idx])
            heat = tr.heatmaps[idx].float()
            if config.augment:
                images, heat = augment(images, heat, gen)
            images, heat = images.to(device), heat.to(device)
            targets = (tr.soft[idx] if config.soft_labels else
                       torch.nn.functional.one_hot(tr.labels[idx], len(tr.label_set)).float()).to(device)
            for g in opt.param_groups:
                g["lr"] = lr_at(epoch * steps_per_epoch + step)
            outputs = model(images)
            ce = soft_cross_entropy(outputs["logits"], targets, weights)
            align = alignment_loss(outputs["attention"], heat, tr.has_heatmap[idx].to(device))
            loss = ce + config.guidance_weight * align
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sums += [loss.item(), ce.item(), align.item()]
            bar.set_postfix(loss=f"{sums[0] / (step + 1):.3f}")
        val = evaluate(model, va, device)
        row = [epoch + 1, f"{lr_at((epoch + 1) * steps_per_epoch - 1):.5f}", *(f"{v / steps_per_epoch:.4f}" for v in sums),
               f"{val['accuracy']:.4f}", f"{val['macro_f1']:.4f}", f"{val['cam_cos']:.4f}", f"{val['att_cos']:.4f}",
               f"{time.time() - t0:.0f}"]
        with open(metrics_path, "a", newline="") as f:
            csv.writer(f).writerow(row)
        improved = val["accuracy"] > best
        if improved:
            best, stale = val["accuracy"], 0
            torch.save({"model": model.state_dict(), "config": asdict(config), "label_set": tr.label_set,
                        "epoch": epoch, "val": val}, out / "best.pt")
        else:
            stale += 1
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
                    "epoch": epoch, "best": best, "stale": stale}, out / "last.pt")
        say(f"epoch {epoch + 1}: loss {sums[0] / steps_per_epoch:.3f} (ce {sums[1] / steps_per_epoch:.3f}, "
            f"align {sums[2] / steps_per_epoch:.3f}) val acc {val['accuracy']:.4f} f1 {val['macro_f1']:.4f} "
            f"att-cos {val['att_cos']:.3f} cam-cos {val['cam_cos']:.3f} ({time.time() - t0:.0f} s)")
        if stale >= config.patience:
            say(f"early stop: no better validation accuracy for {config.patience} epochs")
            break
    report = evaluate_run(out, split=config.test_split, progress=progress)
    say(f"test: accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}, "
        f"CAM-COS {report['cam_cos']:.3f}, ATT-COS {report['att_cos']:.3f}")
    say.close()
    return out


def load_run_model(run: Path, device: torch.device | None = None) -> tuple[torch.nn.Module, TrainConfig, tuple[str, ...]]:
    state = torch.load(Path(run) / "best.pt", map_location=device or "cpu", weights_only=False)
    config = from_dict(TrainConfig, state["config"])
    model = create_model(config.architecture, num_classes=len(state["label_set"]), **config.model_options)
    model.load_state_dict(state["model"])
    return model.eval(), config, tuple(state["label_set"])


def evaluate_run(run: Path, split: str = "test", data: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Metrics of a run's best checkpoint on a split; writes report[-SPLIT].json and confusion PNG."""
    device = _device("auto")
    model, config, labels = load_run_model(run, device)
    model.to(device)
    if data:
        config.data = data
    ds = _open(config, split, config.eval_protocol, config.max_eval)
    crops = load_crops(ds, Path(config.cache_dir), progress=progress)
    report = evaluate(model, crops, device)
    report.update({"run": str(run), "dataset": ds.name, "split": split, "dropped": ds.dropped})
    name = "report.json" if (split == config.test_split and data is None) else f"report-{split}.json"
    (Path(run) / name).write_text(json.dumps(report, indent=1))
    _confusion_png(report, Path(run) / name.replace(".json", "-confusion.png"))
    return report


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


def note_ignored_config(config_path: str, saved: dict[str, Any], overrides: dict[str, Any]) -> None:
    """On resume the CONFIG file is not read for values: say so when it differs from the run's own
    config (in keys not given on the command line), so that an edited file is not ignored unnoticed."""
    try:
        given = _flatten(load_yaml(config_path))
    except (ConfigError, OSError):
        return
    flat_saved, flat_over = _flatten(saved), _flatten(overrides)
    differ = sorted(k for k, v in given.items() if k not in flat_over and k in flat_saved and flat_saved[k] != v)
    if differ:
        print(f"ferx: note: resuming with the run's saved config; {config_path} differs in {', '.join(differ)} "
              f"(not applied; give key=value to change a resumable key)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m ferx.train")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a classifier")
    t.add_argument("config", help="YAML file with TrainConfig keys")
    t.add_argument("overrides", nargs="*", help="key=value (YAML values)")
    t.add_argument("--out", help="run folder (default runs/<config name>)")
    t.add_argument("--resume", action="store_true",
                   help="continue RUN from last.pt with its saved config.yaml; overrides of resumable keys "
                        "(epochs, patience, threads, device, cache_dir) are applied and recorded, others refused")
    e = sub.add_parser("eval", help="evaluate a run's best checkpoint")
    e.add_argument("run")
    e.add_argument("--split", default="test")
    e.add_argument("--data", help="another dataset spec with the same label set")
    args = ap.parse_args(argv)
    try:
        if args.command == "train":
            out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
            overrides = parse_overrides(args.overrides)
            if args.resume and (out / "config.yaml").exists():
                # the run's own config is the base; the command line's overrides change it
                cfg_dict = load_yaml(out / "config.yaml")
                note_ignored_config(args.config, cfg_dict, overrides)
            else:
                cfg_dict = load_yaml(args.config)
            cfg_dict.update(overrides)
            config = from_dict(TrainConfig, cfg_dict)
            train(config, out, resume=args.resume)
        else:
            report = evaluate_run(Path(args.run), args.split, args.data)
            print(json.dumps({k: report[k] for k in ("accuracy", "macro_f1", "cam_cos", "att_cos", "n")}, indent=1))
    except ConfigError as e:
        print(f"ferx train: error: {e}", file=sys.stderr)
        return 2
    return 0
