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
Each subcommand lives with its package and registers itself (`register(subparsers)` sets the
parser's `handler`): `ferx.runs.cli` (analyze, batch), `ferx.video.cli` (the video options of
analyze, webcam), `ferx.train.cli` (train, eval, heatmaps, the detector's), `ferx.report.cli`,
`ferx.serve.cli`; explain, cot-data and config are here. The runs themselves (output layouts, atomic
writes, resume) are `ferx.runs`.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

from ferx import __version__
from ferx.argtypes import positive_int
from ferx.assets import demo_image
from ferx.commands import (
    add_llm_options,
    add_whole_image_face_option,
    explain_config,
    format_explanation,
    load_config,
    print_explanations,
)
from ferx.config import AnalyzerConfig
from ferx.errors import ConfigError, FerxError, InputRangeWarning, NoImagesError
from ferx.report import cli as report_cli  # light: matplotlib is imported only when a report is drawn
from ferx.runs import cli as runs_cli  # light: pyarrow/Ray/PyAV are imported only by a run that needs them
from ferx.runs.driver import SetupError
from ferx.runs.photos import FORMATS
from ferx.serve import cli as serve_cli  # light: FastAPI is imported only by `ferx serve`
from ferx.train import cli as train_cli  # light: torch is imported only by a training command
from ferx.video import cli as video_cli  # light: PyAV is imported only for a video

__all__ = ["FORMATS", "demo_image", "entry", "format_explanation", "main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ferx", description="Explainable facial expression recognition.")
    p.add_argument("--version", action="version", version=f"ferx {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    # the order of `ferx --help`; the video options join `analyze`, so they come after it
    for register in (runs_cli.register_analyze, _register_explain, train_cli.register, video_cli.register,
                     report_cli.register, serve_cli.register, runs_cli.register_batch, _register_config):
        register(sub)
    return p


def _register_explain(sub: Any) -> None:
    e = sub.add_parser("explain", help="print the chain-of-thought explanation of every face")
    e.add_argument("paths", nargs="+", help="image files and/or folders")
    e.add_argument("--recursive", "-r", action="store_true", help="search folders recursively")
    e.add_argument("--config", help="YAML config file (see `ferx config`)")
    e.add_argument("--json", action="store_true", help="print the structured explanations as JSON lines")
    add_whole_image_face_option(e)
    add_llm_options(e)
    e.set_defaults(handler=_explain)

    d = sub.add_parser("cot-data", help="write Exp-CoT instruction-tuning data for a labelled dataset")
    d.add_argument("dataset", help="KIND:PATH or PATH (kinds: ferplus, fer2013, folders, lfw-expressions, rafdb, affectnet)")
    d.add_argument("--out", required=True, help="output folder; an existing one is resumed when it was made with "
                   "the same settings (dataset, split, --ratio, --seed, ...; a --limit may grow), refused otherwise")
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
    d.set_defaults(handler=_cot_data)


def _register_config(sub: Any) -> None:
    sub.add_parser("config", help="print the default configuration as YAML").set_defaults(handler=_print_config)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (see the module docstring)."""
    try:
        args = _parse(_parser(), argv)
    except SystemExit as e:  # argparse has printed the usage error (2), or --help / --version (0)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    try:
        with warnings.catch_warnings():
            # the runs print what decoding an input warned about with its name, and write it in its notes
            warnings.simplefilter("ignore", InputRangeWarning)
            return int(args.handler(args))
    except (ConfigError, NoImagesError, SetupError) as e:
        print(f"ferx: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ferx: interrupted", file=sys.stderr)
        return 130


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """The command line; `key=value` overrides of the training commands may also follow their options
    (`ferx train run.yaml --out runs/x --resume epochs=40`: argparse takes a command's positionals in one
    block, and refused those with the top-level usage)."""
    args, extra = parser.parse_known_args(argv)
    overrides = [e for e in extra if "=" in e and not e.startswith("-")]
    if overrides and isinstance(getattr(args, "overrides", None), list):
        args.overrides.extend(overrides)
        extra = [e for e in extra if e not in overrides]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _print_config(args: argparse.Namespace) -> int:
    """The default configuration, each stage followed by its backend's options and their defaults as
    comments: `options: {}` alone did not tell a user editing the file what could go there."""
    import ferx.backends  # noqa: F401  (registers every backend's name)
    from ferx.stages import SLOTS

    config = AnalyzerConfig()
    lines = config.to_yaml().splitlines()
    for slot in reversed(SLOTS):
        stage = getattr(config, slot.config_field)
        if stage is None or f"{slot.config_field}:" not in lines:
            continue
        at = lines.index(f"{slot.config_field}:") + 1
        while at < len(lines) and lines[at].startswith("  "):
            at += 1
        shown = ", ".join(f"{k}: {json.dumps(v, default=str)}" for k, v in slot.registry.defaults(stage.name).items())
        lines.insert(at, f"  # options of {stage.name} (defaults): {shown}" if shown else f"  # {stage.name} takes no options")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0

def _explain(args: argparse.Namespace) -> int:
    from ferx.fsutil import printable
    from ferx.pipeline import Analyzer, Failure
    from ferx.runs.photos import iter_frames_noted, said_with_source
    from ferx.video.sniff import split_media

    files, videos = split_media(args.paths, recursive=args.recursive)
    for v in videos:  # a folder's videos were dropped without a word
        print(f"ferx: skipped {printable(str(v))}: a video; `ferx explain` reads photos — `ferx analyze "
              "VIDEO` explains each expression segment (segments.jsonl)", file=sys.stderr)
    if not files:
        raise NoImagesError(f"no photos to explain ({len(videos)} video(s) skipped)")
    config = explain_config(load_config(args), args)
    failed = 0
    with Analyzer(config) as analyzer:
        for _, item, notes in iter_frames_noted(analyzer, [str(f) for f in files]):
            for note in notes:
                print(f"ferx: {item.source}: {note}", file=sys.stderr)
            if isinstance(item, Failure):
                failed += 1
                print(f"ferx: skipped {said_with_source(item.source, item.message)}", file=sys.stderr)
            elif args.json:
                for k, e in enumerate(item.faces.explanations or ()):
                    print(json.dumps({"source": item.source, "face": k, "explanation": None if e is None else e.to_dict()}))
                if not len(item.faces):  # a line per photo, also without a face (it printed nothing)
                    print(json.dumps({"source": item.source, "face": None, "explanation": None, "notes": list(item.notes)}))
            else:
                print_explanations(item)
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
    config = load_config(args)
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
