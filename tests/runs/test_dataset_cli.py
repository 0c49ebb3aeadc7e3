"""`ferx batch` command line (`ferx.scale.cli`): the subcommand, exit statuses, the summary."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ferx.cli import main
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


def test_a_full_disk_stops_a_batch_with_its_summary(tmp_path: Path, capsys) -> None:
    """A tryout filled a small disk under `ferx batch`: a traceback, and no summary.json."""
    import shutil

    from tests.conftest import lfw_paths, small_disk

    src = tmp_path / "in"
    src.mkdir()
    for p in lfw_paths("happiness", 12):
        shutil.copy(p, src / p.name)
    with small_disk(tmp_path / "small", "100k") as out:
        code = main(["batch", str(src), str(out / "ds"), "--workers", "1", "--shard-size", "4", "-q"])
        err = capsys.readouterr().err
        summary = json.loads((out / "ds" / "summary.json").read_text())
        assert code == 1 and "Traceback" not in err and "make room, then run the same command again" in err
        assert summary["status"] == "aborted" and "No space left" in summary["reason"]
        assert not (out / "ds" / "_ferx" / "reserve").exists()
