"""`ferx analyze` batches (ferx.batch): bad items, unusable output, full disk, interrupts, resume,
output layout. Everything runs on real lfw photos."""

import csv
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferx.cli import main
from ferx.config import AnalyzerConfig
from ferx.runs import photos as batch_module
from ferx.runs.photos import BatchOptions
from ferx.runs.photos import run_photos as run_batch
from tests.conftest import ROOT, lfw_paths, small_disk

EMOTIONS = ("happiness", "neutral", "surprise", "sadness")


def _photos(folder: Path, n: int) -> list[Path]:
    """n real lfw photos copied into `folder` as p00.jpg, p01.jpg, ... (sorted = analysis order)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = [p for k in range(n // len(EMOTIONS) + 1) for e in EMOTIONS for p in lfw_paths(e, 1, offset=k)][:n]
    copies = []
    for i, p in enumerate(sources):
        copies.append(folder / f"p{i:02d}.jpg")
        shutil.copy(p, copies[-1])
    return copies


def _jsons(out: Path) -> dict[str, dict]:
    """source → parsed JSON of every per-image JSON in `out` (each must parse: none is half-written)."""
    found = {}
    for p in out.rglob("*.json"):
        if p.name != "summary.json" and ".ferx-batch" not in p.parts:
            d = json.loads(p.read_text())
            found[d["source"]] = d
    return found


def _csv_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "faces.csv", newline="") as f:
        return list(csv.DictReader(f))


def _assert_csv_matches_jsons(out: Path) -> dict[str, dict]:
    """faces.csv holds exactly one row per face of the JSON files written, no more, no fewer."""
    jsons = _jsons(out)
    rows = _csv_rows(out)
    per_source: dict[str, int] = {}
    for r in rows:
        per_source[r["source"]] = per_source.get(r["source"], 0) + 1
    assert per_source == {s: len(d["faces"]) for s, d in jsons.items() if d["faces"]}
    return jsons


def _assert_parquet_matches_csv(out: Path) -> None:
    """faces.parquet holds the rows of faces.csv (the same table; CSV rounds floats to 4 decimals)."""
    import pandas as pd

    table = pd.read_parquet(out / "faces.parquet").sort_values(["source", "face"]).reset_index(drop=True)
    rows = pd.read_csv(out / "faces.csv").sort_values(["source", "face"]).reset_index(drop=True)
    assert list(table.columns) == list(rows.columns) and len(table) == len(rows)
    assert table.source.tolist() == rows.source.tolist() and table.label.tolist() == rows.label.tolist()
    np.testing.assert_allclose(table.AU12.astype(float), rows.AU12, atol=6e-5)
    assert str(table.face.dtype) == "Int64" and str(table.track.dtype) == "Int64"  # were float64
    assert not (out / "faces.parquet.partial").exists()


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


# -- bad items: each is a reported failure, the batch goes on ---------------------------------------


def test_a_self_looping_symlink_is_a_failure_not_a_crash(tmp_path):
    src = tmp_path / "in"
    _photos(src, 2)
    os.symlink("loop.jpg", src / "loop.jpg")  # ln -s loop.jpg loop.jpg
    out = tmp_path / "out"
    assert main(["analyze", str(src / "p00.jpg"), str(src / "loop.jpg"), str(src / "p01.jpg"), "--out", str(out),
                 "--format", "json,csv", "-q"]) == 1
    s = _summary(out)
    assert s["status"] == "complete" and s["analysed"] == 2 and s["pending"] == 0
    assert [f["source"].rsplit("/", 1)[-1] for f in s["failed"]] == ["loop.jpg"]
    assert len(_assert_csv_matches_jsons(out)) == 2


def test_a_non_utf8_file_name_is_written_escaped_in_json_and_csv(tmp_path):
    src = tmp_path / "in"
    _photos(src, 1)
    raw = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 name: not valid UTF-8
    shutil.copy(lfw_paths("happiness", 1)[0], src / raw)
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--out", str(out), "--format", "json,csv", "-q"]) == 0
    jsons = _assert_csv_matches_jsons(out)
    escaped = str(src / "caf\\xe9.jpg")  # the undecodable byte is written as the 4 characters \xe9
    assert escaped in jsons and jsons[escaped]["faces"]
    assert (out / (raw + ".json")).exists()  # the output file itself keeps the original bytes
    assert escaped in (out / "faces.csv").read_text(encoding="utf-8")


def test_a_name_too_long_for_the_json_gets_a_short_unique_name(tmp_path):
    src = tmp_path / "in"
    _photos(src, 1)
    longs = [src / ("a" * 246 + f"-{k}.jpg") for k in range(2)]  # 252 bytes: + ".json" exceeds NAME_MAX
    for k, p in enumerate(longs):
        shutil.copy(lfw_paths("neutral", 1, offset=k)[0], p)
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--out", str(out), "--format", "json,csv", "--annotate", "-q"]) == 0
    s = _summary(out)
    assert s["analysed"] == 3 and not s["failed"]
    renamed = s["renamed"]
    assert set(renamed) == {str(p) for p in longs} and all(set(v) == {"json"} for v in renamed.values())
    names = [renamed[str(p)]["json"] for p in longs]
    assert len(set(names)) == 2 and all(len(n.encode()) <= 255 and n.endswith(".json") for n in names)
    for p, name in zip(longs, names):
        assert json.loads((out / name).read_text())["source"] == str(p)
        assert (out / "annotated" / p.name).exists()  # the annotated image keeps the name: it fits
    _assert_csv_matches_jsons(out)


def test_the_same_file_twice_and_a_file_named_like_the_summary(tmp_path):
    src = tmp_path / "in"
    p00, p01 = _photos(src, 2)
    sneaky = src / "summary"  # a JPEG without extension: its JSON would be OUT/summary.json
    shutil.copy(p01, sneaky)
    out = tmp_path / "out"
    assert main(["analyze", str(p00), str(sneaky), str(p00), "--out", str(out), "--format", "json,csv", "-q"]) == 0
    s = _summary(out)
    assert s["status"] == "complete" and s["files"] == 2 and s["analysed"] == 2  # p00 analysed once
    assert s["renamed"][str(sneaky)]["json"].startswith("summary~")
    assert len(_csv_rows(out)) == s["faces"] == 2


def test_the_summary_gives_each_au_columns_grade(tmp_path):
    """A researcher's tryout: faces.csv and faces.parquet carry no AU grades, so a pandas user could not
    tell that AU1 and AU4 are weak or AU16 ungraded. summary.json now has them, the analyzer's own."""
    from ferx import Analyzer

    src = tmp_path / "in"
    _photos(src, 1)
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--out", str(out), "--format", "csv", "-q"]) == 0
    grades = _summary(out)["au_grades"]
    with Analyzer() as analyzer:
        profile = analyzer.describe().au_profile
        assert grades == {code: profile.grade(code) for code in analyzer.describe().au_codes}
    header = _csv_rows(out)[0].keys()
    assert set(grades) <= set(header) and grades["AU1"] == "weak" and grades["AU16"] == "ungraded"


