"""The AU layer's commands:

    python -m ferx.train.aus train configs/aus-heads.yaml [key=value ...] --out RUN [--resume]
    python -m ferx.train.aus export RUN --name au-heads [--out DIR]
    python -m ferx.train.aus calibrate --coded ../shared/data/ckplus-facs --reference ../shared/data/lfw-expressions \\
        [--heads au-heads | --mesh-only] [--photo-codes data/lfw-au-codes/codes.csv ...] \\
        [--intensity-codes data/lfw-au-intensity/codes.csv] --name au-facs \\
        --out src/ferx/assets/models/au-facs.json
    python -m ferx.train.aus absence --calibration src/ferx/assets/models/au-facs.json \\
        --photo-codes data/lfw-au-codes/codes.csv [--photo-codes ...] --write

`train` runs the shared harness (config.yaml, metrics.csv, log.txt, last.pt every epoch, best.pt);
`export` writes NAME.onnx + NAME.json; `calibrate` chooses, per AU, what it is read from and its
threshold on FACS-coded faces, with subject-wise cross-validated grades (`ferx.train.aus.calibration`);
`absence` counts the clear codes on photos coded by eye that the pipeline reads as confidently absent
and writes them into the calibration (`ferx.train.aus.absence`; run it after every `calibrate`).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path

from ferx.train.runconfig import add_run_commands, run_command


def _user_errors(handler: Callable[[argparse.Namespace], None]) -> Callable[[argparse.Namespace], None]:
    """`handler` with a missing or invalid calibration, codes table or image said in one line (exit 2,
    as `run_command` says a ConfigError), not a traceback."""
    from ferx.data.readers import DatasetError
    from ferx.errors import ConfigError, ModelFileError

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> None:
        try:
            handler(args)
        except (ModelFileError, DatasetError) as e:
            raise ConfigError(str(e)) from None

    return run


def _tables(values: list[str] | None) -> list[tuple[Path, Path | None]] | None:
    """--photo-codes TABLE[=IMAGES] values as (table, images folder or None) pairs."""
    if not values:
        return None
    return [(Path(t), Path(i) if i else None) for t, _, i in (v.partition("=") for v in values)]


def _calibrate(args: argparse.Namespace) -> None:
    from ferx.fsutil import atomic_write_text
    from ferx.train.aus.calibration import fit

    if args.intensity_presence and args.intensity_codes is None:
        from ferx.errors import ConfigError

        raise ConfigError("--intensity-presence needs --intensity-codes (the table whose photos it adds)")
    for out in (args.out, args.record):  # before a minute of fitting, not after it
        if out is not None:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
    calibration, record = fit(args.coded, args.reference, args.name, None if args.mesh_only else args.heads,
                              progress=not args.quiet, cache=args.cache, photo_codes=_tables(args.photo_codes),
                              intensity_codes=args.intensity_codes, intensity_presence=args.intensity_presence)
    atomic_write_text(args.out, json.dumps(calibration.to_dict(), indent=1) + "\n")
    if args.record:
        atomic_write_text(args.record, json.dumps(record, indent=1) + "\n")
    s = record["summary"]
    print(f"wrote {args.out}: {len(calibration.readings)} AU readings; subject-wise cross-validated on "
          f"{record['coded']['peaks']} coded peaks: mean AUC {s['mean_auc']:.3f}, mean F1 {s['mean_f1']:.3f} "
          f"over {s['aus']} AUs; AU-only accuracy on the reference faces {record['au_only_reference_accuracy']:.3f}")
    for code, r in record["cross_validated"].items():
        print(f"  {code:>5} n={r['positives']:3d} AUC {r['auc']:.3f} F1 {r['f1']:.3f} P {r['precision']:.2f} R {r['recall']:.2f}")
    print(f"next: python -m ferx.train.aus absence --calibration {args.out} --photo-codes data/lfw-au-codes/codes.csv "
          "--photo-codes data/lfw-au-codes/codes-jaw.csv --photo-codes data/lfw-au-codes/codes-eyes.csv --write  "
          "(until then every AU graded good or fair may be called absent in explanations; docs/aus.md)")
    if "photos_cross_validated" in record:
        print(f"coded photos ({record['photos']['photos']}), identity-wise cross-validated: share of absent codes read "
              "at A or more, of clear codes read under A")
        for code, r in record["photos_cross_validated"].items():
            print(f"  {code:>5} n={r['positives']:3d}/{r['absent']:3d} AUC {r['auc']:.3f} F1 {r['f1']:.3f} "
                  f"read on absent {r['read_on_absent']:.2f} missed {r['missed_on_present']:.2f}")


def _absence(args: argparse.Namespace) -> None:
    from ferx.aus.calibrated import AUCalibration
    from ferx.facs import ABSENCE_CHECK_MAX_MISSES, ABSENCE_CHECK_MIN_CLEAR
    from ferx.fsutil import atomic_write_text
    from ferx.train.aus.absence import check_absence

    tables = [(t, i or args.images) for t, i in _tables(args.photo_codes) or []]
    checks = check_absence(args.calibration, tables)
    calibration = dataclasses.replace(AUCalibration.load(args.calibration), absence_checks=checks)
    profile = calibration.profile()
    print(f"clear codes read at or below the confident-absence level ({len(tables)} table(s)); absence is stated "
          f"where the grade is good or fair and, with >= {ABSENCE_CHECK_MIN_CLEAR} clear codes, at most "
          f"{ABSENCE_CHECK_MAX_MISSES:.0%} of them are")
    for n, (misses, clear) in checks.items():
        au = profile.by_number[n]
        print(f"  AU{n:<3} {misses:3d} / {clear:3d}  grade {au.reliability:<10} absence "
              f"{'stated' if au.absence_reliable else 'never stated'}")
    if args.write:
        atomic_write_text(args.calibration, json.dumps(calibration.to_dict(), indent=1) + "\n")
        print(f"wrote absence_checks into {args.calibration}")


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
    c.add_argument("--intensity-codes", type=Path, action="append", default=None, metavar="TABLE",
                   help="a table of photos coded by eye for AU intensity (data/lfw-au-intensity/codes.csv, images of "
                        "the reference folder; repeat for several rounds): the AUs' mid points (band C) where they "
                        "match its bands better")
    c.add_argument("--intensity-presence", action="store_true",
                   help="the --intensity-codes photos no --photo-codes table codes join the coded photos as presence "
                        "codes (both coders saw the AU: present; neither: absent; split: doubtful)")
    c.add_argument("--out", type=Path, required=True, help="the calibration JSON to write")
    c.add_argument("--name", default="au-facs")
    c.add_argument("--heads", default="au-heads", help="image-head model (a shipped name or NAME.onnx)")
    c.add_argument("--mesh-only", action="store_true", help="no image heads: blendshapes and geometry only")
    c.add_argument("--record", type=Path, help="also write the cross-validated measurements here (JSON)")
    c.add_argument("--cache", type=Path, help="keep the measurements here (clear it after changing the landmarker)")
    c.add_argument("--quiet", action="store_true")
    a = sub.add_parser("absence", help="count, per AU, the clear codes on photos coded by eye that the pipeline "
                                       "reads as confidently absent (whether 'absent' may be said of it)")
    a.add_argument("--calibration", type=Path, required=True, help="the calibration JSON (au-facs.json)")
    a.add_argument("--photo-codes", action="append", required=True, metavar="TABLE[=IMAGES]",
                   help="a table of photos coded by eye (its images in --images unless =IMAGES); repeat")
    a.add_argument("--images", type=Path, default=Path("../shared/data/lfw-expressions/images"),
                   help="the folder a table's image names are in, unless it says =IMAGES")
    a.add_argument("--write", action="store_true", help="write the counts into the calibration JSON")
    return run_command({"calibrate": _user_errors(_calibrate), "train": _train, "export": _export,
                        "absence": _user_errors(_absence)}, ap.parse_args(argv))

if __name__ == "__main__":
    sys.exit(main())
