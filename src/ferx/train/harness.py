"""The training harness shared by every ferx model: a trainer supplies its model, data and loss (a
`Task`), and `fit` does the rest the same way for all of them.

What `fit` does:
  * run folder: config.yaml (the resolved config; on `--resume`, overrides of resumable keys are
    applied, recorded as a comment and in log.txt, and the others refused — `RunConfig.resume_policy`
    and the trainer's own decisions), metrics.csv (one row per epoch), log.txt, last.pt (everything
    needed to resume: model, optimiser, EMA, every random stream, epoch, best, stale), best.pt (the
    evaluated weights with the best validation metric, plus the trainer's `checkpoint_extras`);
  * seeds (torch's global RNG, and a torch and a numpy generator the task draws from), device,
    threads, `init_from`;
  * optimiser (SGD with Nesterov momentum, or AdamW) over the task's parameter groups, and a linear
    warm-up then cosine learning rate per step (`torch.optim.lr_scheduler.LambdaLR`);
  * EMA weights (`torch.optim.swa_utils.AveragedModel`, YOLOX's ramped decay), gradient clipping,
    validation every epoch, early stopping, a progress bar.

A resumed run continues exactly where the checkpoint left off (same batches, augmentations and
dropout), so its metrics equal those of an uninterrupted run; a run stopped before its first epoch
ended (config.yaml, no last.pt) starts again from epoch 1 with its recorded config. Without
`resume`, a folder that already holds a run (`runconfig.RUN_FILES`) is refused: a second run would
overwrite the first and leave its reports beside the new model.

How a trainer plugs in: derive its config from `RunConfig` (adding its keys, their resume decisions
and path keys), subclass `Task` (setup → model, batches, step → loss, validate → metrics), and call
`fit(task, run_folder)`.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import torch
from torch import nn

from ferx.config import from_dict, load_yaml
from ferx.errors import ConfigError, FerxError
from ferx.train.runconfig import (
    RUN_FILES,
    RunConfig,
    check_new_run_folder,
    resume_changes,
    resume_note,
    resume_policy_of,
    write_run_config,
)
from ferx.train.runlog import RunLog

#: The input scaling of every model ferx trains, as its ONNX sidecar states it (`input.normalise`, a
#: key of `ferx.numeric.NORMALISATIONS`, which inference reads).
INPUT_NORMALISATION = "x / 127.5 - 1"
OPTIMIZERS = ("sgd", "adamw")
C = TypeVar("C", bound=RunConfig)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """Pixels (uint8, or float in 0..255 after blending) → float in [-1, 1]: `INPUT_NORMALISATION`."""
    return images.float() / 127.5 - 1.0


def device(name: str) -> torch.device:
    """"auto" is CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Randomness:
    """The random streams a task draws from, seeded from the config's seed and saved with every
    checkpoint: `torch` (a torch.Generator) and `numpy` (a numpy Generator). Torch's global RNG (weight
    initialisation, dropout) is seeded by `fit` and saved with them."""

    def __init__(self, seed: int) -> None:
        self.torch = torch.Generator().manual_seed(seed)
        self.numpy = np.random.default_rng(seed)

    def state(self) -> dict[str, Any]:
        state = {"generator": self.torch.get_state(), "rng": self.numpy.bit_generator.state,
                 "torch_rng": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def load(self, state: dict[str, Any]) -> None:
        """Restore the streams a checkpoint holds (checkpoints of older versions hold fewer)."""
        if "generator" in state:
            self.torch.set_state(state["generator"])
        if "rng" in state:
            self.numpy.bit_generator.state = state["rng"]
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])


@dataclass
class Validation:
    """One validation pass: `row` (metrics.csv columns → value; holds the task's `metric`) and `record`
    (what best.pt keeps as "val", e.g. the full report)."""

    row: dict[str, float]
    record: dict[str, Any]


