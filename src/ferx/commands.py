"""What the subcommands of `ferx` share: reading `--config`, the `--llm` options, switching the explain
stage on, and printing explanations. Each subcommand lives with its package (`ferx.runs.cli`,
`ferx.train.cli`, `ferx.video.cli`, `ferx.report.cli`, `ferx.serve.cli`) and registers itself on the
parser (`register(subparsers)`, which sets the parser's `handler`); `ferx.cli` only lists them."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ferx.argtypes import http_url, integer, positive_float
from ferx.config import AnalyzerConfig, StageConfig
from ferx.errors import ConfigError
from ferx.numeric import percent

#: The detectors' smallest supported `min_face` (YuNet and BlazeFace both refuse less).
MIN_FACE_FLOOR = 8


def min_face(text: str) -> int:
    """`--min-face`: a bad value is a usage error (exit 2) with a message, never a traceback."""
    value = integer(text)
    if value < MIN_FACE_FLOOR:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_FACE_FLOOR} pixels, got {value}")
    return value


def load_config(args: argparse.Namespace) -> AnalyzerConfig:
    # Path, not str: --config always names a file, whatever its extension.
    config = AnalyzerConfig.from_yaml(Path(args.config)) if getattr(args, "config", None) else AnalyzerConfig()
    if getattr(args, "whole_image_face", False):
        config = config.with_overrides({"whole_image_face": "always"})
    return config


def add_whole_image_face_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--whole-image-face", action="store_true",
                   help="every image is one face crop (as datasets ship them: FER2013, CK+, RAF-DB aligned): "
                        "the face is the whole image, no detector is run (config: whole_image_face: always)")


def add_llm_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--llm", metavar="URL", type=http_url,
                   help="rephrase explanations with an OpenAI-compatible chat endpoint "
                   "(e.g. http://localhost:11434 for Ollama); unfaithful replies are discarded")
    p.add_argument("--llm-model", default="default", help="model name for --llm")
    p.add_argument("--llm-timeout", type=positive_float, default=30.0, help="seconds per --llm request (default 30)")


def explain_config(config: AnalyzerConfig, args: argparse.Namespace, *, asked: bool = True) -> AnalyzerConfig:
    """Switch the explain stage on (with --llm options) when explanations are `asked` for or --llm is
    given; otherwise `config` as it is."""
    if not asked and not args.llm:
        return config
    if config.aus is None:  # the pipeline's own message named a stage class and said "switch this stage off"
        hint = " add --aus to run the landmarker and AU stages on its faces" if config.pipeline == "onepass" else \
            " switch an AU estimator on in the config (aus: facs)"
        raise ConfigError(f"explanations are built from AU readings, and this pipeline ({config.pipeline}) measures "
                          f"none:{hint}")
    explain = config.explain or StageConfig("cot")
    options = dict(explain.options)
    if args.llm:
        options.update(llm_url=args.llm, llm_model=args.llm_model, llm_timeout=args.llm_timeout)
    config.explain = StageConfig(explain.name, options)
    return config


def format_explanation(explanation: Any, face: int, width: int = 100) -> str:
    """An explanation laid out for a terminal: a header line, then each section wrapped."""
    e = explanation
    clf = "" if e.classifier_label is None else f", classifier {e.classifier_label} {percent(e.classifier_probability)}%"
    agree = "" if e.agreement is None else (" (agree)" if e.agreement else " (DISAGREE)")
    lines = [f"face {face}: {e.label}" + ("" if e.probability is None else f" {percent(e.probability)}%")
             + f" — AU evidence {e.au_label}{clf}{agree}"
             + (f" — caveats: {', '.join(e.caveats)}" if e.caveats else "")]
    for para in e.text.split("\n"):
        lines.extend(textwrap.wrap(para, width=width, initial_indent="  ", subsequent_indent="    "))
    lines.extend(f"  note: {n}" for n in e.notes)
    return "\n".join(lines)


def print_explanations(item: Any, write: Callable[[str], None] = print) -> None:
    """Every face's explanation of a FrameResult, for a terminal."""
    write(f"{item.source}: {len(item.faces)} face(s)" + ("" if len(item.faces) else " — " + "; ".join(item.notes)))
    for k, e in enumerate(item.faces.explanations or ()):
        write(format_explanation(e, k) if e is not None else f"face {k}: no explanation (no AUs measured)")


__all__ = ["MIN_FACE_FLOOR", "add_llm_options", "add_whole_image_face_option", "explain_config", "format_explanation", "load_config", "min_face",
           "print_explanations"]
