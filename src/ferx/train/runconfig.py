"""The configuration of a training run: the keys every trainer shares, command-line overrides, paths,
and what `--resume` may change (no torch here, so the CLI and the data tools can use it).

A trainer's config is a dataclass deriving from `RunConfig`; it adds its own keys (data, model,
loss weights) and declares, per key it adds, what `--resume` does with a changed value
(`resume_policy`) and which keys hold paths (`path_keys`).

Paths: a relative path written in a config file is relative to that file's folder, and
`$FERX_SHARED_DATA` at its start stands for that environment variable (the shared data folder;
`${FERX_SHARED_DATA:-DEFAULT}` gives the folder to use where it is not set, as the shipped configs do);
paths given on the command line are relative to the working directory; defaults (caches under
`runs/cache`) are relative to the working directory. `load_run_config` makes them all absolute, so a
run's saved config.yaml resumes from anywhere.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import re
import sys
import time
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, TypeVar

import yaml

from ferx.config import from_dict, load_yaml
from ferx.errors import ConfigError

C = TypeVar("C")

APPLY, REFUSE = "apply", "refuse"
RESUME_NOTE = "# resumed"
SHARED_DATA_VARIABLE = "FERX_SHARED_DATA"


@dataclass
class RunConfig:
    """The settings of a training run that the harness (`ferx.train.harness.fit`) reads.

    Attributes:
        epochs, batch_size: passes over the training data, examples per step.
        optimizer: "sgd" (Nesterov momentum) or "adamw"; lr, momentum (SGD), weight_decay.
        warmup_epochs: linear warm-up from lr / steps to lr over this many epochs (fractions allowed),
            then a cosine schedule down to lr · min_lr_ratio at the last step.
        ema, ema_decay: validate, checkpoint and export an exponential moving average of the weights
            (YOLOX: decay ramps up as ema_decay · (1 − exp(−updates / 2000))).
        clip_grad_norm: clip the gradients' global norm to this (0 = off).
        patience: stop after this many epochs without a better validation metric (0 = never).
        init_from: a checkpoint (e.g. another run's best.pt or last.pt) whose model weights start this
            run (fine-tuning, or a warm restart of the schedule); "" = random initialisation.
        seed: everything random derives from it.
        threads: torch CPU threads (0 = torch's default). device: "auto", "cpu" or "cuda".
    """

    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.0
    min_lr_ratio: float = 0.0
    ema: bool = False
    ema_decay: float = 0.9998
    clip_grad_norm: float = 0.0
    patience: int = 0
    init_from: str = ""
    seed: int = 0
    threads: int = 0
    device: str = "auto"

    #: What `--resume` does with a key whose value differs from the run's saved config.yaml. A
    #: trainer's config extends it with a decision for every key it adds (`resume_policy_of` checks);
    #: a nested key follows its nearest listed parent.
    #:   apply  — takes effect from the next epoch; recorded in log.txt and config.yaml.
    #:   refuse — usage error: the data, model, objective, optimiser settings or seed would differ
    #:            between the epochs of one run, so neither last.pt nor the run's record would describe
    #:            one experiment. Start a new run instead (`init_from=RUN/last.pt` starts it from
    #:            this run's weights).
    #: `epochs` recomputes the cosine schedule over the new total (extending a run raises the learning
    #: rate again), and may not go below the epochs already done.
    resume_policy: ClassVar[dict[str, str]] = {
        "batch_size": REFUSE, "optimizer": REFUSE, "lr": REFUSE, "momentum": REFUSE, "weight_decay": REFUSE,
        "warmup_epochs": REFUSE, "min_lr_ratio": REFUSE, "ema": REFUSE, "ema_decay": REFUSE,
        "clip_grad_norm": REFUSE, "init_from": REFUSE, "seed": REFUSE,
        "epochs": APPLY, "patience": APPLY,
        "threads": APPLY, "device": APPLY,  # where it runs, not what it learns
    }
    #: Keys that hold paths, resolved as the module docstring says; a key naming a section whose
    #: dataclass declares its own `path_keys` (the detector's `data`) resolves those.
    path_keys: ClassVar[tuple[str, ...]] = ("init_from",)


def resume_policy_of(config: RunConfig) -> dict[str, str]:
    """The config's resume decisions; TypeError when one of its keys has none (a new key needs one)."""
    policy = type(config).resume_policy
    missing = sorted(f.name for f in dataclasses.fields(config) if f.name not in policy)
    if missing:
        raise TypeError(f"{type(config).__name__}.resume_policy has no decision for {', '.join(missing)}")
    return policy


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"data": {"seed": 0}} → {"data.seed": 0} (lists and scalars are leaves)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def resume_changes(saved: dict[str, Any], given: dict[str, Any], policy: dict[str, str], done_epochs: int
                   ) -> list[tuple[str, Any, Any]]:
    """(key, saved value, given value) of every key whose value differs between the run's saved
    config and the one it is resumed with; ConfigError naming the keys that `policy` refuses
    (a dotted key follows its nearest listed parent; a key listed nowhere is refused)."""
    missing = object()
    fs, fg = flatten(saved), flatten(given)
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


def resume_note(changes: list[tuple[str, Any, Any]], first_epoch: int) -> str:
    """One line saying what changed and from which epoch (1-based) it holds; "" when nothing did."""
    if not changes:
        return ""
    what = ", ".join(f"{k} {a!r} -> {b!r}" for k, a, b in changes)
    return f"at epoch {first_epoch} ({time.strftime('%Y-%m-%d %H:%M')}): {what}"


#: The files `fit` writes into a run folder (and `ferx train` its test report): any of them means the
#: folder holds a started or finished run.
RUN_FILES = ("config.yaml", "last.pt", "best.pt", "metrics.csv", "log.txt", "report.json")


def check_new_run_folder(out: Path) -> None:
    """ConfigError when `out` already holds a run (any of `RUN_FILES`) and no resume was asked for.

    A second run into the folder would overwrite the first one's checkpoints, metrics and config,
    mix two experiments in log.txt and leave the first one's reports beside the new model as if they
    were its results. An empty or missing folder (or one holding other files) is fine."""
    found = [name for name in RUN_FILES if (out / name).exists()]
    if found:
        raise ConfigError(f"{out}: already holds a training run ({', '.join(found)}); pass --resume to continue it "
                          f"or choose another --out")


def write_run_config(path: Path, config: dict[str, Any], resumed: bool, note: str = "") -> None:
    """config.yaml: the run's current config, then the changes made at earlier resumes as comment
    lines (kept when `resumed`, so the file tells which values held for which epochs)."""
    history = [line for line in path.read_text().splitlines() if line.startswith(RESUME_NOTE)] \
        if resumed and path.exists() else []
    if note:
        history.append(f"{RESUME_NOTE} {note}")
    path.write_text(yaml.safe_dump(config, sort_keys=False) + "".join(f"{line}\n" for line in history))


# -- overrides and paths ------------------------------------------------------------------------
def check_distillation(teachers: list[str], weight: float, temperature: float) -> None:
    """ConfigError unless the distillation keys a trainer shares (teachers, distill_weight α in
    [0, 1], distill_temperature > 0) make sense together."""
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"distill_weight is α in [0, 1]; got {weight}")
    if weight > 0 and not teachers:
        raise ConfigError("distill_weight > 0 needs teachers (run folders or ONNX classifiers)")
    if temperature <= 0:
        raise ConfigError(f"distill_temperature must be positive; got {temperature}")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """["epochs=3", "data.train_images=100", "model_options={dropout: 0}"] → {dotted key: value}
    (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like key=value")
        out[key.strip()] = yaml.safe_load(value)
    return out


def apply_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of `base` with each dotted key set to its value: dots reach into sections
    (`data.seed=3` changes only that key of `data`), and a value replaces what stood there."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {key}: {part!r} is not a section (it holds {child!r})")
            node = child
        node[parts[-1]] = value
    return out


def _resolve(value: str, base: Path) -> str:
    """One path (or KIND:PATH dataset spec) made absolute against `base`, `$FERX_SHARED_DATA` expanded."""
    from ferx.data.readers import READERS

    kind, sep, rest = value.partition(":")
    # an unknown KIND: stays a prefix (not part of a path) unless the whole value names a file, so that
    # the dataset reader says "unknown dataset kind" rather than "no such file .../bogus:/data"
    named_file = os.path.exists(os.path.join(base, value))
    spec = bool(sep and rest) and (kind in READERS or (kind.isidentifier() and not named_file))
    prefix, path = (f"{kind}:", rest) if spec else ("", value)
    path = _shared_data(path, value)
    return prefix + os.path.normpath(os.path.join(base, os.path.expanduser(path)))


#: `$FERX_SHARED_DATA`, `${FERX_SHARED_DATA}` or `${FERX_SHARED_DATA:-DEFAULT}` at the start of a path.
_SHARED_DATA_AT_START = re.compile(r"^\$(?:\{" + SHARED_DATA_VARIABLE + r"(?::-([^}]*))?\}|" + SHARED_DATA_VARIABLE + r"\b)")


def _shared_data(path: str, value: str) -> str:
    """`path` with the shared-data variable at its start replaced by its value, or by the default the
    config gives (`${FERX_SHARED_DATA:-../../shared/data}`, as a shell would, relative to the config's
    folder like any path there): the shipped configs find the data beside a clone and wherever the
    variable points."""
    m = _SHARED_DATA_AT_START.match(path)
    if m is None:
        return path
    root = os.environ.get(SHARED_DATA_VARIABLE) or m.group(1)
    if not root:
        raise ConfigError(f"{value!r} names ${SHARED_DATA_VARIABLE}, which is not set (export it as the "
                          f"folder that holds the datasets)")
    return root + path[m.end():]


def resolve_paths(cls: type, data: dict[str, Any], base: Path) -> dict[str, Any]:
    """`data` (a mapping for dataclass `cls`) with the non-empty string values of its path keys made
    absolute against the folder `base`; nested sections follow their own dataclass's `path_keys`."""
    out = dict(data)
    hints = typing.get_type_hints(cls)
    for key in getattr(cls, "path_keys", ()):
        if isinstance(out.get(key), str) and out[key]:
            out[key] = _resolve(out[key], base)
        elif isinstance(out.get(key), list):  # a list of paths; bare names (shipped models) stay names
            out[key] = [_resolve(v, base) if isinstance(v, str) and ("/" in v or v.endswith((".onnx", ".pt")))
                        else v for v in out[key]]
        elif isinstance(out.get(key), dict) and dataclasses.is_dataclass(hints.get(key)):
            out[key] = resolve_paths(hints[key], out[key], base)
    return out