# -- unusable output: one message, exit 2, before any work -------------------------------------------


def _no_analyzer(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the analyzer must not be built when the output is unusable")

    monkeypatch.setattr(batch_module, "Analyzer", refuse)


def test_out_that_is_a_file_exits_2_before_any_work(tmp_path, capsys, monkeypatch):
    photo = _photos(tmp_path / "in", 1)[0]
    _no_analyzer(monkeypatch)
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    assert main(["analyze", str(photo), "--out", str(blocker), "-q"]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert main(["analyze", str(photo), "--out", str(blocker / "sub"), "-q"]) == 2
    assert "cannot write to the output folder" in capsys.readouterr().err
    assert blocker.read_text() == "not a folder"


def test_unwritable_out_injected_exits_2_before_any_work(tmp_path, capsys, monkeypatch):
    photo = _photos(tmp_path / "in", 1)[0]
    _no_analyzer(monkeypatch)

    def denied(path, text, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(batch_module, "atomic_write_text", denied)
    assert main(["analyze", str(photo), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("ferx: error:") == 1 and "Permission denied" in err and "Traceback" not in err


def test_read_only_out_as_an_unprivileged_user_exits_2():
    # Tests run as root, for whom permissions do not apply: run the CLI as `nobody` instead, in a
    # folder of /tmp that nobody can enter (pytest's own tmp folders are private to root).
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run the CLI as an unprivileged user")
    with tempfile.TemporaryDirectory(prefix="ferx-readonly-") as tmp:
        base = Path(tmp)
        base.chmod(0o755)
        photo = _photos(base / "in", 1)[0]
        out = base / "readonly"
        out.mkdir(mode=0o755)  # root's folder: nobody may read it, not write in it
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
               sys.executable, "-m", "ferx.cli", "analyze", str(photo), "--out", str(out), "-q"]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=base, timeout=120, check=False)
        if "No module named" in r.stderr or "can't open file" in r.stderr:
            pytest.skip(f"nobody cannot run this Python: {r.stderr.strip()[-300:]}")
        assert r.returncode == 2, r.stderr
        assert "cannot write to the output folder" in r.stderr and "Permission denied" in r.stderr
        assert "Traceback" not in r.stderr and list(out.iterdir()) == []


# -- full disk -------------------------------------------------------------------------------------


def _fail_json_writes(monkeypatch, after: int, err: int) -> list[str]:
    """Make every per-image JSON write after the first `after` fail with `err`."""
    real = batch_module.atomic_write_text
    seen: list[str] = []

    def flaky(path, text, **kwargs):
        if str(path).endswith(".jpg.json"):
            seen.append(Path(path).name)
            if len(seen) > after:
                raise OSError(err, os.strerror(err))
        return real(path, text, **kwargs)

    monkeypatch.setattr(batch_module, "atomic_write_text", flaky)
    return seen


def test_full_disk_injected_stops_cleanly_and_resume_finishes(tmp_path, monkeypatch, capsys):
    src = tmp_path / "in"
    photos = _photos(src, 6)
    out = tmp_path / "out"
    _fail_json_writes(monkeypatch, after=2, err=errno.ENOSPC)
    args = ["analyze", str(src), "--out", str(out), "--format", "json,csv", "--annotate", "-q"]
    assert main(args) == 1
    assert "batch stopped" in capsys.readouterr().err
    s = _summary(out)
    assert s["status"] == "aborted" and "No space left on device" in s["reason"]
    assert s["analysed"] == 2 and s["pending"] == 3 and [f["source"] for f in s["failed"]] == [str(photos[2])]
    assert s["failed"][0]["error"] == "OSError"
    jsons = _assert_csv_matches_jsons(out)  # the failed image left no CSV rows and no annotated image
    assert sorted(jsons) == [str(p) for p in photos[:2]]
    assert sorted(p.name for p in (out / "annotated").iterdir()) == ["p00.jpg", "p01.jpg"]

    monkeypatch.undo()  # space freed
    assert main(args + ["--resume"]) == 0
    s = _summary(out)
    assert s["status"] == "complete" and s["resumed"] == 2 and s["analysed"] == 6 and not s["failed"]
    assert sorted(_assert_csv_matches_jsons(out)) == [str(p) for p in photos]


def test_an_isolated_write_error_fails_one_image_and_repeated_ones_stop_the_batch(tmp_path, monkeypatch):
    src = tmp_path / "in"
    photos = _photos(src, 8)
    config, options = AnalyzerConfig(), BatchOptions(formats=("json", "csv"))
    real = batch_module.atomic_write_text

    def eio_on(names):
        def flaky(path, text, **kwargs):
            if Path(path).name in names:
                raise OSError(errno.EIO, "Input/output error")
            return real(path, text, **kwargs)

        return flaky

    monkeypatch.setattr(batch_module, "atomic_write_text", eio_on({"p03.jpg.json"}))
    s = run_batch(photos, tmp_path / "one", config, options)
    assert s.status == "complete" and s.exit_code == 1 and s.analysed == 7
    assert [f.source for f in s.failed] == [str(photos[3])]
    _assert_csv_matches_jsons(tmp_path / "one")

    n = batch_module.MAX_CONSECUTIVE_WRITE_ERRORS
    monkeypatch.setattr(batch_module, "atomic_write_text", eio_on({f"p{i:02d}.jpg.json" for i in range(1, 8)}))
    s = run_batch(photos, tmp_path / "many", config, options)
    assert s.status == "aborted" and s.analysed == 1 and len(s.failed) == n and s.pending == 8 - 1 - n
    assert _summary(tmp_path / "many")["status"] == "aborted"


def test_full_disk_on_a_real_tmpfs(tmp_path):
    with small_disk(tmp_path / "small", "400k") as out:
        src = tmp_path / "in"
        _photos(src, 12)  # about 65 KB of JSON and 25 KB of annotated JPEG per photo: the disk fills
        code = main(["analyze", str(src), "--out", str(out), "--format", "json,csv", "--annotate", "-q"])
        s = _summary(out)
        assert code == 1 and s["status"] == "aborted" and "No space left" in s["reason"]
        assert 0 < s["analysed"] < 12
        jsons = _assert_csv_matches_jsons(out)  # every JSON on the full disk parses
        assert len(jsons) == s["analysed"]
        assert not [p for p in out.rglob(".ferx-*.tmp")]  # no temporary file left behind


# -- interrupts and resume -------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_batch_is_consistent_and_resume_finishes_it(tmp_path, signum):
    src = tmp_path / "in"
    photos = _photos(src, 20)
    out = tmp_path / "out"
    args = ["analyze", str(src), "--out", str(out), "--format", "json,csv,parquet", "--annotate", "-q"]
    proc = subprocess.Popen([sys.executable, "-m", "ferx.cli", *args], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob("p*.jpg.json"))) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, "the batch ended before 3 images"
            time.sleep(0.01)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum, err
    assert f"interrupted by {signal.Signals(signum).name}" in err and "Traceback" not in err
    s = _summary(out)
    assert s["status"] == "interrupted" and s["signal"] == signal.Signals(signum).name
    done_before = s["analysed"]
    assert 3 <= done_before < 20 and s["pending"] == 20 - done_before
    jsons = _assert_csv_matches_jsons(out)
    assert len(jsons) == done_before == len((out / ".ferx-batch" / "done.jsonl").read_text().splitlines())
    assert len(list((out / "annotated").iterdir())) == done_before
    _assert_parquet_matches_csv(out)  # finished under its name on the interrupt

    code = main([*args, "--resume"])
    s = _summary(out)
    assert code == 0, s["failed"]
    assert s["status"] == "complete" and s["analysed"] == 20 and s["resumed"] == done_before
    jsons = _assert_csv_matches_jsons(out)
    assert sorted(jsons) == [str(p) for p in photos]
    rows = _csv_rows(out)
    assert len(rows) == s["faces"] == sum(len(d["faces"]) for d in jsons.values())
    for p in photos:  # each image's rows once: faces 0..n-1, not a second copy from the first run
        assert [int(r["face"]) for r in rows if r["source"] == str(p)] == list(range(len(jsons[str(p)]["faces"])))
    _assert_parquet_matches_csv(out)


def test_a_signal_while_an_image_is_written_lets_that_image_finish(tmp_path, monkeypatch):
    photos = _photos(tmp_path / "in", 5)
    out = tmp_path / "out"
    real = batch_module.atomic_write_text

    def write_then_signal(path, text, **kwargs):
        real(path, text, **kwargs)
        if Path(path).name == "p02.jpg.json":  # JSON written; its CSV rows and manifest line are not yet
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(batch_module, "atomic_write_text", write_then_signal)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    s = run_batch(photos, out, AnalyzerConfig(), BatchOptions(formats=("json", "csv")))
    assert (s.status, s.signal, s.exit_code) == ("interrupted", "SIGTERM", 143)
    assert s.analysed == 3 and s.pending == 2  # p02 was finished, not cut in half
    assert sorted(_assert_csv_matches_jsons(out)) == [str(p) for p in photos[:3]]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


def _finished_run(tmp_path: Path, n: int, formats: str) -> tuple[Path, list[Path], Path, list[str]]:
    """A complete run over n photos: (input folder, photos, output folder, its command line)."""
    src = tmp_path / "in"
    photos = _photos(src, n)
    out = tmp_path / "out"
    args = ["analyze", str(src), "--out", str(out), "--format", formats, "-q"]
    assert main(args) == 0
    return src, photos, out, args


def test_resume_drops_torn_lines_and_redoes_images_whose_outputs_are_gone(tmp_path):
    src, photos, out, args = _finished_run(tmp_path, 4, "json,csv")
    rows_before = _csv_rows(out)
    # What a crash (SIGKILL, power cut) can leave: a torn CSV row of an image with no manifest line,
    # a torn manifest line, and a finished image whose JSON was deleted since.
    with open(out / "faces.csv", "a", newline="") as f:
        f.write(f'{src / "p09.jpg"},0,,0,12.5,"Key observations: the li')
    with open(out / ".ferx-batch" / "done.jsonl", "a") as f:
        f.write('{"key": "/x", "sour')
    (out / "p01.jpg.json").unlink()
    assert main([*args, "--resume"]) == 0
    s = _summary(out)
    assert s["status"] == "complete" and s["resumed"] == 3 and s["analysed"] == 4 and s["files"] == 4
    rows = _csv_rows(out)
    assert sorted(r["source"] for r in rows) == sorted(r["source"] for r in rows_before)
    assert sorted(_assert_csv_matches_jsons(out)) == [str(p) for p in photos]
    for line in (out / ".ferx-batch" / "done.jsonl").read_text().splitlines():
        json.loads(line)  # rewritten cleanly: the next append starts on its own line


def test_resume_redoes_images_whose_parquet_rows_a_crash_lost(tmp_path):
    _, photos, out, args = _finished_run(tmp_path, 3, "json,csv,parquet")
    # a crash (SIGKILL) before faces.parquet was renamed into place: the ledger lists three images
    # whose Parquet rows are not there; the older file that stands there has only one of them
    import pyarrow.parquet as pq

    table = pq.read_table(out / "faces.parquet")
    pq.write_table(table.slice(0, 1), out / "faces.parquet")
    assert main([*args, "--resume"]) == 0
    s = _summary(out)
    assert s["status"] == "complete" and s["resumed"] == 1 and s["analysed"] == 3
    assert sorted(_assert_csv_matches_jsons(out)) == [str(p) for p in photos]
    _assert_parquet_matches_csv(out)


def test_resume_refuses_other_options_and_leaves_the_output_alone(tmp_path, capsys):
    src = tmp_path / "in"
    _photos(src, 2)
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--out", str(out), "-q"]) == 0
    before = (out / "summary.json").read_text()
    capsys.readouterr()
    assert main(["analyze", str(src), "--out", str(out), "--format", "json,csv", "--resume", "-q"]) == 2
    assert "cannot resume" in capsys.readouterr().err.replace("\n", " ")
    assert main(["analyze", str(src), "--out", str(out), "--min-face", "40", "--resume", "-q"]) == 2
    err = capsys.readouterr().err
    assert "config.detector" in err and err.count("ferx: error:") == 1
    assert (out / "summary.json").read_text() == before
    assert main(["analyze", str(src), "--out", str(out), "--resume", "-q"]) == 0  # same options: nothing to redo
    assert _summary(out)["resumed"] == 2


def test_a_new_batch_replaces_the_old_summary_at_once_and_restores_signal_handlers(tmp_path):
    src = tmp_path / "in"
    photos = _photos(src, 3)
    out = tmp_path / "out"
    options = BatchOptions(formats=("json", "csv"))
    assert run_batch(photos, out, AnalyzerConfig(), options).status == "complete"
    seen: list[tuple[str, int]] = []

    def peek(item, write):  # called mid-batch, before this image's outputs are written
        seen.append((_summary(out)["status"], len(_csv_rows(out))))

    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    s = run_batch(photos[:2], out, AnalyzerConfig(), options, on_result=peek)
    assert seen[0] == ("running", 0)  # not the old "complete", and faces.csv started afresh
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    assert s.status == "complete" and _summary(out)["files"] == 2 and len(_csv_rows(out)) == 2


# -- output layout ---------------------------------------------------------------------------------


def test_annotated_images_of_same_stem_do_not_collide(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    photo = Image.open(lfw_paths("happiness", 1)[0]).convert("RGB")
    for ext in ("bmp", "gif", "png"):
        photo.save(src / f"face.{ext}")
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--out", str(out), "--annotate", "-q"]) == 0
    names = sorted(p.name for p in (out / "annotated").iterdir())
    assert names == ["face.bmp.png", "face.gif.png", "face.png"]
    drawn = [np.asarray(Image.open(out / "annotated" / n).convert("RGB")) for n in names]
    assert all(Image.open(out / "annotated" / n).format == "PNG" for n in names)
    assert all(d.shape == np.asarray(photo).shape and np.abs(d.astype(int) - photo).sum() > 0 for d in drawn)


def test_an_output_folder_inside_a_recursive_input_is_not_reanalysed(tmp_path):
    src = tmp_path / "in"
    photos = _photos(src, 3)
    out = src / "results"
    args = ["analyze", str(src), "-r", "--out", str(out), "--annotate", "-q"]
    assert main(args) == 0
    assert main(args) == 0  # the annotated JPEGs of the first run are under OUT now
    s = _summary(out)
    assert s["files"] == 3 and s["excluded"] == 3 and s["analysed"] == 3
    assert sorted(_jsons(out)) == [str(p) for p in photos]
    assert not (out / "results").exists()


def test_an_image_without_faces_has_a_row_with_the_columns_of_one_with_faces(tmp_path):
    import pandas as pd

    blank = tmp_path / "blank"
    blank.mkdir()
    Image.fromarray(np.full((200, 300, 3), 90, np.uint8)).save(blank / "wall.png")
    options = BatchOptions(formats=("json", "csv"))
    s = run_batch([blank / "wall.png"], tmp_path / "none", AnalyzerConfig(), options)
    assert s.status == "complete" and s.faces == 0 and s.files_without_faces == 1
    with_faces = run_batch(_photos(tmp_path / "in", 1), tmp_path / "faces", AnalyzerConfig(), options)
    assert with_faces.faces == 1
    none = pd.read_csv(tmp_path / "none" / "faces.csv")
    faces = pd.read_csv(tmp_path / "faces" / "faces.csv")
    assert list(none.columns) == list(faces.columns)
    assert {"source", "label", "AU12", "yaw", "explanation"} <= set(none.columns)
    assert len(none) == 1 and none.n_faces[0] == 0 and none.face.isna().all() and none.notes[0] == "no face found"
    assert len(faces) == 1 and faces.face[0] == 0 and 0 <= faces.AU12[0] <= 5


def test_what_decoding_warns_about_is_in_the_notes_and_on_stderr(tmp_path, capsys):
    """A 16-bit PNG holding 12-bit camera data reads nearly black: the run says so in the image's JSON
    notes, its rows' notes and one stderr line naming the file, not only as a raw Python warning."""
    src = _photos(tmp_path / "in", 1)[0]
    gray = np.asarray(Image.open(src).convert("L")).astype(np.uint16) << 4
    dark = tmp_path / "in" / "dark12.png"
    Image.fromarray(gray).save(dark)
    out = tmp_path / "out"
    code = main(["analyze", str(tmp_path / "in"), "--out", str(out), "--format", "json,csv"])
    err = capsys.readouterr().err
    assert code == 0
    notes = _jsons(out)[str(dark)]["notes"]
    assert len(notes) >= 1 and "nearly black" in notes[0] and "bit_depth=12" in notes[0]
    rows = {r["source"]: r for r in _csv_rows(out)}
    assert notes[0] in rows[str(dark)]["notes"] and "nearly black" not in rows[str(src)]["notes"]
    assert f"ferx: {dark}: 16-bit image whose values stay" in err
    assert "InputRangeWarning" not in err  # said once, with the file's name, not as a Python warning


def test_resume_rebuilds_a_parquet_file_a_killed_run_never_closed(tmp_path, capsys):
    """After `kill -9`, faces.parquet exists only as an unfinished .partial; --resume redid every image
    without a word. Its rows are now rebuilt from faces.csv; without a CSV, the images are redone, and
    the run says which."""
    import pandas as pd

    src = tmp_path / "in"
    _photos(src, 3)
    for formats, rebuilt in (("json,csv,parquet", True), ("json,parquet", False)):
        out = tmp_path / formats.replace(",", "-")
        args = ["analyze", str(src), "--out", str(out), "--format", formats]
        assert main(args + ["-q"]) == 0
        before = pd.read_parquet(out / "faces.parquet")
        (out / "faces.parquet").rename(out / "faces.parquet.partial")  # what a killed run leaves
        capsys.readouterr()
        assert main(args + ["--resume"]) == 0
        err = capsys.readouterr().err
        assert "faces.parquet was not finished by the earlier run" in err
        assert ("its rows are rebuilt from faces.csv" in err) == rebuilt
        assert ("its 3 image(s) are analysed again" in err) == (not rebuilt)
        assert _summary(out)["resumed"] == (3 if rebuilt else 0) and _summary(out)["analysed"] == 3
        after = pd.read_parquet(out / "faces.parquet")
        assert list(after.columns) == list(before.columns) and len(after) == len(before)
        assert np.allclose(after["p_happiness"], before["p_happiness"], atol=1e-4)
        assert (after["label"] == before["label"]).all() and after["AU12"].dtype == before["AU12"].dtype


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(tmp_path, capsys):
    """Two `ferx analyze` runs into one --out both reported success; only the second one's rows were kept."""
    import threading

    from ferx.fsutil import FolderLock

    src = tmp_path / "in"
    _photos(src, 2)
    out = tmp_path / "out"
    (out / ".ferx-batch").mkdir(parents=True)
    held = FolderLock(out / ".ferx-batch" / "lock")  # what a running `ferx analyze` holds
    # held by another thread: refused as another process would be (the lock is re-entrant per thread only)
    taken, done = threading.Event(), threading.Event()
    holder = threading.Thread(target=lambda: (held.acquire() and taken.set(), done.wait(30), held.release()))
    holder.start()
    assert taken.wait(10)
    try:
        assert main(["analyze", str(src), "--out", str(out), "-q"]) == 2
        assert "is being written by another `ferx analyze` run" in capsys.readouterr().err
        assert not (out / "summary.json").exists()
    finally:
        done.set()
        holder.join()
    assert main(["analyze", str(src), "--out", str(out), "-q"]) == 0


def _same_size_and_mtime(path: Path, replacement: bytes, size: int, mtime_ns: int) -> None:
    """Write `replacement` to `path`, padded after the JPEG's end to `size` bytes, with the mtime
    `mtime_ns`: what `cp -p`, `rsync -t` or a restored archive can leave, so only the content differs."""
    assert len(replacement) <= size
    path.write_bytes(replacement + b"\0" * (size - len(replacement)))
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_resume_redoes_a_photo_replaced_under_the_same_path(tmp_path, capsys):
    """A resumed run kept a replaced photo's old rows and JSON (the ledger knew only its path). The
    content decides: here size and mtime are those of the old file."""
    import hashlib

    import pandas as pd

    src = tmp_path / "in"
    photos = _photos(src, 3)
    old, new = photos[1].read_bytes(), lfw_paths("surprise", 1, offset=5)[0].read_bytes()
    size = max(len(old), len(new)) + 16
    _same_size_and_mtime(photos[1], old, size, 1_700_000_000_000_000_000)
    out = tmp_path / "out"
    args = ["analyze", str(src), "--out", str(out), "--format", "json,csv,parquet", "-q"]
    assert main(args) == 0
    old_json = _jsons(out)[str(photos[1])]
    _same_size_and_mtime(photos[1], new, size, 1_700_000_000_000_000_000)
    assert main([*args[:-1], "--resume"]) == 0
    assert "p01.jpg changed since the earlier run" in capsys.readouterr().err
    s = _summary(out)
    assert s["status"] == "complete" and s["resumed"] == 2 and s["analysed"] == 3
    jsons = _assert_csv_matches_jsons(out)
    assert jsons[str(photos[1])] != old_json
    _assert_parquet_matches_csv(out)
    digest = hashlib.sha256(photos[1].read_bytes()).hexdigest()
    for table in (pd.read_csv(out / "faces.csv"), pd.read_parquet(out / "faces.parquet")):
        assert set(table[table.source == str(photos[1])].content_sha256) == {digest}  # no old row left
    assert main([*args, "--resume"]) == 0 and _summary(out)["resumed"] == 3  # unchanged now: not redone


def test_resume_trusts_ledger_lines_of_an_older_ferx_without_a_fingerprint(tmp_path):
    """Ledger lines written before photos were fingerprinted are taken as unchanged (not a whole
    folder redone after an upgrade), and get the current fingerprint, so a later replacement is seen."""
    src, photos, out, args = _finished_run(tmp_path, 2, "json,csv")
    ledger = out / ".ferx-batch" / "done.jsonl"
    lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert all(line.get("content_sha256") and line.get("size") for line in lines)
    ledger.write_text("".join(json.dumps({k: v for k, v in line.items() if k not in ("content_sha256", "size")}) + "\n"
                              for line in lines))
    assert main([*args, "--resume"]) == 0 and _summary(out)["resumed"] == 2
    assert [json.loads(line) for line in ledger.read_text().splitlines()] == lines
    shutil.copy(lfw_paths("surprise", 1, offset=5)[0], photos[0])
    assert main([*args, "--resume"]) == 0 and _summary(out)["resumed"] == 1


def test_report_with_row_formats_only_adds_the_json_it_reads(tmp_path, capsys):
    """`--format csv,parquet --annotate --report` on a folder was refused (exit 2: "--report needs
    --format json"); the same options on a video alone worked. The report reads the per-image JSON, so
    json is added, and said."""
    src = tmp_path / "in"
    _photos(src, 2)
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--out", str(out), "--format", "csv,parquet", "--report"]) == 0
    assert "json added to --format" in capsys.readouterr().err
    assert (out / "report.html").is_file() and (out / "faces.csv").is_file() and (out / "faces.parquet").is_file()
    assert len(list(out.glob("*.json"))) == 3  # two photos' JSON and summary.json


def test_an_output_folder_without_locks_is_written_with_a_note(tmp_path, monkeypatch, capsys):
    """A review: every flock failure read as "another run holds it", so an output on a file system without
    locks (NFS without lockd, FUSE: ENOLCK, EOPNOTSUPP) was refused with a false message."""
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    src = tmp_path / "in"
    _photos(src, 1)
    assert main(["analyze", str(src), "--out", str(tmp_path / "out"), "-q"]) == 0
    assert "file system without locks" in capsys.readouterr().err
