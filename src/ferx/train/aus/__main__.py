"""The AU layer's commands:

    python -m ferx.train.aus train configs/aus-heads.yaml [key=value ...] --out RUN [--resume]
    python -m ferx.train.aus export RUN --name au-heads [--out DIR]
    python -m ferx.train.aus calibrate --coded ../shared/data/ckplus-facs --reference ../shared/data/lfw-expressions \\
        [--heads au-heads | --mesh-only] [--photo-codes data/lfw-au-codes/codes.csv ...] --name au-facs \\
        --out src/ferx/assets/models/au-facs.json

`train` runs the shared harness (config.yaml, metrics.csv, log.txt, last.pt every epoch, best.pt);
`export` writes NAME.onnx + NAME.json; `calibrate` chooses, per AU, what it is read from and its
threshold on FACS-coded faces, with subject-wise cross-validated grades (`ferx.train.aus.calibration`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ferx.train.runconfig import add_run_commands, run_command


def _tables(values: list[str] | None) -> list[tuple[Path, Path | None]] | None:
    """--photo-codes TABLE[=IMAGES] values as (table, images folder or None) pairs."""
    if not values:
        return None
    return [(Path(t), Path(i) if i else None) for t, _, i in (v.partition("=") for v in values)]


def _calibrate(args: argparse.Namespace) -> None:
    from ferx.fsutil import atomic_write_text
    from ferx.train.aus.calibration import fit

    calibration, record = fit(args.coded, args.reference, args.name, None if args.mesh_only else args.heads,
                              progress=not args.quiet, cache=args.cache, photo_codes=_tables(args.photo_codes))
    atomic_write_text(args.out, json.dumps(calibration.to_dict(), indent=1) + "\n")
    if args.record:
        atomic_write_text(args.record, json.dumps(record, indent=1) + "\n")
    s = record["summary"]
    print(f"wrote {args.out}: {len(calibration.readings)} AU readings; subject-wise cross-validated on "
          f"{record['coded']['peaks']} coded peaks: mean AUC {s['mean_auc']:.3f}, mean F1 {s['mean_f1']:.3f} "
          f"over {s['aus']} AUs; AU-only accuracy on the reference faces {record['au_only_reference_accuracy']:.3f}")
    for code, r in record["cross_validated"].items():
        print(f"  {code:>5} n={r['positives']:3d} AUC {r['auc']:.3f} F1 {r['f1']:.3f} P {r['precision']:.2f} R {r['recall']:.2f}")
    if "photos_cross_validated" in record:
        print(f"coded photos ({record['photos']['photos']}), identity-wise cross-validated: share of absent codes read "
              "at A or more, of clear codes read under A")
        for code, r in record["photos_cross_validated"].items():
            print(f"  {code:>5} n={r['positives']:3d}/{r['absent']:3d} AUC {r['auc']:.3f} F1 {r['f1']:.3f} "
                  f"read on absent {r['read_on_absent']:.2f} missed {r['missed_on_present']:.2f}")


def _train(args: argparse.Namespace) -> None:
    from ferx.train.aus.config import AUTrainConfig
    from ferx.train.aus.task import train
    from ferx.train.runconfig import load_run_config

    cfg = load_run_config(AUTrainConfig, args.config, args.overrides, args.out, args.resume)
    train(cfg, args.out, resume=args.resume, progress=not args.quiet)


def _export(args: argparse.Namespace) -> None:
    from ferx.train.aus.export import export_aus

    path = export_aus(args.run, args.name, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) and {path.with_suffix('.json')}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ferx.train.aus")
    sub = ap.add_subparsers(dest="cmd", required=True)
    add_run_commands(sub, "the image-reading AU heads", None)
    c = sub.add_parser("calibrate", help="fit the AU readings on FACS-coded faces and write the calibration JSON")
    c.add_argument("--coded", type=Path, required=True, help="a ckplus-facs folder (labels.csv + images/)")
    c.add_argument("--reference", type=Path, required=True, help="the lfw-expressions folder")
    c.add_argument("--photo-codes", action="append", default=None, metavar="TABLE[=IMAGES]",
                   help="a table of photos coded by eye (data/lfw-au-codes/codes.csv: images of the reference "
                        "folder; data/ferplus-au-codes/codes.csv=../shared/data/ferplus: images under that "
                        "folder); repeat for several; their codes take part in the thresholds")
    c.add_argument("--out", type=Path, required=True, help="the calibration JSON to write")
    c.add_argument("--name", default="au-facs")
    c.add_argument("--heads", default="au-heads", help="image-head model (a shipped name or NAME.onnx)")
    c.add_argument("--mesh-only", action="store_true", help="no image heads: blendshapes and geometry only")
    c.add_argument("--record", type=Path, help="also write the cross-validated measurements here (JSON)")
    c.add_argument("--cache", type=Path, help="keep the measurements here (clear it after changing the landmarker)")
    c.add_argument("--quiet", action="store_true")
    return run_command({"calibrate": _calibrate, "train": _train, "export": _export}, ap.parse_args(argv))

if __name__ == "__main__":
    sys.exit(main())