class Task(ABC, Generic[C]):
    """What a trainer supplies to `fit`: its model, data and loss.

    Attributes:
        config: the run's config (a `RunConfig` subclass).
        metric: the key of `Validation.row` that chooses best.pt and early stopping (larger is better).
        losses: names of the values `step` returns, the metrics.csv columns of their epoch means.
    """

    metric: str
    losses: tuple[str, ...]

    def __init__(self, config: C) -> None:
        self.config = config

    @abstractmethod
    def setup(self, device: torch.device, rng: Randomness, log: RunLog) -> nn.Module:
        """Load the data (say what was loaded through `log`) and build the model; keep `device` and
        `rng` for the other methods. Called once, after torch's global RNG is seeded."""

    @abstractmethod
    def steps_per_epoch(self) -> int:
        """Optimiser steps per epoch (after `setup`)."""

    @abstractmethod
    def batches(self) -> Iterable[Any]:
        """One epoch's batches, `steps_per_epoch()` of them, drawn from the task's `rng`."""

    @abstractmethod
    def step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, Sequence[float]]:
        """The loss to minimise on one batch, and the values named by `losses` (the loss first)."""

    @abstractmethod
    def validate(self, model: nn.Module) -> Validation:
        """Metrics of the evaluated weights (the EMA when on) on the validation data."""

    def parameter_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        """The optimiser's parameter groups; a group without "weight_decay" gets the config's."""
        return [{"params": list(model.parameters())}]

    def checkpoint_extras(self, model: nn.Module) -> dict[str, Any]:
        """Keys best.pt holds besides model, config, epoch and val (label names, model settings)."""
        return {}


def fit(task: Task[Any], out: Path, *, resume: bool = False, progress: bool = True) -> Path:
    """Train (or with `resume`, continue from last.pt) the task's model in the run folder `out`.

    `config.threads` holds for the call only: torch's thread count is process-wide, and a caller (a
    test session, a notebook) should not inherit a run's."""
    threads = torch.get_num_threads()
    try:
        return _fit(task, Path(out), resume, progress)
    finally:
        torch.set_num_threads(threads)


def _fit(task: Task[Any], out: Path, resume: bool, progress: bool) -> Path:
    config = task.config
    policy = resume_policy_of(config)  # a key without a resume decision is refused, also on a new run
    _check(config)
    state: dict[str, Any] = {}
    note, done, fresh = "", 0, ""
    if resume:
        state, done, note, fresh = _resume_state(config, policy, out)
    else:
        check_new_run_folder(out)
    if config.init_from and not Path(config.init_from).is_file():
        raise FileNotFoundError(f"init_from: no checkpoint at {config.init_from}")
    existed = out.exists()
    out.mkdir(parents=True, exist_ok=True)
    write_run_config(out / "config.yaml", asdict(config), resume, note)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    log = RunLog(out, echo=progress)
    try:
        if fresh:
            log(fresh)
            if not progress:  # the log echoes only with progress on; this line the user must see anyway
                print(f"ferx: note: {fresh}", file=sys.stderr)
        _train(task, out, state, done, note, log, progress)
    except FerxError:
        # a new run refused by its own data or settings before any checkpoint (an unknown dataset, a
        # batch larger than the data) leaves nothing behind: its config.yaml and log.txt would make the
        # corrected command's folder "already holds a run", and --resume could not change the data
        if not resume and not (out / "last.pt").exists():
            log.close()
            _withdraw(out, existed)
        raise
    finally:
        log.close()
    return out