def load_config(cls: type[C], path: str | Path, section: str = "") -> C:
    """A config file (or one `section` of it) as dataclass `cls`, its paths resolved against the file's folder."""
    data = load_yaml(path)
    if section:
        data = data.get(section, {})
    return from_dict(cls, resolve_paths(cls, data, Path(path).resolve().parent), where=f"{section}." if section else "")


def load_run_config(cls: type[C], config_path: str | Path, overrides: list[str], out: Path, resume: bool) -> C:
    """The config of a run started (or resumed) from the command line.

    A new run: the config file, its paths resolved against its folder, with the key=value overrides.
    `--resume`: the run's own saved config.yaml is the base (the CONFIG file is not read for values; a
    note says so when it differs in keys not overridden), with the overrides; which of them may change
    is checked by the harness. Override paths are relative to the working directory.
    """
    given = parse_overrides(overrides)
    nested = resolve_paths(cls, apply_overrides({}, given), Path.cwd())
    given = {key: _get(nested, key) for key in given}
    saved = out / "config.yaml"
    if resume and saved.exists():
        base = load_yaml(saved)
        _note_ignored_config(cls, config_path, base, given)
    else:
        base = resolve_paths(cls, load_yaml(config_path), Path(config_path).resolve().parent)
    return from_dict(cls, apply_overrides(base, given))


