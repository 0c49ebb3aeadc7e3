"""`ferx analyze` on videos as a newcomer runs it (issue 24): the README's commands, a report of a
video, a start past the end, and broken files made here — cut in half, 0 bytes, audio only — next to
a good clip."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ferx.cli import main
from ferx.fsutil import file_sha256
from tests.video.conftest import TALKING, audio_only, clip  # noqa: F401  (audio_only: a fixture)


def test_the_readme_video_command_writes_csv_and_parquet(tmp_path):
    out = tmp_path / "out"
    assert main(["analyze", str(clip("single_face.mp4")), "--format", "csv,parquet", "--out", str(out), "-q",
                 "--no-timelines"]) == 0
    csv, parquet = pd.read_csv(out / "single_face" / "rows.csv"), pd.read_parquet(out / "single_face" / "rows.parquet")
    assert len(csv) == len(parquet) == 72 and list(csv.columns) == list(parquet.columns)


def test_a_video_gets_the_report_asked_for(tmp_path, capsys):
    """`ferx analyze clip.mp4 --report` wrote nothing and said nothing; a folder of photos got one."""
    out = tmp_path / "out"
    assert main(["analyze", str(clip("single_face.mp4")), "--report", "--out", str(out), "-q"]) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "single_face.mp4" in html and "track 1" in html and "report →" in capsys.readouterr().err


def test_a_start_past_the_end_is_a_usage_error(tmp_path, capsys):
    """The file is healthy: exit 2 saying why, not "truncated" with exit 1; other videos still run."""
    out = tmp_path / "out"
    code = main(["analyze", str(clip("single_face.mp4")), str(TALKING), "--start", "10", "--out", str(out), "-q",
                 "--no-timelines"])
    err = capsys.readouterr().err
    assert code == 2 and "single_face.mp4: the start (10 s) is at or past the end of the video, which is 2.4" in err
    assert "truncated" not in err and not (out / "single_face").exists()
    summary = json.loads((out / "WolfgangLanger_Pexels" / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["frames"] > 200  # 10 s to 19.7 s of the other clip


def test_broken_videos_are_each_reported_and_the_good_one_analysed(tmp_path, capsys, audio_only):  # noqa: F811
    folder = tmp_path / "media"
    folder.mkdir()
    data = TALKING.read_bytes()
    (folder / "cut.mp4").write_bytes(data[: len(data) // 2])
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "tone.mp4").write_bytes(audio_only.read_bytes())  # audio only, under a video name
    (folder / "good.mp4").write_bytes(clip("single_face.mp4").read_bytes())
    out = tmp_path / "out"
    code = main(["analyze", str(folder), "--out", str(out), "-q", "--no-timelines"])
    err = capsys.readouterr().err
    assert code == 1
    assert json.loads((out / "good" / "summary.json").read_text())["status"] == "complete"
    cut = json.loads((out / "cut" / "summary.json").read_text())
    assert cut["status"] == "truncated" and "ends early" in cut["stopped"] and cut["frames"] > 150
    assert "tone.mp4: has no video stream" in err
    assert "empty.mp4" in err and "0 bytes" in err


@pytest.mark.parametrize("broken", ["cut", "empty", "audio"])
def test_ferx_batch_lists_a_broken_video_in_errors(tmp_path, broken, audio_only):  # noqa: F811
    from ferx.runs.dataset import run_dataset
    from ferx.runs.worker import RowOptions
    from tests.runs.dataset_helpers import errors_frame

    data = TALKING.read_bytes()
    path = tmp_path / f"{broken}.mp4"
    path.write_bytes({"cut": data[: len(data) // 2], "empty": b"", "audio": audio_only.read_bytes()}[broken])
    summary = run_dataset([str(path)], tmp_path / "ds", options=RowOptions(video_fps=1.0), workers=1)
    errors = errors_frame(tmp_path / "ds")
    assert summary.exit_code == 1 and errors.source.tolist() == [str(path)]
    expected = {"cut": ("VideoTruncated", "ends early"), "empty": ("ImageReadError", "0 bytes"),
                "audio": ("VideoReadError", "no video stream")}[broken]
    assert errors.error.tolist() == [expected[0]] and expected[1] in errors.message[0]


def test_a_full_disk_stops_a_video_run_with_its_summary(tmp_path, capsys):
    """A tryout filled a small disk under a video run: a traceback, and no summary.json anywhere."""
    from tests.conftest import small_disk

    with small_disk(tmp_path / "small", "150k") as out:
        code = main(["analyze", str(clip("single_face.mp4")), "--format", "csv,parquet", "--annotate", "--out",
                     str(out), "-q"])
        err = capsys.readouterr().err
        assert code == 1 and "Traceback" not in err and 'summary.json says "aborted"' in err
        top = json.loads((out / "summary.json").read_text())
        video = json.loads((out / "single_face" / "summary.json").read_text())
        assert top["status"] == video["status"] == "aborted"
        assert "No space left" in top["videos"][0]["reason"] and "No space left" in video["reason"]
        assert not (out / "single_face" / ".summary-reserve").exists()


def test_resume_does_not_redo_a_finished_video(tmp_path, capsys):
    """`--resume` re-analysed every video a stopped run had finished (only photos were resumed); a file
    replaced under the same name is redone."""
    import shutil

    out = tmp_path / "out"
    video = tmp_path / "single_face.mp4"
    shutil.copy(clip("single_face.mp4"), video)
    args = ["analyze", str(video), "--out", str(out), "--end", "0.5", "--no-timelines", "-q"]
    assert main(args) == 0
    rows = (out / "single_face" / "rows.csv").read_bytes()
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0
    assert "already analysed in" in capsys.readouterr().err
    assert (out / "single_face" / "rows.csv").read_bytes() == rows
    assert json.loads((out / "summary.json").read_text())["videos"][0]["resumed"] is True
    assert main(args[:-4] + ["--end", "0.4", "--no-timelines", "-q", "--resume"]) == 0  # other settings: redone
    assert "already analysed" not in capsys.readouterr().err
    assert main(args) == 0  # the 0.5 s run, finished again
    capsys.readouterr()
    video.write_bytes(clip("face_noface.mov").read_bytes())  # another video under the same name
    assert main(args + ["--resume"]) == 0
    assert "already analysed" not in capsys.readouterr().err
    assert json.loads((out / "single_face" / "summary.json").read_text())["content_sha256"] == file_sha256(video)


def test_resume_hashes_a_video_once(tmp_path, monkeypatch):
    """A video replaced under its name was hashed twice on `--resume` (the check, then the redone run's
    rows): a long video read twice over for nothing."""
    import ferx.fsutil
    import ferx.runs.video

    import shutil

    out = tmp_path / "out"
    video = tmp_path / "single_face.mp4"
    shutil.copy(clip("single_face.mp4"), video)
    args = ["analyze", str(video), "--out", str(out), "--end", "0.3", "--no-timelines", "-q"]
    assert main(args) == 0
    video.write_bytes(clip("face_noface.mov").read_bytes())  # same name and settings, other content: redone
    seen: list[str] = []

    def counted(path, block=1 << 20):
        seen.append(str(path))
        return file_sha256(path, block)

    monkeypatch.setattr(ferx.fsutil, "file_sha256", counted)
    monkeypatch.setattr(ferx.runs.video, "file_sha256", counted)
    assert main(args + ["--resume"]) == 0
    assert seen == [str(video)]


def test_resume_ignores_settings_that_change_only_the_speed(tmp_path, capsys):
    """A finished video recorded with other `prefetch` / `overlap` values (or before `overlap` existed)
    is the same run: those settings change how fast frames are read, not the rows."""
    out = tmp_path / "out"
    args = ["analyze", str(clip("single_face.mp4")), "--out", str(out), "--end", "0.5", "--no-timelines", "-q"]
    assert main(args) == 0
    summary = out / "single_face" / "summary.json"
    done = json.loads(summary.read_text())
    assert "overlap" in done["config"]
    del done["config"]["overlap"]
    done["config"]["prefetch"] = 0
    summary.write_text(json.dumps(done))
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0
    assert "already analysed in" in capsys.readouterr().err


def test_an_image_sequence_gets_the_run_summary_and_the_report_asked_for(tmp_path):
    """`ferx analyze frames/ --sequence --report` wrote neither OUT/report.html nor OUT/summary.json."""
    from PIL import Image

    from ferx.video import VideoReader

    frames = tmp_path / "frames"
    frames.mkdir()
    with VideoReader(clip("single_face.mp4"), prefetch=0) as reader:
        for i, f in zip(range(12), reader):
            Image.fromarray(f.image).save(frames / f"{i:04d}.png")
    out = tmp_path / "out"
    assert main(["analyze", str(frames), "--sequence", "--report", "--out", str(out), "-q", "--no-timelines"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["videos"][0]["frames"] == 12
    assert "frames" in (out / "report.html").read_text(encoding="utf-8")


def test_a_new_run_replaces_the_earlier_runs_outputs(tmp_path):
    """Run again into the same folder with fewer outputs: the earlier rows.parquet and annotated.mp4
    stayed beside the new rows.csv (72 rows in one, 15 in the other)."""
    out = tmp_path / "out"
    video = str(clip("single_face.mp4"))
    assert main(["analyze", video, "--out", str(out), "--format", "csv,parquet", "--annotate", "-q"]) == 0
    assert (out / "single_face" / "rows.parquet").is_file() and (out / "single_face" / "annotated.mp4").is_file()
    assert main(["analyze", video, "--out", str(out), "--end", "0.5", "--no-timelines", "-q"]) == 0
    left = sorted(p.name for p in (out / "single_face").iterdir())
    assert left == ["rows.csv", "segments.jsonl", "summary.json"], left


def test_a_second_run_is_refused_while_the_first_analyses_a_video(tmp_path, capsys):
    """The run lock was taken only when the photos started: a second `ferx analyze` into the same --out
    while the first read a video succeeded, and the two runs' summaries and rows mixed (tryout)."""
    import threading

    from ferx.fsutil import FolderLock

    out = tmp_path / "out"
    (out / ".ferx-batch").mkdir(parents=True)
    started, finish = threading.Event(), threading.Event()

    def first() -> None:  # what the first run holds while its video is analysed: the same lock, another thread
        lock = FolderLock(out / ".ferx-batch" / "lock")
        assert lock.acquire()
        started.set()
        finish.wait(30)
        lock.release()

    holder = threading.Thread(target=first)
    holder.start()
    assert started.wait(10)
    try:
        args = ["analyze", str(clip("single_face.mp4")), "--out", str(out), "--end", "0.2", "--no-timelines", "-q"]
        assert main(args) == 2
        assert "is being written by another `ferx analyze` run" in capsys.readouterr().err
        assert not (out / "single_face").exists()
    finally:
        finish.set()
        holder.join()
    assert main(args) == 0