def _withdraw(out: Path, existed: bool) -> None:
    """Remove the files a new run wrote into `out` (and `out`, when the run made it and it is empty)."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    if not existed and not any(out.iterdir()):
        out.rmdir()


def _resume_state(config: RunConfig, policy: dict[str, str], out: Path) -> tuple[dict[str, Any], int, str, str]:
    """What `--resume` continues from in `out`: (last.pt's state, epochs done, the note of changed
    keys, a line to log when the run starts again from epoch 1). A run stopped before its first
    epoch ended has its config.yaml but no last.pt: it starts over with that config (the harness
    wrote config.yaml first, so the run's settings are known even though no weights are)."""
    saved, last = out / "config.yaml", out / "last.pt"
    if not last.exists() and not saved.exists():
        raise ConfigError(f"{out}: nothing to resume (neither the run's config.yaml nor last.pt is there)")
    state: dict[str, Any] = {}
    if last.exists():
        state = torch.load(last, map_location="cpu", weights_only=False)
    done = int(state["epoch"]) + 1 if state else 0
    # through the dataclass, so that keys added to it since the run started count as their defaults
    run_config = asdict(from_dict(type(config), load_yaml(saved)))
    note = resume_note(resume_changes(run_config, asdict(config), policy, done), done + 1)
    fresh = "" if state else "resuming a run stopped before its first epoch ended (no last.pt): starting from " \
                             "epoch 1 with the run's recorded config"
    return state, done, note, fresh


def _train(task: Task[Any], out: Path, state: dict[str, Any], done: int, note: str, log: RunLog,
           progress: bool) -> None:
    """The epochs of a run whose config.yaml is written; `state` is last.pt when resuming (else empty)."""
    config = task.config
    dev = device(config.device)
    rng = Randomness(config.seed)
    model = task.setup(dev, rng, log).to(dev)
    log(f"{type(model).__name__}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters; device {dev}")
    if config.init_from:  # a resume then overwrites these with last.pt
        model.load_state_dict(torch.load(config.init_from, map_location=dev, weights_only=False)["model"])
        log(f"model weights from {config.init_from}")

    opt = _optimizer(config, task.parameter_groups(model))
    steps = task.steps_per_epoch()
    if steps <= 0:
        raise ConfigError(f"batch_size {config.batch_size} leaves no training step per epoch (too few examples)")
    ema = _ema(model, config.ema_decay) if config.ema else None
    best, stale = -math.inf, 0
    if state:
        best, stale = _restore(state, model, opt, ema, rng)
        log(f"resumed after epoch {done}, best {task.metric} {best:.4f}")
        if note:
            log(f"changed on resume {note}")
    for group in opt.param_groups:
        group["initial_lr"] = config.lr  # the schedule's base, also for checkpoints saved without one
    # last_epoch: the step before the first one this call runs (the scheduler then sets that step's rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(config, steps), last_epoch=done * steps - 1)
    metrics = _Metrics(out / "metrics.csv", keep_epochs=done)

    for epoch in range(done, config.epochs):
        t0 = time.time()
        sums, lr = _epoch(task, model, opt, schedule, ema, epoch, steps, progress)
        evaluated = ema.module if ema is not None else model
        val = task.validate(evaluated)
        row = {"epoch": epoch + 1, "lr": f"{lr:.6f}", **{k: f"{v / steps:.4f}" for k, v in zip(task.losses, sums)},
               **{k: f"{v:.4f}" for k, v in val.row.items()}, "seconds": f"{time.time() - t0:.0f}"}
        metrics.append(row)
        improved = val.row[task.metric] > best
        if improved:
            best, stale = val.row[task.metric], 0
            torch.save({"model": evaluated.state_dict(), "config": asdict(config), "epoch": epoch, "val": val.record,
                        **task.checkpoint_extras(evaluated)}, out / "best.pt")
        else:
            stale += 1
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                    "ema": None if ema is None else ema.module.state_dict(),
                    "ema_updates": 0 if ema is None else int(ema.n_averaged), **rng.state(),
                    "epoch": epoch, "best": best, "stale": stale}, out / "last.pt")
        log(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v}" for k, v in row.items() if k not in ("epoch", "seconds"))
            + f"{' (best)' if improved else ''} ({row['seconds']} s)")
        if config.patience and stale >= config.patience:
            log(f"early stop: no better {task.metric} for {config.patience} epochs")
            break


def _restore(state: dict[str, Any], model: Any, opt: Any, ema: Any, rng: Randomness) -> tuple[float, int]:
    """Load last.pt's model, optimiser, EMA and random streams; returns (best, stale)."""
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    if ema is not None:
        ema.module.load_state_dict(state["ema"])
        ema.n_averaged.fill_(state["ema_updates"])
    rng.load(state)
    return state["best"], state.get("stale", 0)


def _epoch(task: Task[Any], model: Any, opt: Any, schedule: Any, ema: Any, epoch: int, steps: int,
           progress: bool) -> tuple[np.ndarray, float]:
    """One epoch of training steps; returns the summed loss values and the last step's learning rate."""
    from tqdm import tqdm

    config = task.config
    model.train()
    sums = np.zeros(len(task.losses))
    lr = opt.param_groups[0]["lr"]
    bar = tqdm(task.batches(), total=steps, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress,
               leave=False, file=sys.stderr)
    for i, batch in enumerate(bar):
        loss, values = task.step(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip_grad_norm:
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad_norm)
        opt.step()
        lr = opt.param_groups[0]["lr"]
        schedule.step()
        if ema is not None:
            ema.update_parameters(model)
        sums += values
        bar.set_postfix(loss=f"{sums[0] / (i + 1):.3f}")
    return sums, lr


def _check(config: RunConfig) -> None:
    if config.optimizer not in OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {config.optimizer!r}")
    if config.epochs < 0 or config.batch_size < 1 or config.patience < 0:
        raise ConfigError("epochs and patience must be ≥ 0 and batch_size ≥ 1")


def _optimizer(config: RunConfig, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    groups = [{"weight_decay": config.weight_decay, **g} for g in groups]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)


