"""The face verifier's commands:

    python -m ferx.train.verify mine --split train --lfw ../shared/data/lfw-expressions \\
        --ferplus ../shared/data/ferplus --out CACHE/train.npz      (and --split val)
    python -m ferx.train.verify train configs/verifier.yaml [key=value ...] --out RUN [--resume]
    python -m ferx.train.verify export RUN --name face-verifier [--out DIR] [--threshold T]

`mine` runs the deployed detector and mesh over the split's sources and stores the aligned crops with
their labels (`ferx.train.verify.data`); `train` runs the shared harness on them; `export` writes
NAME.onnx + NAME.json, the model the `face-verifier` stage reads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ferx.train.runconfig import add_run_commands, run_command


def _mine(args: argparse.Namespace) -> None:
    from ferx.train.verify.data import KINDS, mine

    ex = mine(args.split, args.lfw, args.ferplus, seed=args.seed, progress=not args.quiet, scale=args.scale)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ex.save(args.out)
    print(f"wrote {args.out}: {len(ex)} crops")
    for g, name in enumerate(ex.groups):
        m = ex.group == g
        kinds = ", ".join(f"{k} {int((ex.kind[m] == i).sum())}" for i, k in enumerate(KINDS))
        print(f"  {name}: {int(m.sum())} ({kinds}; mesh presence >= 0.5: {int((ex.presence[m] >= 0.5).sum())})")


def _train(args: argparse.Namespace) -> None:
    from ferx.train.runconfig import load_run_config
    from ferx.train.verify.config import VerifierTrainConfig
    from ferx.train.verify.task import train

    config = load_run_config(VerifierTrainConfig, args.config, args.overrides, args.out, args.resume)
    train(config, args.out, resume=args.resume, progress=not args.quiet)


def _export(args: argparse.Namespace) -> None:
    from ferx.train.verify.export import export_verifier

    path = export_verifier(args.run, args.name, args.out, args.threshold)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB) and {path.with_suffix('.json')}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ferx.train.verify")
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mine", help="collect the labelled crops of one split")
    m.add_argument("--split", choices=("train", "val"), required=True)
    m.add_argument("--lfw", type=Path, required=True)
    m.add_argument("--ferplus", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--scale", type=float, default=1.0, help="fraction of the default image counts (smoke runs)")
    m.add_argument("--quiet", action="store_true")
    e = add_run_commands(sub, "the verifier on mined crops", "face-verifier")
    e.add_argument("--threshold", type=float, help="instead of the run's own (one chosen on validation data)")
    return run_command({"mine": _mine, "train": _train, "export": _export}, ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