def test_a_run_stopped_during_its_videos_counts_the_photos_it_never_reached(tmp_path, monkeypatch):
    """A tryout's Ctrl-C while a mixed run read its video left summary.json at files 0, pending 0, no
    signal and no json among the formats, while 44 photos were never reached. The stop itself is
    simulated: the video part returns what an interrupted one returns (130) with its record."""
    import shutil

    import ferx.video.cli
    from tests.conftest import lfw_paths

    media = tmp_path / "media"
    media.mkdir()
    for p in lfw_paths("happiness", 3):
        shutil.copy(p, media / p.name)
    shutil.copy(clip("single_face.mp4"), media / "a.mp4")
    shutil.copy(clip("single_face.mp4"), media / "b.mp4")  # never reached
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text(json.dumps({"status": "complete", "files": 5}))  # an earlier run's
    seen: list[dict] = []

    def interrupted(args, videos, config, records):
        seen.append(json.loads((out / "summary.json").read_text()))  # while the videos are read
        records.append({"source": str(videos[0]), "folder": "a", "status": "interrupted", "frames": 3,
                        "rows": 3, "faces": 3, "tracks": 1, "failed_frames": 0, "seconds": 0.5})
        return 130

    monkeypatch.setattr(ferx.video.cli, "run_video", interrupted)
    assert main(["analyze", str(media), "--out", str(out), "--format", "json,csv", "-q"]) == 130
    assert seen[0]["status"] == "running" and seen[0]["pending"] == 3 and seen[0]["videos_pending"] == 2
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["status"], summary["signal"], summary["files"], summary["pending"]) == ("interrupted", "SIGINT", 3, 3)
    assert summary["formats"] == ["json", "csv"]
    assert [(v["source"].rsplit("/", 1)[-1], v["status"]) for v in summary["videos"]] == [("a.mp4", "interrupted"),
                                                                                          ("b.mp4", "pending")]
    assert summary["videos_pending"] == 1


