"""Image sequences (a folder of numbered frames as one video): natural order, index / fps
timestamps, a broken frame listed while every other frame keeps its rows, clear errors, the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ferx.video import FailedFrame, ImageSequence, ImageSequenceError, Sampling, VideoConfig
from ferx.video.cli import run_sequences
from ferx.runs.video import VideoOutputs
from ferx.runs.video import run_video as process_video
from ferx.video.sequence import find_frames, natural_key

N = 12
SHIFT = 5  # pixels per frame to the right: the face moves, the track holds


def _canvas(photo: np.ndarray, i: int) -> np.ndarray:
    h, w = photo.shape[:2]
    canvas = np.full((h + 30, w + SHIFT * N + 20, 3), 128, np.uint8)
    x, y = 10 + SHIFT * i, 15
    canvas[y : y + h, x : x + w] = photo
    return canvas


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory: pytest.TempPathFactory, people: dict[str, np.ndarray]) -> Path:
    """frame0.png … frame11.png, not zero-padded (so text order would be frame0, frame1, frame10,
    frame11, frame2, …): one lfw photo moving SHIFT px right per frame."""
    d = tmp_path_factory.mktemp("sequence") / "take1"
    d.mkdir()
    for i in range(N):
        Image.fromarray(_canvas(people["p0"], i)).save(d / f"frame{i}.png")
    return d


def _copy(frames_dir: Path, tmp_path: Path) -> Path:
    d = tmp_path / frames_dir.name
    shutil.copytree(frames_dir, d)
    return d


def test_natural_order_and_which_files_are_frames(tmp_path):
    names = ["frame10.png", "frame2.png", "Frame1.png", "frame02.png", "frame1.png", "frame9.jpg"]
    assert [n for n in sorted(names, key=lambda n: natural_key(Path(n)))] == [
        "Frame1.png", "frame1.png", "frame02.png", "frame2.png", "frame9.jpg", "frame10.png"]
    for n in ("f10.png", "f2.png", "f1.png", "notes.txt", ".DS_Store", "._f2.png", ".f0.png"):  # hidden: no frames
        (tmp_path / n).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f3.png").write_bytes(b"x")
    assert [f.name for f in find_frames(tmp_path)] == ["f1.png", "f2.png", "f10.png"]  # own image files only
    assert [f.name for f in find_frames(tmp_path / "f1*.png")] == ["f1.png", "f10.png"]
    assert [f.name for f in find_frames(tmp_path / "**" / "f*.png")] == ["f1.png", "f2.png", "f10.png", "f3.png"]


def test_frames_in_natural_order_with_index_and_timestamp(frames_dir, people):
    h, w = people["p0"].shape[:2]
    seq = ImageSequence(frames_dir, fps=25)
    assert seq.name == "take1" and len(seq) == N
    info = seq.info
    assert (info.container, info.codec, info.frames, info.fps) == ("image sequence", "png", N, 25.0)
    assert (info.width, info.height) == (w + SHIFT * N + 20, h + 30) and info.duration == N / 25
    frames = list(seq)
    assert [Path(f.source).name for f in frames] == [f"frame{i}.png" for i in range(N)]
    assert [f.index for f in frames] == list(range(N))
    assert [f.timestamp for f in frames] == [i / 25 for i in range(N)]
    # the picture really is frame i: the photo's left edge at 10 + SHIFT * i
    left = [int(np.argmax((f.image[15 : 15 + h] != 128).any(axis=(0, 2)))) for f in frames]
    assert left == [10 + SHIFT * i for i in range(N)]
    assert ImageSequence(frames_dir).fps == 30.0  # the default
    kept = list(ImageSequence(frames_dir, fps=10).frames(Sampling(every=2, start=0.3, end=1.0)))
    assert [f.index for f in kept] == [3, 5, 7, 9]


def test_a_truncated_frame_is_listed_and_every_other_frame_keeps_its_rows(analyzer, frames_dir, tmp_path):
    d = _copy(frames_dir, tmp_path)
    bad = d / "frame5.png"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    out = tmp_path / "out"
    run = process_video(analyzer, ImageSequence(d), out)
    assert run.status == "complete" and run.exit_code == 1 and run.frames == N - 1
    (failed,) = run.failed_frames
    assert (failed.index, failed.file) == (5, str(bad)) and "truncated" in failed.reason
    rows = pd.read_csv(out / "rows.csv")
    assert sorted(rows["frame"]) == [i for i in range(N) if i != 5]  # one face per frame, none for the bad one
    assert np.allclose(rows["timestamp"], rows["frame"] / 30)
    assert (rows["track"] == 1).all()  # the track holds across the gap
    assert np.all(np.diff(rows.sort_values("frame")["x1"].to_numpy()) > 0)  # moving right: natural order
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed_frames"] == [{"index": 5, "file": str(bad), "reason": failed.reason}]
    assert summary["status"] == "complete" and summary["frames"] == N - 1
    video = summary["video"]
    assert (video["container"], video["frames"], video["fps"], video["path"]) == ("image sequence", N, 30.0, str(d))


def test_frames_of_other_sizes_are_scene_cuts_and_the_person_keeps_the_id(analyzer, frames_dir, people, tmp_path):
    d = _copy(frames_dir, tmp_path)
    # frame 6 scaled down to 80 % (the same face, smaller); frame 9 wider by 100 grey columns
    small = Image.fromarray(_canvas(people["p0"], 6))
    small.resize((small.width * 4 // 5, small.height * 4 // 5), Image.Resampling.LANCZOS).save(d / "frame6.png")
    wide = _canvas(people["p0"], 9)
    Image.fromarray(np.pad(wide, ((0, 0), (0, 100), (0, 0)), constant_values=128)).save(d / "frame9.png")
    out = tmp_path / "out"
    run = process_video(analyzer, ImageSequence(d), out, VideoConfig(), VideoOutputs(annotate=True, timelines=False))
    assert run.exit_code == 0 and not run.failed_frames
    rows = pd.read_csv(out / "rows.csv").set_index("frame")
    assert list(rows.index) == list(range(N)) and (rows["track"] == 1).all()  # re-identified by appearance
    assert [int(i) for i in rows.index[rows["scene_cut"] == 1]] == [6, 7, 9, 10]  # into and out of each size
    import av

    with av.open(str(out / "annotated.mp4")) as v:  # every frame in the first frame's size
        frames = [f.to_ndarray(format="rgb24") for f in v.decode(video=0)]
    h, w = people["p0"].shape[:2]
    assert [f.shape[:2] for f in frames] == [((h + 30) // 2 * 2, (w + SHIFT * N + 20) // 2 * 2)] * N
    # the wider frame is shown whole, scaled down between black bars (not cut off at the right)
    assert frames[9][:5].mean() < 20 and abs(frames[8][:5].mean() - 128) < 20


def test_no_images_raise_before_anything_is_written(analyzer, frames_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageSequenceError, match="folder holds no image files"):
        ImageSequence(empty)
    (empty / "notes.txt").write_text("frames were deleted\n")
    with pytest.raises(ImageSequenceError, match=r"no image files \(1 other file"):
        ImageSequence(empty)
    with pytest.raises(ImageSequenceError, match="no such folder"):
        ImageSequence(tmp_path / "missing")
    with pytest.raises(ImageSequenceError, match="pattern matches no image files"):
        ImageSequence(tmp_path / "missing" / "*.png")
    with pytest.raises(ImageSequenceError, match="is a file"):
        ImageSequence(frames_dir / "frame0.png")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "1.png").write_text("not an image")
    (broken / "2.jpg").write_bytes(b"")
    with pytest.raises(ImageSequenceError, match="none of its 2 image file"):
        ImageSequence(broken)
    with pytest.raises(ValueError, match="fps"):
        ImageSequence(frames_dir, fps=0)
    with pytest.raises(ImageSequenceError):
        process_video(analyzer, ImageSequence(empty), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _args(*argv: str):
    from ferx.cli import _parser  # the real `ferx analyze` parser, with the options add_video_arguments adds

    return _parser().parse_args(["analyze", *argv])


def test_command_line_sequence(frames_dir, tmp_path, capsys):
    d = _copy(frames_dir, tmp_path)
    (d / "frame3.png").write_text("this is not a picture\n")  # a non-image under an image name
    (d / "notes.txt").write_text("shot on a phone\n")  # not a frame: ignored
    out = tmp_path / "out"
    args = _args(str(d), "--sequence-fps", "10", "--out", str(out), "--format", "json,parquet", "-q",
                 "--no-timelines")
    assert args.sequence  # --sequence-fps implies --sequence
    assert run_sequences(args) == 1
    err = capsys.readouterr().err
    assert "1 frame(s) could not be read" in err and "frame3.png" in err and "text file" in err
    rows = pd.read_parquet(out / "take1" / "rows.parquet")  # OUT/<folder name>/, like a video
    assert sorted(rows["frame"]) == [i for i in range(N) if i != 3] and (rows["track"] == 1).all()
    assert np.allclose(rows["timestamp"], rows["frame"] / 10)
    summary = json.loads((out / "take1" / "summary.json").read_text())
    assert [(f["index"], Path(f["file"]).name) for f in summary["failed_frames"]] == [(3, "frame3.png")]
    assert FailedFrame(**summary["failed_frames"][0]).index == 3


def test_command_line_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_sequences(_args(str(empty), "--sequence", "--out", str(tmp_path / "out"), "-q")) == 2
    assert "folder holds no image files" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert run_sequences(_args(str(empty), "--sequence", "-r", "-q")) == 2
    assert "--recursive does not apply" in capsys.readouterr().err


def test_cli_analyze_sequence_through_main(tmp_path):
    """`ferx analyze frames/ --sequence` end to end through ferx.cli.main, a planted broken frame."""
    import json
    import shutil

    from ferx.cli import main
    from tests.conftest import lfw_paths

    frames = tmp_path / "frames"
    frames.mkdir()
    photo = lfw_paths("happiness", 1)[0]
    for k in range(6):
        shutil.copy(photo, frames / f"f{k + 1}.jpg")
    (frames / "f4.jpg").write_bytes(photo.read_bytes()[:300])  # truncated
    out = tmp_path / "out"
    assert main(["analyze", str(frames), "--sequence", "--out", str(out), "-q"]) == 1
    summary = json.loads((out / "frames" / "summary.json").read_text())
    assert [f["index"] for f in summary["failed_frames"]] == [3]
    rows = pd.read_csv(out / "frames" / "rows.csv")
    assert sorted(set(rows.frame)) == [0, 1, 2, 4, 5] and set(rows.source) == {str(frames)}
    assert main(["analyze", str(tmp_path / "empty_does_not_exist"), "--sequence", "--out", str(out), "-q"]) == 2


def test_a_sequence_run_that_runs_nothing_leaves_the_summary_as_it_was(tmp_path):
    """`--sequence` now writes "running" first (a review: a killed run kept the earlier "complete"); a
    command that analyses nothing (no such folder) must not leave that behind."""
    from ferx.cli import main

    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "missing"), "--sequence", "--out", str(out), "-q"]) == 2
    assert not (out / "summary.json").exists()
    out.mkdir(exist_ok=True)
    (out / "summary.json").write_text('{"status": "complete"}')
    assert main(["analyze", str(tmp_path / "missing"), "--sequence", "--out", str(out), "-q"]) == 2
    assert (out / "summary.json").read_text() == '{"status": "complete"}'
