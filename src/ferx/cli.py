"""Command line: thin subcommands that build a config and call the library.

    ferx analyze PATH... [--out DIR] [--format json,csv] [--annotate] [--landmarks] [--recursive]
    ferx analyze --demo
    ferx config            # print the default configuration as YAML

Exit status: 0 when every input was analysed (images without faces included), 1 when some inputs
failed (each is reported and the rest are still written), 2 for usage errors or nothing to analyse.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from ferx import __version__
from ferx.config import AnalyzerConfig, StageConfig
from ferx.errors import ConfigError, FerxError, NoImagesError

FORMATS = ("json", "csv")


def demo_image() -> Path:
    """The bundled example: NASA's portrait of astronaut Eileen Collins (public domain), as
    distributed by scikit-image."""
    return Path(str(resources.files("ferx") / "assets" / "astronaut.jpg"))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ferx", description="Explainable facial expression recognition.")
    p.add_argument("--version", action="version", version=f"ferx {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="find faces and measure landmarks, AUs and expression")
    a.add_argument("paths", nargs="*", help="image files and/or folders")
    a.add_argument("--demo", action="store_true", help="analyse the bundled example image")
    a.add_argument("--out", default="ferx-output", help="output folder (default: ferx-output)")
    a.add_argument("--format", default="json", help="comma-separated: json (one file per image), csv (faces.csv)")
    a.add_argument("--annotate", action="store_true", help="write annotated images to OUT/annotated/")
    a.add_argument("--landmarks", action="store_true", help="draw the 478 landmarks on annotated images")
    a.add_argument("--recursive", "-r", action="store_true", help="search folders recursively")
    a.add_argument("--config", help="YAML config file (see `ferx config`)")
    a.add_argument("--min-face", type=int, help="smallest face side in pixels the detector looks for (default 24)")
    a.add_argument("--quiet", "-q", action="store_true", help="no progress bar, no per-file messages")

    sub.add_parser("config", help="print the default configuration as YAML")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "config":
        sys.stdout.write(AnalyzerConfig().to_yaml())
        return 0
    try:
        return _analyze(args)
    except (ConfigError, NoImagesError) as e:
        print(f"ferx: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ferx: interrupted", file=sys.stderr)
        return 130


def _analyze(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ferx.annotate import annotate
    from ferx.io import find_images
    from ferx.pipeline import Analyzer, Failure

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ConfigError(f"unknown --format {', '.join(bad) or repr(args.format)}; choose from {', '.join(FORMATS)}")
    paths = list(args.paths) + ([str(demo_image())] if args.demo else [])
    if not paths:
        raise ConfigError("nothing to analyse: give image files or folders, or --demo")
    files = find_images(paths, recursive=args.recursive)

    config = AnalyzerConfig.from_yaml(args.config) if args.config else AnalyzerConfig()
    if args.min_face is not None:
        options = dict(config.detector.options, min_face=args.min_face)
        config.detector = StageConfig(config.detector.name, options)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(config.to_yaml())
    root = _common_root(files)

    n_faces = n_empty = 0
    failures: list[Failure] = []
    t0 = time.perf_counter()
    csv_file: TextIO | None = open(out / "faces.csv", "w", newline="") if "csv" in formats else None
    csv_writer: Any = None
    try:
        with Analyzer(config) as analyzer:
            bar = tqdm(total=len(files), unit="img", disable=args.quiet or len(files) < 2, file=sys.stderr)
            for frame, item in analyzer.iter_frames(str(f) for f in files):
                bar.update(1)
                if isinstance(item, Failure):
                    failures.append(item)
                    if not args.quiet:
                        bar.write(f"ferx: skipped {item.source}: {item.message}", file=sys.stderr)
                    continue
                n_faces += len(item.faces)
                n_empty += not len(item.faces)
                rel = _relative(Path(item.source), root)
                if "json" in formats:
                    target = out / rel.with_suffix(rel.suffix + ".json")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(item.to_json(indent=1))
                if csv_file is not None and len(item.faces):
                    df = item.to_pandas()
                    if csv_writer is None:
                        csv_writer = csv.writer(csv_file)
                        csv_writer.writerow(df.columns)
                    csv_writer.writerows(df.itertuples(index=False))
                if args.annotate:
                    target = out / "annotated" / rel
                    if target.suffix.lower() not in (".jpg", ".jpeg", ".png"):
                        target = target.with_suffix(".png")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    assert frame is not None
                    annotate(frame.image, item, landmarks=args.landmarks).save(target, quality=92)
            bar.close()
    finally:
        if csv_file is not None:
            csv_file.close()
    elapsed = time.perf_counter() - t0
    summary = {
        "ferx_version": __version__,
        "files": len(files),
        "analysed": len(files) - len(failures),
        "faces": n_faces,
        "files_without_faces": n_empty,
        "failed": [f.to_dict() for f in failures],
        "seconds": round(elapsed, 3),
        "formats": formats,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(
        f"ferx: {len(files)} file(s), {n_faces} face(s), {n_empty} without faces, "
        f"{len(failures)} failed, {elapsed:.1f} s → {out}/",
        file=sys.stderr,
    )
    return 1 if failures else 0


def _common_root(files: list[Path]) -> Path:
    parents = [str(f.resolve().parent) for f in files]
    try:
        return Path(os.path.commonpath(parents))
    except ValueError:
        return Path("/")


def _relative(path: Path, root: Path) -> Path:
    try:
        return path.resolve().relative_to(root)
    except ValueError:
        return Path(path.name)


def entry() -> None:
    try:
        sys.exit(main())
    except FerxError as e:  # a problem with models or setup, not with one input
        print(f"ferx: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    entry()