def _lr_factor(config: RunConfig, steps_per_epoch: int) -> Any:
    """Learning rate ÷ lr at a global step: linear warm-up over `warmup_epochs`, then a cosine down to
    `min_lr_ratio` at the last step of `epochs` (read when called, so a resume that changes epochs
    stretches the cosine over the new total)."""
    warm = int(config.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        t = (step - warm) / max(1, config.epochs * steps_per_epoch - warm)
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return factor


def _ema(model: nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel:
    """An EMA of the model's weights and buffers with YOLOX's ramp: update n uses decay
    `decay · (1 − exp(−n / 2000))`, so early weights are forgotten fast; integer buffers (BatchNorm's
    batch counter) are copied."""

    @torch.no_grad()
    def average(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        if not averaged[0].is_floating_point():
            torch._foreach_copy_(averaged, current)
            return
        d = decay * (1 - math.exp(-(int(n_averaged) + 1) / 2000))
        torch._foreach_mul_(averaged, d)
        torch._foreach_add_(averaged, current, alpha=1 - d)

    return torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=average, use_buffers=True)


class _Metrics:
    """metrics.csv: one row per epoch; the header comes from the first row. A resumed run keeps the
    rows of the epochs its checkpoint holds (a row written after the last checkpoint is dropped, as
    that epoch runs again)."""

    def __init__(self, path: Path, keep_epochs: int) -> None:
        self.path = path
        rows: list[dict[str, str]] = []
        if keep_epochs and path.exists():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= keep_epochs]
        path.unlink(missing_ok=True)
        for r in rows:
            self.append(r)

    def append(self, row: dict[str, Any]) -> None:
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)


# -- reading a run back ----------------------------------------------------------------------------

#: The runs of ferx's trainers, each recognised by the keys its `Task.checkpoint_extras` adds to best.pt
#: (the first match wins: a verifier's best.pt has only `model_config`, a detector's more). A command
#: given another trainer's run folder says what it got from this (it was a KeyError). The detector's
#: and the classifier's loaders insist on their kind; AU-heads and verifier runs of an older ferx lack
#: their keys, so those loaders read best.pt as before.
RUN_KINDS: dict[str, tuple[frozenset[str], str]] = {
    "detector": (frozenset({"model_name", "model_config", "labels"}), "a one-pass detector run (`ferx train-detector`)"),
    "classifier": (frozenset({"label_set"}), "an expression classifier run (`ferx train`)"),
    "aus": (frozenset({"aus"}), "an AU-heads run (`ferx train-aus`)"),
    "verifier": (frozenset({"model_config"}), "a face-verifier run (`python -m ferx.train.verify train`)"),
}


def run_kind(state: dict[str, Any]) -> str | None:
    """Which trainer wrote the best.pt `state` (a key of RUN_KINDS); None for none of them."""
    return next((kind for kind, (keys, _) in RUN_KINDS.items() if keys <= set(state)), None)


def load_best(run: Path, kind: str, device: torch.device | str | None = None) -> dict[str, Any]:
    """best.pt of the run folder `run`, which must be a `kind` run (a key of RUN_KINDS).

    Raises:
        ConfigError: `run` is something else, said in its words: no such folder, a file, an empty
            folder, an analysis output (`ferx analyze`, `ferx batch`), a run whose first epoch did not
            finish, or another trainer's run.
    """
    run, expected = Path(run), RUN_KINDS[kind][1]
    path = run / "best.pt"
    if not path.is_file():
        raise ConfigError(f"{run}: {_without_best(run)}; expected {expected} (a folder with best.pt)")
    state = torch.load(path, map_location=device or "cpu", weights_only=False)
    found = run_kind(state) if isinstance(state, dict) else None
    if found != kind:
        what = RUN_KINDS[found][1] if found else "a best.pt that no ferx trainer wrote"
        raise ConfigError(f"{run}: {what}, not {expected}")
    return state


def _run_output(run: Path) -> str | None:
    """What ferx command wrote `run`, when it is the output of an analysis (its summary.json or layout
    says so), in words; None otherwise."""
    from ferx.runs.layout import DATASET, kind_of, read_summary

    layout, summary = kind_of(run), read_summary(run)
    if layout is DATASET:
        return "it looks like a `ferx batch` output (summary.json, _ferx/)"
    if layout is not None or {"analysed", "videos"} & set(summary):
        return "it looks like a `ferx analyze` output (its summary.json says so)"
    if "status" in summary:
        return "it looks like the output of a ferx run (summary.json)"
    return None


def _without_best(run: Path) -> str:
    """What a path that holds no best.pt is."""
    if not run.exists():
        return "no such folder"
    if not run.is_dir():
        return "a file, not a run folder"
    if not any(run.iterdir()):
        return "an empty folder"
    output = _run_output(run)
    if output:  # checked before config.yaml: `ferx analyze` writes one too (the analyzer's)
        return f"not a training run (no best.pt, no training config): {output}"
    if (run / "config.yaml").is_file():
        return "a training run with no finished epoch (no best.pt yet)"
    return "a folder that holds no best.pt"
