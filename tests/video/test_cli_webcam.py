"""CLI entry points (as ferx.cli wires them) and the webcam path against a fake device."""

from __future__ import annotations

import argparse

import pandas as pd

from ferx.video.cli import add_video_arguments, run_video, run_webcam
from ferx.video.webcam import LiveSource
from tests.video.conftest import clip


def _parser() -> argparse.ArgumentParser:
    """The parts of `ferx`'s parser the video entry points rely on."""
    p = argparse.ArgumentParser(prog="ferx")
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze")
    a.add_argument("paths", nargs="*")
    a.add_argument("--out", default="ferx-output")
    a.add_argument("--format", default="json")
    a.add_argument("--annotate", action="store_true")
    a.add_argument("--recursive", "-r", action="store_true")
    a.add_argument("--config")
    a.add_argument("--min-face", type=int)
    a.add_argument("--quiet", "-q", action="store_true")
    add_video_arguments(sub)
    return p


def test_analyze_video_from_the_command_line(tmp_path, scenes):
    args = _parser().parse_args(["analyze", str(clip("single_face.mp4")), str(scenes["four"]), "--out", str(tmp_path),
                                 "--every", "2", "--format", "json,parquet", "-q", "--no-timelines"])
    assert run_video(args) == 0
    rows = pd.read_parquet(tmp_path / "single_face" / "rows.parquet")
    assert sorted(rows["frame"].unique()) == list(range(0, 72, 2))
    four = pd.read_parquet(tmp_path / "four" / "rows.parquet")
    assert len(four) == 15 * 4 and set(four["track"]) == {1, 2, 3, 4}
    assert not list((tmp_path / "four").glob("timeline-*"))


def test_bad_video_and_bad_options(tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 100)
    args = _parser().parse_args(["analyze", str(bad), "--out", str(tmp_path / "o"), "-q"])
    assert run_video(args) == 1
    assert "bad.mp4" in capsys.readouterr().err
    args = _parser().parse_args(["analyze", str(bad), "--start", "5", "--end", "2", "-q"])
    assert run_video(args) == 2


def test_live_source_delivers_newest_frames_from_a_fake_device():
    src = LiveSource(clip("single_face.mp4"), realtime=False)
    frames = list(src)
    assert 1 <= len(frames) <= 72 and frames[-1].image.shape == (360, 640, 3)
    assert [f.index for f in frames] == sorted(f.index for f in frames)
    assert src.captured == 72 and len(frames) + src.dropped == 72


def test_webcam_command_writes_rows_without_a_display(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    args = _parser().parse_args(["webcam", "--device", str(clip("single_face.mp4")), "--out", str(tmp_path),
                                 "--max-frames", "15", "-q", "--no-timelines"])
    assert run_webcam(args) == 0
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert rows["frame"].nunique() == 15 and rows["track"].notna().all()
    assert rows["timestamp"].is_monotonic_increasing


def test_webcam_missing_device(tmp_path):
    args = _parser().parse_args(["webcam", "--device", str(tmp_path / "nope.mp4"), "--out", str(tmp_path), "-q"])
    assert run_webcam(args) == 2


def test_a_rotated_phone_clip_standing_in_for_a_camera_is_read_upright(scenes):
    """The stand-in camera skipped the display matrix a file read applies: a phone clip came sideways, no face."""
    from ferx.video import VideoReader

    frames = list(LiveSource(scenes["rotated"], realtime=False))
    with VideoReader(scenes["rotated"], prefetch=0) as reader:
        first = next(iter(reader))
    assert frames and frames[0].image.shape == first.image.shape == (360, 640, 3)  # stored 360 × 640, upright 640 × 360
    assert abs(frames[0].image.astype(int) - first.image.astype(int)).mean() < 1  # as `ferx analyze` reads it


def test_a_device_that_fails_mid_run_is_not_a_normal_end(tmp_path, capsys):
    """A file cut short as a stand-in camera ended "complete", exit 0: its decoder error was kept and never read."""
    data = clip("WolfgangLanger_Pexels.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 8])  # its index is at the front: it decodes, then fails
    args = _parser().parse_args(["webcam", "--device", str(cut), "--out", str(tmp_path / "o"), "-q", "--no-timelines"])
    assert run_webcam(args) == 1
    assert "the device stopped with an error after" in capsys.readouterr().err
    assert pd.read_json(tmp_path / "o" / "summary.json", typ="series")["status"] == "truncated"


def test_a_windows_device_name_elsewhere_is_a_usage_error(tmp_path, capsys):
    args = _parser().parse_args(["webcam", "--device", "video=Integrated Camera", "--out", str(tmp_path), "-q"])
    assert run_webcam(args) == 2 and "DirectShow (Windows) device name" in capsys.readouterr().err


def test_an_unknown_rows_format_is_refused(tmp_path, capsys):
    args = _parser().parse_args(["webcam", "--device", str(clip("single_face.mp4")), "--out", str(tmp_path),
                                 "--format", "parqeut", "-q"])
    assert run_webcam(args) == 2 and "unknown rows format parqeut" in capsys.readouterr().err  # was CSV, exit 0


def test_webcam_progress_into_a_log_is_a_plain_line_now_and_then(tmp_path, monkeypatch, capsys):
    """With stderr not a terminal (a log, nohup, CI; pytest's is none) the webcam wrote a carriage-return
    line every 30 frames, which piles up into one endless line of the log. It now writes the video
    run's plain progress line every `LOG_INTERVAL_S` seconds (30; 0.5 here, for a 2.4-s clip played in
    real time), and its closing line starts a line of its own."""
    from ferx.runs import progress

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.5)
    args = _parser().parse_args(["webcam", "--device", str(clip("single_face.mp4")), "--out", str(tmp_path),
                                 "--no-timelines"])
    assert run_webcam(args) == 0
    err = capsys.readouterr().err
    assert "\r" not in err, err
    lines = err.splitlines()
    steps = [line for line in lines if line.startswith("single_face.mp4: ") and " frame/s" in line]
    assert len(steps) >= 2, err
    assert lines[-1].startswith("ferx: ") and "dropped while busy" in lines[-1] and "" not in lines, err
