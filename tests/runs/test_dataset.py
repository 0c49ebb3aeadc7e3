"""`ferx batch` on the local engine, on real images: rows, errors, reruns, a killed worker, a killed
driver."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ferx.runs.dataset import run_dataset as run_bulk
from ferx.runs.engines import worker_pids
from ferx.runs.store import BulkError
from ferx.runs.worker import RowOptions
from tests.runs.conftest import BAD
from tests.runs.dataset_helpers import OPTIONS, errors_frame, faces_frame, rows_per_source

ROOT = Path(__file__).resolve().parents[2]


def test_rows_cover_every_input_once(collection: Path, reference: Path) -> None:
    df = faces_frame(reference)
    summary = json.loads((reference / "summary.json").read_text())
    images = sorted(str(p) for p in collection.rglob("*") if p.suffix in (".png", ".jpg") and p.parent.name != "bad")
    assert summary["done"] == len(images) + 1 and summary["failed"] == len(BAD)
    per_source = rows_per_source(df)
    assert sorted(s for s in per_source if not s.endswith(".mp4")) == images
    # an image has one row per face, or a single row without a face
    for source, group in df[df.kind == "image"].groupby("source"):
        n = int(group.n_faces.iloc[0])
        assert len(group) == max(n, 1), source
        assert (group.face.isna().all() if n == 0 else sorted(group.face) == list(range(n))), source
    no_face = df[df.face.isna() & (df.kind == "image")]
    assert len(no_face) > 0  # some FER+ crops have no detectable face: they still have their row
    assert no_face.label.isna().all() and no_face.AU12.isna().all()
    # the full result schema: probabilities sum to 1, AUs on the FACS scale, an explanation per face
    faces = df[df.face.notna()]
    probs = faces[[c for c in df.columns if c.startswith("p_")]].sum(axis=1)
    assert ((probs - 1).abs() < 1e-3).all()
    assert faces.AU12.between(0, 5).all() and faces.label.notna().all()
    assert faces[faces.kind == "image"].explanation_json.notna().all()
    assert faces.content_sha256.str.len().eq(64).all()


def test_face_and_track_read_back_as_nullable_integers(reference: Path) -> None:
    """A batch Parquet's `face` (empty on a row without a face) and `track` (empty for photos) read
    back as float64 in pandas: 0.0, 1.0, NaN. They are pandas' nullable Int64, as `to_pandas` gives
    them, whether the dataset or one shard is read."""
    import pandas as pd

    for path in (reference / "faces", sorted((reference / "faces").glob("*.parquet"))[0]):
        df = pd.read_parquet(path)
        assert str(df["face"].dtype) == "Int64" and str(df["track"].dtype) == "Int64", df.dtypes[["face", "track"]]
        assert df["face"].isna().any() and df["face"].dropna().ge(0).all()
        assert df.loc[df["kind"] == "video", "track"].notna().any() and df.loc[df["kind"] == "image", "track"].isna().all()
        assert str(df["frame"].dtype) == "int64" and str(df["n_faces"].dtype) == "int32"  # never empty: plain


def test_rows_are_what_the_analyzer_says(analyzer, collection: Path, reference: Path) -> None:
    """Workers run LiteRT with 1 thread each; the rows are still exactly the default Analyzer's."""
    df = faces_frame(reference)
    for path in sorted((collection / "lfw").glob("*.jpg"))[:8]:
        expected = analyzer.analyze(path).to_pandas()
        got = df[df.source == str(path)].reset_index(drop=True)
        assert len(got) == max(len(expected), 1)
        for col in ("x1", "y2", "score", "confidence", "p_happiness", "AU12", "AU4", "yaw", "bs_jawOpen"):
            assert got[col].tolist() == expected[col].astype("float32").tolist(), (path.name, col)
        assert got.label.tolist() == expected.label.tolist()
        assert got.explanation.tolist() == expected.explanation.tolist()


