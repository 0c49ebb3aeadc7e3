"""`ferx batch` command line (`ferx.scale.cli`): the subcommand, exit statuses, the summary."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ferx.scale import cli


def _list(collection: Path, tmp_path: Path) -> Path:
    images = sorted((collection / "lfw").glob("*.jpg"))[:4]
    lines = [str(p) for p in images] + [str(collection / "bad" / "notes.jpg")]
    path = tmp_path / "inputs.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_subcommand_parses_into_a_parser() -> None:
    parser = argparse.ArgumentParser(prog="ferx")
    cli.add_arguments(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["batch", "in/", "out/", "--engine", "ray", "--workers", "3", "--video-fps", "2"])
    assert (args.command, args.input, args.output, args.engine, args.workers, args.video_fps) == (
        "batch", "in/", "out/", "ray", 3, 2.0)


def test_exit_statuses_and_summary(collection: Path, tmp_path: Path) -> None:
    inputs = _list(collection, tmp_path)
    out = tmp_path / "ds"
    assert cli.main([str(inputs), str(out), "--workers", "1", "-q"]) == 1  # one input failed
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["status"], summary["done"], summary["failed"]) == ("complete", 4, 1)
    assert summary["errors"][0]["source"].endswith("notes.jpg") and summary["faces"] >= 4
    assert summary["inputs_per_s"] > 0 and summary["faces_per_s"] > 0
    assert cli.main([str(inputs), str(out), "--workers", "1", "-q"]) == 0  # all skipped, nothing failed now
    assert json.loads((out / "summary.json").read_text())["skipped"] == 5
    assert cli.main([str(inputs), str(out), "--landmarks", "-q"]) == 2  # other options: refused
    assert cli.main([str(tmp_path / "missing"), str(tmp_path / "o2"), "-q"]) == 2
    assert cli.main([str(inputs), str(tmp_path / "o3"), "--address", "auto", "-q"]) == 2  # needs --engine ray