def test_quiet_says_nothing_about_a_video_that_went_well(tmp_path, capsys):
    """`-q` ("no per-file messages") still printed a counts line per video; problems are still said."""
    out = tmp_path / "out"
    assert main(["analyze", str(clip("single_face.mp4")), "--out", str(out), "--end", "0.2", "--no-timelines", "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["analyze", str(clip("single_face.mp4")), "--out", str(tmp_path / "o2"), "--end", "0.2", "--no-timelines"]) == 0
    assert "frame(s)" in capsys.readouterr().err


def test_a_refused_resume_is_refused_before_the_videos_and_leaves_the_summary(tmp_path, capsys):
    """A review: a `--resume` with other settings was refused by the photo part only after every video had
    been redone, and it left summary.json at "running" over the earlier run's "complete"."""
    import shutil

    from tests.conftest import lfw_paths

    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(lfw_paths("happiness", 1)[0], media / "p.jpg")
    shutil.copy(clip("single_face.mp4"), media / "v.mp4")
    out = tmp_path / "out"
    args = ["analyze", str(media), "--out", str(out), "--end", "0.2", "--no-timelines", "-q"]
    assert main(args) == 0
    before = (out / "summary.json").read_text()
    capsys.readouterr()
    assert main(args + ["--resume", "--format", "csv"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "already analysed" not in err  # refused before the video
    assert (out / "summary.json").read_text() == before