def test_video_frames_are_rows(collection: Path, reference: Path) -> None:
    if not (collection / "clip.mp4").exists():
        pytest.skip("shared video not found")
    video = faces_frame(reference).query("kind == 'video'")
    frames = video.frame.unique()
    assert 10 <= len(frames) <= 14  # 2.4 s at 5 fps
    assert (video.timestamp.diff().dropna() >= 0).all()
    assert video.track.notna().sum() >= len(frames) - 1  # one face, followed with a stable id
    assert video.track.dropna().nunique() == 1
    assert video.detected.iloc[0] and not video.scene_cut.iloc[1:].any()  # the first frame is detected
    images = faces_frame(reference).query("kind == 'image'")
    assert images.detected.isna().all() and images.scene_cut.isna().all()


def test_errors_table_lists_the_planted_files(reference: Path) -> None:
    errors = errors_frame(reference)
    assert sorted(Path(s).name for s in errors.source) == sorted(BAD)
    assert errors.message.str.len().gt(0).all()
    assert not errors.message.str.contains("<bytes>").any()  # messages name the input
    assert "empty" in errors.loc[errors.source.str.endswith("empty.png"), "message"].iloc[0]
    # worded as `ferx analyze` words it, not a raw FileNotFoundError
    assert "broken symbolic link" in errors.loc[errors.source.str.endswith("moved.jpg"), "message"].iloc[0]


