"""Command line: thin subcommands that build a config and call the library.

    ferx analyze PATH... [--out DIR] [--format json,csv] [--annotate] [--landmarks] [--recursive] [--resume]
    ferx analyze --demo
    ferx analyze PATH... --explain [--llm URL]   # also print each face's chain of thought
    ferx explain IMAGE... [--llm URL]            # print only the explanations
    ferx cot-data DATASET --out DIR [--split test] [--ratio 1:3]   # Exp-CoT instruction data
    ferx analyze PATH... --pipeline onepass [--aus]   # one-pass detector (+ landmarks/AUs on its boxes)
    ferx train-detector CONFIG.yaml [--resume --out RUN] / ferx eval-detector RUN|MODEL.onnx
    ferx train-aus configs/aus-heads.yaml [--resume --out RUN]   # image-reading AU heads
    ferx analyze PATH... --report                # also write OUT/report.html (opens offline)
    ferx analyze clip.mp4 [--every N | --fps F] [--start T --end T]   # video: tracked faces, rows, timelines
    ferx analyze frames/ --sequence [--sequence-fps F]   # a folder of numbered frames as one video
    ferx batch INPUT OUTPUT [--engine local|ray] [--address ADDR] [--workers N]   # Parquet dataset, resumable
    ferx webcam [--device N]                     # live camera: window when a display exists, rows always
    ferx report RESULTS_DIR                      # the HTML report of an earlier run
    ferx serve [--host --port --workers]         # web service (JSON API, OpenAPI at /docs) and page at /
    ferx config            # print the default configuration as YAML

Exit status: 0 when every input was analysed (images without faces included), 1 when some inputs
failed (each is reported and the rest are still written) or the output kept failing, 2 for usage
errors, an unusable output folder or nothing to analyse, 130 / 143 when `ferx analyze` was stopped by
SIGINT / SIGTERM (its summary.json then says "interrupted"; `--resume` continues).
The batch itself (output layout, atomic writes, resume) is `ferx.batch`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ferx import __version__
from ferx.argtypes import http_url, integer, non_negative_int, positive_float, positive_int, unit_interval
from ferx.assets import demo_image
from ferx.runs.photos import FORMATS, BatchError, BatchOptions, printable, run_photos
from ferx.config import PIPELINES, AnalyzerConfig, StageConfig
from ferx.errors import ConfigError, FerxError, NoImagesError
from ferx.report import cli as report_cli  # light: matplotlib is imported only when a report is drawn
from ferx.scale import cli as batch_cli  # light: pyarrow/Ray are imported only by `ferx batch`
from ferx.serve import cli as serve_cli  # light: FastAPI is imported only by `ferx serve`
from ferx.video.cli import add_video_arguments  # light: PyAV is imported only for a video
from ferx.video.sniff import split_media

__all__ = ["FORMATS", "demo_image", "entry", "main"]

#: The detector's smallest supported `min_face` (BlazeFace's pyramid refuses less).
MIN_FACE_FLOOR = 8


# -- argument types: a bad value is a usage error (exit 2) with a message, never a traceback ----------
def _min_face(text: str) -> int:
    value = integer(text)
    if value < MIN_FACE_FLOOR:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_FACE_FLOOR} pixels, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ferx", description="Explainable facial expression recognition.")
    p.add_argument("--version", action="version", version=f"ferx {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="find faces and measure landmarks, AUs and expression")
    a.add_argument("paths", nargs="*", help="image files and/or folders")
    a.add_argument("--demo", action="store_true", help="analyse the bundled example image")
    a.add_argument("--out", default="ferx-output", help="output folder (default: ferx-output); an earlier batch "
                   "there is replaced unless --resume")
    a.add_argument("--format", default="json", help="comma-separated: json (one file per image), csv (faces.csv; "
                   "rows.csv for a video), parquet (faces.parquet / rows.parquet): the rows are ferx's one table")
    a.add_argument("--annotate", action="store_true", help="write annotated images to OUT/annotated/")
    a.add_argument("--landmarks", action="store_true", help="draw the 478 landmarks on annotated images")
    a.add_argument("--recursive", "-r", action="store_true", help="search folders recursively")
    a.add_argument("--config", help="YAML config file (see `ferx config`)")
    a.add_argument("--min-face", type=_min_face, help="smallest face side in pixels the detector looks for "
                   f"(default 24, at least {MIN_FACE_FLOOR})")
    a.add_argument("--resume", action="store_true", help="continue the batch in --out: images it finished are "
                   "not redone (the options and config must be the same)")
    a.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no per-file messages")
    a.add_argument("--explain", action="store_true", help="print each face's explanation (chain of thought)")
    a.add_argument("--pipeline", choices=sorted(PIPELINES), help="stage preset: two-stage (default: detector, "
                   "landmarks, AUs, classifier) or onepass (one network finds faces and their expressions)")
    a.add_argument("--aus", action="store_true", help="with --pipeline onepass: also run the landmarker, AU and "
                   "explain stages on the detected boxes")
    _llm_options(a)
    report_cli.add_report_flag(a)

    e = sub.add_parser("explain", help="print the chain-of-thought explanation of every face")
    e.add_argument("paths", nargs="+", help="image files and/or folders")
    e.add_argument("--recursive", "-r", action="store_true", help="search folders recursively")
    e.add_argument("--config", help="YAML config file (see `ferx config`)")
    e.add_argument("--json", action="store_true", help="print the structured explanations as JSON lines")
    _llm_options(e)

    d = sub.add_parser("cot-data", help="write Exp-CoT instruction-tuning data for a labelled dataset")
    d.add_argument("dataset", help="KIND:PATH or PATH (kinds: ferplus, fer2013, folders, lfw-expressions, rafdb, affectnet)")
    d.add_argument("--out", required=True, help="output folder (resumed if it exists)")
    d.add_argument("--split", help="train, val or test (default: all)")
    d.add_argument("--ratio", default="1:3", help="CoT : label-only records per image, COT 0 or 1 (default 1:3, "
                   "as in ExpLLM's data lists)")
    d.add_argument("--drop-contradicting", action="store_true", help="leave out the CoT record of images whose "
                   "measured AUs argue against their label (they are flagged and counted in stats.md either way)")
    d.add_argument("--seed", type=int, default=0, help="task assignment, prompts and phrasing (default 0)")
    d.add_argument("--language", default="en", help="template language (default en)")
    d.add_argument("--limit", type=positive_int, help="use only the first N samples")
    d.add_argument("--config", help="YAML config file for the analysis (see `ferx config`)")
    d.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    # the trainers take the same arguments (ferx.train.runconfig.load_run_config reads them)
    for command, what, configs, cache_key in (
        ("train", "an expression classifier with AU guidance", "configs/ferplus-*.yaml", "cache_dir"),
        ("train-detector", "the one-pass expression detector", "configs/onepass-*.yaml", "data.cache_dir"),
        ("train-aus", "the image-reading AU heads (weakly supervised)", "configs/aus-*.yaml", "cache_dir"),
    ):
        t = sub.add_parser(command, help=f"train {what} (needs ferx[train])")
        t.add_argument("config", help=f"training YAML (see {configs}); relative paths in it are relative to it")
        t.add_argument("overrides", nargs="*",
                       help="key=value overrides (YAML values), e.g. epochs=10; nested keys with dots: data.seed=3")
        t.add_argument("--out", help="run folder (default runs/<config name>)")
        t.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its last checkpoint, with its saved config; overrides "
                            f"of resumable keys (epochs, patience, threads, device, {cache_key}) are applied and "
                            "recorded, others refused")
        t.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    v = sub.add_parser("eval", help="evaluate a training run's best checkpoint (needs ferx[train])")
    v.add_argument("run", help="run folder")
    v.add_argument("--split", default="test")
    v.add_argument("--data", help="another dataset spec with the same labels")

    h = sub.add_parser("heatmaps", help="render dataset faces with their AU heatmaps, to check them")
    h.add_argument("data", help="dataset spec, e.g. ferplus:PATH/TO/ferplus")
    h.add_argument("--split", default="test")
    h.add_argument("--per-label", type=positive_int, default=6)
    h.add_argument("--cache-dir", default="runs/cache/landmarks")
    h.add_argument("--out", default="heatmaps.png")

    ed = sub.add_parser("eval-detector", help="COCO-style face and expression mAP of a detector run or .onnx model")
    ed.add_argument("target", help="run folder or NAME.onnx")
    ed.add_argument("--split", default="test")
    ed.add_argument("--conf", type=unit_interval, default=0.01, help="score threshold for AP (default 0.01)")
    ed.add_argument("--nms", type=unit_interval, default=0.3, help="NMS IoU (default 0.3, the paper's)")
    ed.add_argument("--data", help="training YAML whose mosaics to evaluate on (required for .onnx)")
    ed.add_argument("--threads", type=non_negative_int, default=0)

    xd = sub.add_parser("export-detector", help="export a detector run to ONNX + JSON sidecar (needs ferx[train])")
    xd.add_argument("run")
    xd.add_argument("--name", required=True)
    xd.add_argument("--out", default="models", help="folder for NAME.onnx and NAME.json (default ./models)")
    xd.add_argument("--size", type=positive_int, default=640)
    xd.add_argument("--conf", type=unit_interval, default=0.5,
                    help="default face-score threshold in the sidecar (paper: 0.5)")

    add_video_arguments(sub)  # video options on `analyze` and the `webcam` subcommand
    report_cli.add_arguments(sub)
    serve_cli.add_arguments(sub)
    batch_cli.add_arguments(sub)
    sub.add_parser("config", help="print the default configuration as YAML")
    return p


def _detector(args: argparse.Namespace) -> int:
    """`ferx train-detector` / `eval-detector` / `export-detector`: config → ferx.train.onepass."""
    import numpy as np

    from ferx.data.readers import DatasetError

    try:
        from ferx.train.onepass import export as onepass_export
        from ferx.train.onepass import train as onepass_train
        from ferx.train.runconfig import load_config, load_run_config
    except ModuleNotFoundError as e:
        print(f"ferx: error: the detector commands need PyTorch ({e.name} is missing): pip install 'ferx[train]'",
              file=sys.stderr)
        return 2
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
            if args.size % 32:
                raise ConfigError(f"--size must be a multiple of 32, got {args.size}")
            path = onepass_export.export(Path(args.run), args.name, Path(args.out), args.size, conf=args.conf)
            model, _ = onepass_train.load_run_model(Path(args.run))
            x = np.random.default_rng(0).uniform(-1, 1, (1, 1, args.size, args.size)).astype(np.float32)
            print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); max |Δ| of raw maps vs PyTorch on noise: "
                  f"{onepass_export.parity(model, path, x):.2e}")
    except (FileNotFoundError, DatasetError) as e:
        print(f"ferx: error: {e}", file=sys.stderr)
        return 2
    return 0


def _training(args: argparse.Namespace) -> int:
    """`ferx train` / `ferx eval` / `ferx heatmaps`: config → ferx.train."""
    from ferx.data.readers import DatasetError

    if args.command == "heatmaps":
        from ferx.train.review import review

        print(review(args.data, args.split, args.per_label, Path(args.cache_dir), Path(args.out)))
        return 0
    try:
        from ferx.train import classifier
        from ferx.train.runconfig import load_run_config
    except ModuleNotFoundError as e:
        print(f"ferx: error: training needs PyTorch ({e.name} is missing): pip install 'ferx[train]'", file=sys.stderr)
        return 2
    try:
        if args.command == "train":
            out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
            config = load_run_config(classifier.ClassifierTrainConfig, args.config, args.overrides, out, args.resume)
            classifier.train(config, out, resume=args.resume, progress=not args.quiet)
        elif args.command == "train-aus":
            from ferx.train import aus as au_train

            out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
            au_config = load_run_config(au_train.AUTrainConfig, args.config, args.overrides, out, args.resume)
            au_train.train(au_config, out, resume=args.resume, progress=not args.quiet)
        else:
            report = classifier.evaluate_run(Path(args.run), args.split, args.data)
            print(json.dumps({k: report[k] for k in ("accuracy", "macro_f1", "cam_cos", "att_cos", "n")}, indent=1))
    except (FileNotFoundError, DatasetError) as e:
        print(f"ferx: error: {e}", file=sys.stderr)
        return 2
    return 0


def _llm_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--llm", metavar="URL", type=http_url,
                   help="rephrase explanations with an OpenAI-compatible chat endpoint "
                   "(e.g. http://localhost:11434 for Ollama); unfaithful replies are discarded")
    p.add_argument("--llm-model", default="default", help="model name for --llm")
    p.add_argument("--llm-timeout", type=positive_float, default=30.0, help="seconds per --llm request (default 30)")


def _explain_config(config: AnalyzerConfig, args: argparse.Namespace) -> AnalyzerConfig:
    """Switch the explain stage on (with --llm options) for commands that print explanations."""
    if args.command == "analyze" and not args.explain and not args.llm:
        return config
    explain = config.explain or StageConfig("cot")
    options = dict(explain.options)
    if args.llm:
        options.update(llm_url=args.llm, llm_model=args.llm_model, llm_timeout=args.llm_timeout)
    config.explain = StageConfig(explain.name, options)
    return config


def format_explanation(explanation: Any, face: int, width: int = 100) -> str:
    """An explanation laid out for a terminal: a header line, then each section wrapped."""
    import textwrap

    e = explanation
    clf = "" if e.classifier_label is None else f", classifier {e.classifier_label} {100 * e.classifier_probability:.0f}%"
    agree = "" if e.agreement is None else (" (agree)" if e.agreement else " (DISAGREE)")
    lines = [f"face {face}: {e.label}" + ("" if e.probability is None else f" {100 * e.probability:.0f}%")
             + f" — AU evidence {e.au_label}{clf}{agree}"
             + (f" — caveats: {', '.join(e.caveats)}" if e.caveats else "")]
    for para in e.text.split("\n"):
        lines.extend(textwrap.wrap(para, width=width, initial_indent="  ", subsequent_indent="    "))
    lines.extend(f"  note: {n}" for n in e.notes)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (see the module docstring)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # argparse has printed the usage error (2), or --help / --version (0)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    if args.command == "config":
        sys.stdout.write(AnalyzerConfig().to_yaml())
        return 0
    try:
        if args.command == "explain":
            return _explain(args)
        if args.command == "cot-data":
            return _cot_data(args)
        if args.command in ("train", "eval", "heatmaps", "train-aus"):
            return _training(args)
        if args.command in ("train-detector", "eval-detector", "export-detector"):
            return _detector(args)
        if args.command == report_cli.COMMAND:
            return report_cli.run(args)
        if args.command == "serve":
            return serve_cli.run(args)
        if args.command == "batch":
            return batch_cli.run(args)
        if args.command == "webcam":
            from ferx.video.cli import run_webcam

            return run_webcam(args)
        return _analyze(args)
    except (ConfigError, NoImagesError, BatchError) as e:
        print(f"ferx: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ferx: interrupted", file=sys.stderr)
        return 130


def _analyze(args: argparse.Namespace) -> int:

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    options = BatchOptions(formats=formats, annotate=args.annotate, landmarks=args.landmarks)
    paths = list(args.paths) + ([str(demo_image())] if args.demo else [])
    if not paths:
        raise ConfigError("nothing to analyse: give image files or folders, or --demo")
    # photos and videos are told apart by content, so a folder may mix them
    files, videos = ([], []) if args.sequence else split_media(paths, recursive=args.recursive)
    out_dir = Path(args.out).resolve()
    videos = [v for v in videos if out_dir not in v.resolve().parents]  # never re-read our own annotated.mp4

    config = _load_config(args)
    if args.pipeline:
        config = config.with_overrides({"pipeline": args.pipeline})
    if args.aus:
        config = config.with_addon("aus")
    if args.min_face is not None:
        detector_options = dict(config.detector.options, min_face=args.min_face)
        config.detector = StageConfig(config.detector.name, detector_options)
    config = _explain_config(config, args)
    on_result = _print_explanations if args.explain else None
    if args.sequence:  # each folder or glob is one video, into OUT/<folder name>/
        from ferx.video.cli import run_sequences

        return run_sequences(args, config)

    if args.report and "json" not in formats and files:
        raise ConfigError("--report needs --format json (the report reads the per-image JSON files)")
    code = 0
    if videos:
        from ferx.video.cli import run_video

        code = run_video(args, videos, config)  # each video into OUT/<name>/
        if code in (130, 143) or not files:
            return code
    s = run_photos(files, args.out, config, options, resume=args.resume, quiet=args.quiet, on_result=on_result)
    out = printable(str(args.out))
    print(
        f"ferx: {s.files} file(s), {s.faces} face(s), {s.files_without_faces} without faces, "
        f"{len(s.failed)} failed, {s.seconds:.1f} s → {out}/",
        file=sys.stderr,
    )
    if s.status == "interrupted":
        print(f"ferx: interrupted by {s.signal}: {s.analysed} of {s.files} file(s) done; summary.json says "
              f"\"interrupted\"; run again with --resume to finish", file=sys.stderr)
    elif s.status == "aborted":
        print(f"ferx: error: batch stopped: {s.reason}; fix the output, then run again with --resume", file=sys.stderr)
    if s.exit_code in (130, 143):
        return s.exit_code
    if args.report and s.status == "complete":
        return max(code, s.exit_code or report_cli.after_batch(args.out))
    return max(code, s.exit_code)


def _load_config(args: argparse.Namespace) -> AnalyzerConfig:
    # Path, not str: --config always names a file, whatever its extension.
    return AnalyzerConfig.from_yaml(Path(args.config)) if args.config else AnalyzerConfig()


def _print_explanations(item: Any, write: Any = print) -> None:
    write(f"{item.source}: {len(item.faces)} face(s)" + ("" if len(item.faces) else " — " + "; ".join(item.notes)))
    for k, e in enumerate(item.faces.explanations or ()):
        write(format_explanation(e, k) if e is not None else f"face {k}: no explanation (no AUs measured)")


def _explain(args: argparse.Namespace) -> int:
    from ferx.io import find_images
    from ferx.pipeline import Analyzer, Failure

    files = find_images(args.paths, recursive=args.recursive)
    config = _explain_config(_load_config(args), args)
    failed = 0
    with Analyzer(config) as analyzer:
        for _, item in analyzer.iter_frames(str(f) for f in files):
            if isinstance(item, Failure):
                failed += 1
                print(f"ferx: skipped {item.source}: {item.message}", file=sys.stderr)
            elif args.json:
                for k, e in enumerate(item.faces.explanations or ()):
                    print(json.dumps({"source": item.source, "face": k, "explanation": None if e is None else e.to_dict()}))
            else:
                _print_explanations(item)
    return 1 if failed else 0


def _cot_data(args: argparse.Namespace) -> int:
    from ferx.data.readers import DatasetError, open_dataset
    from ferx.explain.data_engine import EngineSettings, generate, parse_ratio
    from ferx.pipeline import Analyzer

    try:
        cot, label = parse_ratio(args.ratio)
        settings = EngineSettings(cot, label, args.seed, args.language, drop_contradicting=args.drop_contradicting)
        from ferx.explain.templates import load_templates

        load_templates(args.language)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    try:
        dataset = open_dataset(args.dataset, args.split)
    except DatasetError as e:
        raise ConfigError(str(e)) from None
    config = _load_config(args)
    config.explain = None  # the engine builds explanations itself, concluding on the ground truth
    with Analyzer(config) as analyzer:
        try:
            report = generate(dataset, args.out, analyzer, settings, limit=args.limit, progress=not args.quiet)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    st = report.stats
    acc = st["au_evidence_accuracy"]
    tasks = ", ".join(f"{k} {v}" for k, v in sorted(st["tasks"].items()))
    print(
        f"ferx: {dataset.name}: {report.written} record(s) written, {report.resumed} already done, "
        f"{len(report.skipped)} skipped this run; in total {st['records']} records ({tasks}), "
        f"{st['skipped']} skipped (listed in skipped.jsonl); AU evidence alone picks the label in "
        f"{'n/a' if acc is None else f'{100 * acc:.1f} %'}; {report.seconds:.1f} s → {args.out}/",
        file=sys.stderr,
    )
    return 0


def entry() -> None:
    try:
        sys.exit(main())
    except FerxError as e:  # a problem with models or setup, not with one input
        print(f"ferx: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    entry()