def _get(nested: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        nested = nested[part]
    return nested


def _note_ignored_config(cls: type, config_path: str | Path, saved: dict[str, Any], overrides: dict[str, Any]) -> None:
    """On resume the CONFIG file is not read for values: say so when it differs from the run's own
    config (in keys not given on the command line), so that an edited file is not ignored unnoticed."""
    try:
        given = flatten(resolve_paths(cls, load_yaml(config_path), Path(config_path).resolve().parent))
    except (ConfigError, OSError):  # the run's own config is what counts; the file may be gone
        return
    flat_saved, flat_over = flatten(saved), flatten(apply_overrides({}, overrides))
    differ = sorted(k for k, v in given.items() if k not in flat_over and k in flat_saved and flat_saved[k] != v)
    if differ:
        print(f"ferx: note: resuming with the run's saved config; {config_path} differs in {', '.join(differ)} "
              f"(not applied; give key=value to change a resumable key)", file=sys.stderr)


def add_run_commands(sub: argparse._SubParsersAction, what: str, name: str | None) -> argparse.ArgumentParser:
    """The `train CONFIG [key=value ...] --out RUN [--resume] [--quiet]` and `export RUN --name NAME
    [--out DIR]` subcommands every model family's `python -m ferx.train.FAMILY` has; returns the
    export parser (for a family's own options). `name`: the export's default name (None: required)."""
    t = sub.add_parser("train", help=f"train {what} (needs ferx[train])")
    t.add_argument("config")
    t.add_argument("overrides", nargs="*")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--resume", action="store_true")
    t.add_argument("--quiet", action="store_true")
    e = sub.add_parser("export", help="write a run's model as NAME.onnx + NAME.json (needs ferx[train])")
    e.add_argument("run", type=Path)
    e.add_argument("--name", required=name is None, default=name)
    e.add_argument("--out", type=Path, default=Path("models"))
    return e


def run_command(handlers: dict[str, Callable[[argparse.Namespace], None]], args: argparse.Namespace) -> int:
    """Run the family subcommand `args.cmd`; a ConfigError is the user's to fix, so it is one line on
    stderr and exit status 2, not a traceback."""
    try:
        handlers[args.cmd](args)
    except ConfigError as err:
        print(f"ferx: {err}", file=sys.stderr)
        return 2
    return 0
