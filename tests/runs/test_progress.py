"""The progress of a run: a bar on a terminal, plain lines in a log (a bar's redraws flooded logs)."""

from __future__ import annotations

import os
import subprocess
import sys

from ferx.runs.progress import Progress
from tests.conftest import ROOT, lfw_paths


def test_a_run_logged_to_a_file_gets_lines_not_bar_redraws(tmp_path):
    photos = lfw_paths("happiness", 3)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with open(tmp_path / "log.txt", "w") as log:  # stderr is a file, as under nohup, cron or CI
        code = subprocess.call([sys.executable, "-m", "ferx.cli", "analyze", *map(str, photos), "--out",
                                str(tmp_path / "out")], stderr=log, env=env)
    text = (tmp_path / "log.txt").read_text()
    assert code == 0, text
    assert "\r" not in text and "it/s" not in text and "img/s]" not in text
    assert "ferx: 3 file(s), " in text  # the summary line is still there


def test_progress_lines_say_how_far_and_how_fast(capsys):
    p = Progress(40, "frame", desc="clip.mp4", interval=0.0)  # pytest's stderr is no terminal
    assert p.lines
    for _ in range(10):
        p.update(1)
    p.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("clip.mp4: 10/40 frame (25 %), ") and "s left" in lines[-1]
    quiet = Progress(40, "frame", quiet=True, interval=0.0)
    quiet.update(5)
    assert not quiet.lines and capsys.readouterr().err == ""