def test_rerun_skips_everything_and_writes_nothing(collection: Path, reference: Path, tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    before = sorted(p.name for p in (out / "faces").iterdir())
    summary = run_bulk(str(collection), out, options=OPTIONS, workers=2)
    assert (summary.done, summary.failed, summary.skipped) == (0, 0, summary.inputs)
    assert sorted(p.name for p in (out / "faces").iterdir()) == before
    assert faces_frame(out).equals(faces_frame(reference))


def test_other_options_are_refused(collection: Path, reference: Path, tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    with pytest.raises(BulkError, match="other options"):
        run_bulk(str(collection), out, options=RowOptions(video_fps=5.0, landmarks=True), workers=1)


def test_killed_worker_loses_nothing(collection: Path, reference: Path, tmp_path: Path) -> None:
    killed: list[int] = []

    def kill_once(finished: int, engine: object) -> None:
        if not killed and finished >= 24:
            pid = worker_pids(engine)[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    out = tmp_path / "ds"
    summary = run_bulk(str(collection), out, options=OPTIONS, workers=2, chunk=4, shard_size=20,
                       on_progress=kill_once)
    assert killed and summary.status == "complete"
    assert faces_frame(out).equals(faces_frame(reference))
    assert sorted(errors_frame(out).source) == sorted(errors_frame(reference).source)


def test_killed_driver_resumes_exactly_once(collection: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "ferx.scale", str(collection), str(out), "--workers", "2", "--chunk", "4",
           "--shard-size", "12", "--video-fps", "5", "-q"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stderr=subprocess.PIPE)
    manifest = out / "_ferx" / "manifest.jsonl"
    deadline = time.monotonic() + 300  # a safety net for a broken run, not a measurement
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if manifest.exists() and manifest.read_bytes().count(b"\n") >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-run
    finally:
        proc.wait()
    committed = manifest.read_bytes().count(b"\n")
    partial = pq.read_table(out / "faces").num_rows
    assert 0 < partial < len(faces_frame(reference))

    summary = run_bulk(str(collection), out, options=OPTIONS, workers=2, chunk=4, shard_size=12)
    assert summary.status == "complete" and summary.skipped >= committed * 12 - 12
    assert not any((out / "_ferx" / "staging").iterdir())
    assert faces_frame(out).equals(faces_frame(reference))
    assert sorted(errors_frame(out).source) == sorted(errors_frame(reference).source)


def test_a_truncated_video_keeps_its_rows_and_says_why(tmp_path: Path) -> None:
    """As `ferx analyze` flags a video that ends early, so does `ferx batch`: its rows up to the last
    good frame are committed, errors/ has a VideoTruncated row, and the run exits 1."""
    from tests.video.conftest import TALKING

    if not TALKING.exists():
        pytest.skip("shared video not found")
    data = TALKING.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "ds"
    summary = run_bulk([str(cut)], out, options=RowOptions(video_fps=2.0), workers=1)
    assert (summary.status, summary.truncated, summary.failed, summary.exit_code) == ("complete", 1, 0, 1)
    rows = faces_frame(out)
    assert len(rows) == summary.rows >= 15 and rows.kind.eq("video").all() and rows.track.notna().all()
    errors = errors_frame(out)
    assert errors.error.tolist() == ["VideoTruncated"] and "truncated" in errors.message[0]
    assert summary.errors[0]["error"] == "VideoTruncated"
    again = run_bulk([str(cut)], out, options=RowOptions(video_fps=2.0), workers=1)
    assert (again.skipped, again.exit_code) == (1, 0)  # final for this dataset, like a failure


def test_workers_end_with_a_driver_killed_by_sigkill(collection: Path, tmp_path: Path) -> None:
    """`kill -9` of the `ferx batch` driver only: its worker processes (models in memory) and the
    multiprocessing resource tracker used to run on forever; they now end on their own."""
    import psutil

    out = tmp_path / "ds"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "ferx.scale", str(collection), str(out), "--workers", "2", "--chunk", "2",
           "--shard-size", "4", "-q"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stderr=subprocess.DEVNULL)
    manifest = out / "_ferx" / "manifest.jsonl"
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 300  # a safety net for a broken run, not a measurement
        while proc.poll() is None and time.monotonic() < deadline:
            children = psutil.Process(proc.pid).children(recursive=True)
            if len(children) >= 3 and manifest.exists() and manifest.read_bytes().count(b"\n") >= 1:
                break  # two workers busy and the resource tracker
            time.sleep(0.1)
        assert proc.poll() is None and len(children) >= 3
        os.kill(proc.pid, signal.SIGKILL)  # the driver alone, as `kill -9 PID` does
        proc.wait()
        gone, alive = psutil.wait_procs(children, timeout=60)  # a bound on a hang, not a timing check
        assert not alive, [p.cmdline()[-2:] for p in alive]
    finally:
        for p in children:
            with contextlib.suppress(psutil.Error):
                p.kill()


def test_a_name_that_is_not_utf8_is_analysed_once(tmp_path: Path) -> None:
    """`ferx batch` on a folder holding `caf\\xe9.jpg` (a Latin-1 name) stopped with a UnicodeEncodeError
    before analysing anything, and every rerun did the same. Now its rows name it as `ferx analyze`
    does (`caf\\\\xe9.jpg`), the others are untouched, and a rerun skips it."""
    import shutil

    from tests.conftest import lfw_paths

    if sys.platform == "darwin":
        pytest.skip("macOS file systems refuse names that are not UTF-8")
    src = tmp_path / "in"
    src.mkdir()
    photos = lfw_paths("happiness", 2)
    shutil.copy(photos[0], src / "plain.jpg")
    shutil.copy(photos[1], os.path.join(os.fsencode(src), b"caf\xe9.jpg"))
    out = tmp_path / "ds"
    summary = run_bulk(str(src), out, options=OPTIONS, workers=1)
    assert (summary.status, summary.done, summary.failed) == ("complete", 2, 0)
    sources = set(faces_frame(out).source)
    assert any(s.endswith("caf\\xe9.jpg") for s in sources) and any(s.endswith("plain.jpg") for s in sources)
    again = run_bulk(str(src), out, options=OPTIONS, workers=1)
    assert (again.done, again.skipped) == (0, 2)


def test_what_decoding_warns_about_is_in_the_notes_not_on_stderr(tmp_path: Path, capfd) -> None:
    """`ferx batch -q` printed a raw Python InputRangeWarning (a 16-bit photo holding 12-bit data) from
    its workers; the row's notes already carry it."""
    import numpy as np
    from PIL import Image

    from tests.conftest import lfw_paths

    src = tmp_path / "in"
    src.mkdir()
    rgb = np.asarray(Image.open(lfw_paths("happiness", 1)[0]).convert("RGB")).astype(np.uint16) * 16  # 12 bits
    Image.fromarray(rgb[..., 0]).save(src / "grey12.png")  # 16-bit grey PNG, values <= 4080
    capfd.readouterr()
    run_bulk(str(src), tmp_path / "ds", options=OPTIONS, workers=1)
    assert "InputRangeWarning" not in capfd.readouterr().err
    notes = faces_frame(tmp_path / "ds").notes.astype(str).str.cat()
    assert "12 bits" in notes
