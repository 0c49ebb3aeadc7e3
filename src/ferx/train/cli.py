"""The training commands: `ferx train` / `train-aus` / `train-detector` (a run from a YAML config),
`ferx eval` / `eval-detector` (a run's or an exported model's test metrics), `ferx export-detector`
and `ferx heatmaps`. Torch is imported only when a command that needs it runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ferx.argtypes import non_negative_int, positive_int, unit_interval
from ferx.errors import ConfigError

#: (command, what it trains, example configs, the key of its cache folder, an override example that
#: every config the help names accepts: a nested key of that trainer's own config — `data.seed` is
#: the detector's, and the other trainers' `data` is a string, so one shared example failed for them)
TRAINERS = (
    ("train", "an expression classifier with AU guidance", "configs/fer*.yaml", "cache_dir",
     "epochs=10 model_options.dropout=0.2"),
    ("train-detector", "the one-pass expression detector", "configs/onepass-*.yaml", "data.cache_dir",
     "epochs=10 data.seed=3"),
    ("train-aus", "the image-reading AU heads (weakly supervised)", "configs/aus-*.yaml", "cache_dir",
     "epochs=10 model_options.hidden=48"),
)


def register(subparsers: Any) -> None:
    """Add the training commands."""
    # the trainers take the same arguments (ferx.train.runconfig.load_run_config reads them)
    for command, what, configs, cache_key, example in TRAINERS:
        t = subparsers.add_parser(command, help=f"train {what} (needs ferx[train])")
        t.add_argument("config", help=f"training YAML (see {configs}); relative paths in it are relative to it")
        t.add_argument("overrides", nargs="*",
                       help=f"key=value overrides (YAML values); nested keys with dots, e.g. {example}")
        t.add_argument("--out", help="run folder (default runs/<config name>); a folder that already holds a run "
                                     "is refused unless --resume is given")
        t.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its last checkpoint (from epoch 1 if none was saved "
                            "yet), with its saved config; overrides "
                            f"of resumable keys (epochs, patience, threads, device, {cache_key}) are applied and "
                            "recorded, others refused")
        t.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
        t.set_defaults(handler=detector if command == "train-detector" else training)
    v = subparsers.add_parser("eval", help="evaluate a training run's best checkpoint on a whole split (needs "
                              "ferx[train])")
    v.add_argument("run", help="run folder")
    v.add_argument("--split", default="test", help="the split to evaluate, all of its images (default test); the "
                   "run's own test split writes RUN/report.json (what the export reads), others report-SPLIT.json")
    v.add_argument("--data", help="another dataset spec with the same labels; writes RUN/report-SPLIT-DATASET.json "
                   "(KIND-FOLDER, so two datasets do not overwrite each other)")
    v.add_argument("--max-images", type=non_negative_int, default=0,
                   help="evaluate only the split's first N images (default 0: all; the run's max_eval bounds "
                        "only its training-time validation)")
    v.set_defaults(handler=training)
    h = subparsers.add_parser("heatmaps", help="render dataset faces with their AU heatmaps, to check them")
    h.add_argument("data", help="dataset spec, e.g. ferplus:PATH/TO/ferplus")
    h.add_argument("--split", default="test", help="the dataset split to draw faces from (default test)")
    h.add_argument("--per-label", type=positive_int, default=6, help="faces per expression label (default 6)")
    h.add_argument("--cache-dir", default="runs/cache/landmarks",
                   help="where measured landmarks are kept between runs (default runs/cache/landmarks)")
    h.add_argument("--out", default="heatmaps.png", help="the grid image to write: .png, .jpg or .webp "
                   "(default heatmaps.png)")
    h.set_defaults(handler=training)
    _register_detector(subparsers)


def _register_detector(subparsers: Any) -> None:
    ed = subparsers.add_parser("eval-detector", help="COCO-style face and expression mAP of a detector run or .onnx model")
    ed.add_argument("target", help="run folder or NAME.onnx")
    ed.add_argument("--split", default="test")
    ed.add_argument("--conf", type=unit_interval, default=0.01, help="score threshold for AP (default 0.01)")
    ed.add_argument("--nms", type=unit_interval, default=0.3, help="NMS IoU (default 0.3, the paper's)")
    ed.add_argument("--data", help="training YAML whose mosaics to evaluate on (required for .onnx)")
    ed.add_argument("--threads", type=non_negative_int, default=0)
    ed.set_defaults(handler=detector)
    xd = subparsers.add_parser("export-detector", help="export a detector run to ONNX + JSON sidecar (needs ferx[train])")
    xd.add_argument("run")
    xd.add_argument("--name", required=True)
    xd.add_argument("--out", default="models", help="folder for NAME.onnx and NAME.json (default ./models)")
    xd.add_argument("--size", type=positive_int, default=640)
    xd.add_argument("--conf", type=unit_interval, default=0.5,
                    help="default face-score threshold in the sidecar (paper: 0.5)")
    xd.set_defaults(handler=detector)


def _missing_torch(e: ModuleNotFoundError, what: str) -> int:
    print(f"ferx: error: {what} need PyTorch ({e.name} is missing): pip install 'ferx[train]'", file=sys.stderr)
    return 2


def detector(args: argparse.Namespace) -> int:
    """`ferx train-detector` / `eval-detector` / `export-detector`: config → ferx.train.onepass."""
    from ferx.data.readers import DatasetError

    try:
        from ferx.train.onepass import export as onepass_export
        from ferx.train.onepass import train as onepass_train
        from ferx.train.runconfig import load_config, load_run_config
    except ModuleNotFoundError as e:
        return _missing_torch(e, "the detector commands")
    keys = ("face_ap50", "face_ap50_95", "expression_map50", "expression_map50_95")
    try:
        if args.command == "train-detector":
            out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
            config = load_run_config(onepass_train.DetectorTrainConfig, args.config, args.overrides, out, args.resume)
            onepass_train.train(config, out, resume=args.resume, progress=not args.quiet)
            report = onepass_train.evaluate_target(out, "test", progress=not args.quiet)
            print(json.dumps({k: report[k] for k in keys}, indent=1))
        elif args.command == "eval-detector":
            data = load_config(onepass_train.DetectorTrainConfig, args.data).data if args.data else None
            report = onepass_train.evaluate_target(Path(args.target), args.split, args.conf, args.nms, data,
                                                   threads=args.threads)
            print(json.dumps({k: report[k] for k in (*keys, "at_conf")}, indent=1))
        else:
            _export_detector(args, onepass_export, onepass_train)
    except (FileNotFoundError, DatasetError) as e:
        print(f"ferx: error: {e}", file=sys.stderr)
        return 2
    return 0


def _export_detector(args: argparse.Namespace, onepass_export: Any, onepass_train: Any) -> None:
    import numpy as np

    if args.size % 32:
        raise ConfigError(f"--size must be a multiple of 32, got {args.size}")
    path = onepass_export.export(Path(args.run), args.name, Path(args.out), args.size, conf=args.conf)
    model, _ = onepass_train.load_run_model(Path(args.run))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 1, args.size, args.size)).astype(np.float32)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); max |Δ| of raw maps vs PyTorch on noise: "
          f"{onepass_export.parity(model, path, x):.2e}")


def training(args: argparse.Namespace) -> int:
    """`ferx train` / `train-aus` / `eval` / `heatmaps`: config → ferx.train."""
    from ferx.data.readers import DatasetError

    if args.command == "heatmaps":
        from ferx.train.review import review

        out = Path(args.out)
        # checked before the work: a missing folder or an extension Pillow cannot write gave a traceback at the end
        if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
            print(f"ferx: error: --out {out}: give a .png, .jpg or .webp file", file=sys.stderr)
            return 2
        if not out.parent.is_dir():
            print(f"ferx: error: --out {out}: no such folder {out.parent}", file=sys.stderr)
            return 2
        try:
            print(review(args.data, args.split, args.per_label, Path(args.cache_dir), out))
        except DatasetError as e:
            print(f"ferx: error: {e}", file=sys.stderr)
            return 2
        return 0
    try:
        from ferx.train import classifier
        from ferx.train.runconfig import load_run_config
    except ModuleNotFoundError as e:
        return _missing_torch(e, "training commands")
    try:
        if args.command == "eval":
            report = classifier.evaluate_run(Path(args.run), args.split, args.data, limit=args.max_images)
            keys = ("accuracy", "macro_f1", "cam_cos", "att_cos", "n", "n_split", "dataset", "report")
            print(json.dumps({"images": classifier.images_evaluated(report), **{k: report[k] for k in keys}},
                             indent=1))
            return 0
        out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
        if args.command == "train":
            config = load_run_config(classifier.ClassifierTrainConfig, args.config, args.overrides, out, args.resume)
            classifier.train(config, out, resume=args.resume, progress=not args.quiet)
        else:
            from ferx.train import aus as au_train

            au_config = load_run_config(au_train.AUTrainConfig, args.config, args.overrides, out, args.resume)
            au_train.train(au_config, out, resume=args.resume, progress=not args.quiet)
    except (FileNotFoundError, DatasetError) as e:
        print(f"ferx: error: {e}", file=sys.stderr)
        return 2
    return 0


__all__ = ["detector", "register", "training"]
