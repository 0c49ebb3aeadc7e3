import csv
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from ferx.cli import demo_image, main
from tests.conftest import lfw_paths


def _folder(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    good = lfw_paths("happiness", 2) + lfw_paths("neutral", 1)
    for p in good[:2]:
        shutil.copy(p, src / p.name)
    shutil.copy(good[2], src / "sub" / good[2].name)
    (src / "truncated.jpg").write_bytes(good[0].read_bytes()[:400])
    (src / "notes.pdf.jpg").write_bytes(b"%PDF-1.5 not an image")
    Image.fromarray(np.full((200, 300, 3), 90, np.uint8)).save(src / "blank.png")
    return src, good


def test_batch_writes_everything_and_reports_failures(tmp_path, capsys):
    src, good = _folder(tmp_path)
    out = tmp_path / "out"
    code = main(["analyze", str(src), "-r", "--out", str(out), "--format", "json,csv", "--annotate", "-q"])
    assert code == 1  # two bad files
    err = capsys.readouterr().err
    assert "6 file(s)" in err and "2 failed" in err and "1 without faces" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["analysed"] == 4 and summary["faces"] >= 3
    assert sorted(f["source"].split("/")[-1] for f in summary["failed"]) == ["notes.pdf.jpg", "truncated.jpg"]
    assert {f["error"] for f in summary["failed"]} == {"ImageReadError", "UnsupportedFormatError"}
    for p in good[:2]:
        d = json.loads((out / (p.name + ".json")).read_text())
        assert d["faces"] and d["faces"][0]["expression"]["label"] in d["expression_labels"]
        assert (out / "annotated" / p.name).exists()
    assert (out / "sub" / (good[2].name + ".json")).exists()  # folder structure kept
    assert json.loads((out / "blank.png.json").read_text())["notes"] == ["no face found"]
    rows = list(csv.DictReader(open(out / "faces.csv")))
    assert {"source", "label", "AU12", "yaw"} <= set(rows[0])
    assert sum(r["face"] != "" for r in rows) == summary["faces"]  # and one row for the image without a face
    assert [r["notes"] for r in rows if r["face"] == ""] == ["no face found"]
    assert (out / "config.yaml").read_text().startswith("pipeline: two-stage\ndetector:")


def test_annotated_image_has_the_box_drawn(tmp_path):
    out = tmp_path / "o"
    assert main(["analyze", "--demo", "--annotate", "--out", str(out), "-q"]) == 0
    d = json.loads((out / "astronaut.jpg.json").read_text())
    assert len(d["faces"]) == 1  # one astronaut, no false positives on the suit
    x1, y1, x2, y2 = (int(round(v)) for v in d["faces"][0]["box"])
    before = np.asarray(Image.open(demo_image()).convert("RGB")).astype(int)
    after = np.asarray(Image.open(out / "annotated" / "astronaut.jpg").convert("RGB")).astype(int)
    edge = np.abs(after[(y1 + y2) // 2, x1 - 1 : x1 + 2] - before[(y1 + y2) // 2, x1 - 1 : x1 + 2]).sum()
    inside = np.abs(after[(y1 + y2) // 2, (x1 + x2) // 2] - before[(y1 + y2) // 2, (x1 + x2) // 2]).sum()
    assert edge > 100 and inside < 40  # the frame is drawn, the face is left alone (JPEG noise aside)


def test_usage_errors_exit_2(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["analyze", str(empty)]) == 2
    assert "holds no image or video files" in capsys.readouterr().err
    assert main(["analyze"]) == 2
    assert main(["analyze", "--demo", "--format", "xml", "--out", str(tmp_path / "x")]) == 2
    bad_cfg = tmp_path / "c.yaml"
    bad_cfg.write_text("detector:\n  name: blazeface\n  opts: {}\n")
    assert main(["analyze", "--demo", "--config", str(bad_cfg), "--out", str(tmp_path / "y")]) == 2
    assert "unknown config key" in capsys.readouterr().err


def test_config_command_prints_a_loadable_default(capsys):
    from ferx.config import AnalyzerConfig

    assert main(["config"]) == 0
    text = capsys.readouterr().out
    assert AnalyzerConfig.from_yaml(text) == AnalyzerConfig()
    # each stage's options are listed with their defaults (`options: {}` alone showed none of them)
    assert "# options of blazeface (defaults): min_face: 24," in text and "flip_average: false" in text


def test_explain_prints_each_face(tmp_path, capsys):
    path = lfw_paths("happiness", 1)[0]
    assert main(["explain", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: 1 face(s)\nface 0: ")
    assert "Key observations:" in out and "Overall emotional interpretation:" in out and "Conclusion:" in out
    assert main(["explain", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out.splitlines()[0])
    assert d["face"] == 0 and d["explanation"]["text"].startswith("Key observations:")

    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(blank)
    assert main(["explain", str(blank), "--json"]) == 0  # no face: still one line (it printed nothing)
    d = json.loads(capsys.readouterr().out)
    assert d["face"] is None and d["explanation"] is None and d["notes"] == ["no face found"]


def test_explain_says_it_skips_a_folders_videos(tmp_path, capsys):
    from tests.conftest import SHARED

    shutil.copy(lfw_paths("happiness", 1)[0], tmp_path / "photo.jpg")
    shutil.copy(SHARED / "videos" / "single_face.mp4", tmp_path / "clip.mp4")
    assert main(["explain", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "Conclusion:" in captured.out and "clip.mp4: a video; `ferx explain` reads photos" in captured.err
    (tmp_path / "photo.jpg").unlink()
    assert main(["explain", str(tmp_path)]) == 2
    assert "no photos to explain (1 video(s) skipped)" in capsys.readouterr().err


def test_analyze_explain_prints_and_writes_explanations(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["analyze", "--demo", "--explain", "--format", "json,csv", "--out", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    d = json.loads((out / "astronaut.jpg.json").read_text())
    e = d["faces"][0]["explanation"]
    assert e["label"] == d["faces"][0]["expression"]["label"]
    assert f"face 0: {e['label']}" in printed and "  Key observations: " in printed and "  Conclusion: " in printed
    row = next(csv.DictReader(open(out / "faces.csv")))
    assert row["explanation"] == e["text"] and row["au_label"] == e["au_label"]


def test_cot_data_command(tmp_path, capsys):
    from tests.conftest import SHARED

    ferplus = SHARED / "ferplus"
    out = tmp_path / "cot"
    assert main(["cot-data", f"ferplus:{ferplus}", "--split", "test", "--limit", "8", "--ratio", "1:1", "--out", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    records = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    skipped = (out / "skipped.jsonl").read_text().splitlines()
    # ExpLLM's layout: per image one CoT record plus label-only records by the ratio
    assert len({r["sample"] for r in records}) + len(skipped) == 8 and f"{len(records)} record(s) written" in err
    assert {r["task"] for r in records} <= {"cot", "label"} and (out / "stats.md").exists()
    assert main(["cot-data", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert main(["cot-data", f"ferplus:{ferplus}", "--ratio", "3", "--out", str(out)]) == 2
    assert "COT:LABEL" in capsys.readouterr().err


def test_llm_options_reach_the_explainer(capsys):
    from tests.explain.test_llm import ChatServer

    path = lfw_paths("happiness", 1)[0]
    with ChatServer([503]) as srv:
        assert main(["explain", str(path), "--llm", srv.url, "--llm-model", "m", "--llm-timeout", "5"]) == 0
    out = capsys.readouterr().out
    assert "note: LLM request failed" in out and "Key observations:" in out  # the template text is kept
    assert srv.requests[0][1]["model"] == "m"


def test_heatmaps_command_writes_a_grid(tmp_path):
    from tests.conftest import SHARED

    if not (SHARED / "ferplus").exists():
        import pytest

        pytest.skip("no FER+ data")
    out = tmp_path / "grid.png"
    code = main(["heatmaps", f"ferplus:{SHARED / 'ferplus'}", "--per-label", "1",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(out)])
    assert code == 0
    grid = Image.open(out)
    assert grid.size == (144, 8 * (144 + 14))  # one face per label, eight labels
    # an unusable --out is refused before the work (it was a traceback after it)
    for bad in (tmp_path / "missing" / "grid.png", tmp_path / "grid.txt"):
        assert main(["heatmaps", f"ferplus:{SHARED / 'ferplus'}", "--per-label", "1", "--out", str(bad)]) == 2


def test_train_command_rejects_bad_overrides(tmp_path, capsys):
    cfg = tmp_path / "t.yaml"
    cfg.write_text("epochs: 1\n")
    assert main(["train", str(cfg), "epoch=3", "--out", str(tmp_path / "run")]) == 2
    assert "unknown config key" in capsys.readouterr().err
    assert main(["train", str(cfg), "no-equals-sign", "--out", str(tmp_path / "run")]) == 2


def test_bad_option_values_are_usage_errors_not_tracebacks(tmp_path, capsys):
    photo = str(lfw_paths("happiness", 1)[0])
    out = ["--out", str(tmp_path / "o"), "-q"]
    cases = [
        (["analyze", photo, "--min-face", "0", *out], "--min-face: must be at least 8 pixels, got 0"),
        (["analyze", photo, "--min-face", "big", *out], "--min-face: must be an integer"),
        (["analyze", photo, "--config", str(tmp_path / "missing.yaml"), *out],
         f"cannot read config file {tmp_path / 'missing.yaml'}: No such file or directory"),
        (["analyze", photo, "--config", str(tmp_path), *out], "cannot read config file"),  # a folder
        (["analyze", photo, "--llm", "notaurl", *out], "--llm: must be an http:// or https:// URL"),
        (["analyze", photo, "--llm", "ftp://host", *out], "--llm: must be an http:// or https:// URL"),
        (["explain", photo, "--llm-timeout", "0"], "--llm-timeout: must be a positive number"),
        (["cot-data", "x", "--out", str(tmp_path), "--limit", "-1"], "--limit: must be a positive integer"),
        (["eval-detector", "run", "--conf", "1.5"], "--conf: must be between 0 and 1"),
        (["eval-detector", "run", "--nms", "nan"], "--nms: must be a finite number"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "o").exists()  # rejected before anything was written


def test_config_file_problems_name_the_file(tmp_path):
    from ferx.config import load_yaml
    from ferx.errors import ConfigError

    with pytest.raises(ConfigError, match="missing.yaml: No such file"):
        load_yaml(tmp_path / "missing.yaml")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"# caf\xe9\npipeline: two-stage\n")
    with pytest.raises(ConfigError, match="latin1.yaml is not UTF-8"):
        load_yaml(latin1)


def test_analyze_routes_photos_and_videos_in_one_folder_by_content(tmp_path):
    """A folder mixing a photo and a video: each goes its own way (video rows in OUT/<name>/)."""
    from tests.conftest import SHARED

    src = tmp_path / "mixed"
    src.mkdir()
    shutil.copy(lfw_paths("happiness", 1)[0], src / "photo.jpg")
    shutil.copy(SHARED / "videos" / "single_face.mp4", src / "clip.mp4")
    out = src / "out"  # inside the input: its own outputs (annotated video, JSON) are never re-read
    args = ["analyze", str(src), "-r", "--out", str(out), "--format", "json,csv", "--end", "1", "-q"]
    assert main(args) == 0
    assert json.loads((out / "photo.jpg.json").read_text())["faces"]
    video_rows = list(csv.DictReader(open(next(out.glob("clip*/rows.csv")))))
    assert len(video_rows) == 30 and {r["track"] for r in video_rows} == {"1"}  # 1 s at 30 fps, one person
    assert main(args) == 0  # a second run does not ingest OUT's files
    assert not list(out.glob("out*")) and len(list(out.glob("clip*/rows.csv"))) == 1
    # the top-level summary covers the videos too (a tryout found it counting only the photos)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["files"] == 1 and summary["faces"] == 1
    (video,) = summary["videos"]
    assert video["status"] == "complete" and video["frames"] == 30 == video["faces"] and video["tracks"] == 1
    assert (out / video["folder"] / "rows.csv").is_file()


def _faststart_half(src, dst):
    """`src` remuxed with its index first, then cut at 60 %: a video that decodes and then ends early."""
    import av

    full = dst.with_name("full-" + dst.name)
    with av.open(str(src)) as inp, av.open(str(full), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = full.read_bytes()
    dst.write_bytes(data[: int(len(data) * 0.6)])
    full.unlink()


def test_a_video_only_run_and_a_broken_video_have_a_top_level_summary(tmp_path, capsys):
    """The run's summary.json has the photo summary's keys; a video that cannot be opened is a failed
    input; `status` is the worst way a part ended (a tryout found "complete" beside a truncated video)."""
    from tests.conftest import SHARED

    src = tmp_path / "videos"
    src.mkdir()
    shutil.copy(SHARED / "videos" / "single_face.mp4", src / "clip.mp4")
    (src / "broken.mp4").write_bytes((SHARED / "videos" / "single_face.mp4").read_bytes()[:300])
    (src / "empty.mp4").write_bytes(b"")
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--out", str(out), "--end", "0.5", "-q"]) == 1
    summary = json.loads((out / "summary.json").read_text())
    by_name = {v["source"].split("/")[-1]: v for v in summary["videos"]}
    assert by_name["clip.mp4"]["status"] == "complete" and by_name["clip.mp4"]["frames"] == 15
    assert by_name["broken.mp4"]["status"] == "failed" and "broken.mp4" in by_name["broken.mp4"]["message"]
    assert summary["status"] == "complete" and summary["videos_failed"] == 2 and summary["video_frames"] == 15
    assert sorted(f["source"].split("/")[-1] for f in summary["failed"]) == ["broken.mp4", "empty.mp4"]
    assert summary["files"] == 0 and summary["faces"] == 0 and "seconds" in summary
    err = capsys.readouterr().err
    assert "ferx: skipped " in err and "3 video(s): 1 complete, 2 could not be read" in err
    # named alone, an empty .mp4 is a video that cannot be read, as inside a folder (not a bad photo)
    assert main(["analyze", str(src / "empty.mp4"), "--out", str(tmp_path / "alone"), "-q"]) == 1
    alone = json.loads((tmp_path / "alone" / "summary.json").read_text())
    assert alone["videos"][0]["error"] == "VideoReadError" and alone["failed"][0]["source"].endswith("empty.mp4")
    # a video that ends early makes the whole run "truncated", beside a photo that is fine
    _faststart_half(SHARED / "videos" / "single_face.mp4", src / "half.mp4")
    shutil.copy(lfw_paths("happiness", 1)[0], src / "photo.jpg")
    for name in ("clip.mp4", "broken.mp4", "empty.mp4"):
        (src / name).unlink()
    assert main(["analyze", str(src), "--out", str(out), "-q"]) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "truncated" and summary["files"] == 1 and summary["faces"] == 1
    assert summary["videos"][0]["status"] == "truncated" and summary["videos"][0]["frames"] > 10


def test_videos_of_one_name_get_folders_named_by_their_source(tmp_path):
    from tests.conftest import SHARED

    for sub in ("a", "b"):
        (tmp_path / "in" / sub).mkdir(parents=True)
        shutil.copy(SHARED / "videos" / "single_face.mp4", tmp_path / "in" / sub / "clip.mp4")
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "in"), "-r", "--out", str(out), "--end", "0.2", "-q"]) == 0
    folders = {v["source"].split("/")[-2]: v["folder"] for v in json.loads((out / "summary.json").read_text())["videos"]}
    assert folders["a"] == "clip" and re.fullmatch(r"clip~[0-9a-f]{8}", folders["b"])
    assert all((out / f / "rows.csv").is_file() for f in folders.values())


def test_links_that_lead_nowhere_are_reported_not_dropped(tmp_path, capsys):
    """A folder's broken and self-looping symbolic links were left out of the run without a word."""
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(lfw_paths("happiness", 1)[0], src / "photo.jpg")
    (src / "moved.jpg").symlink_to(tmp_path / "library" / "gone.jpg")
    (src / "loop.jpg").symlink_to(src / "loop.jpg")
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--out", f"{out}/"]) == 1
    failed = {f["source"].split("/")[-1]: f["message"] for f in json.loads((out / "summary.json").read_text())["failed"]}
    assert set(failed) == {"moved.jpg", "loop.jpg"}
    assert "broken symbolic link" in failed["moved.jpg"] and "gone.jpg, which does not exist" in failed["moved.jpg"]
    assert "leads back to itself" in failed["loop.jpg"]
    err = capsys.readouterr().err
    assert "ferx: skipped " in err and all(err.count(f"{name}:") == 1 for name in failed)  # the path said once
    assert err.rstrip().endswith(f"→ {out}/")  # "--out results/" printed "results//"


def test_demo_beside_another_photo_is_named_at_the_top(tmp_path):
    """`--demo` with a photo elsewhere mirrored both absolute paths under OUT (OUT/work/…/astronaut.jpg.json)."""
    photo = tmp_path / "deep" / "er" / "face.jpg"
    photo.parent.mkdir(parents=True)
    shutil.copy(lfw_paths("happiness", 1)[0], photo)
    out = tmp_path / "out"
    assert main(["analyze", "--demo", str(photo), "--out", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.glob("*.json")) == ["astronaut.jpg.json", "face.jpg.json", "summary.json"]


def test_whole_image_face_reads_a_crop_without_the_detector(tmp_path):
    from tests.conftest import SHARED

    crop = sorted((SHARED / "ferplus" / "FER2013Valid").glob("*.png"))[0]
    out = tmp_path / "o"
    assert main(["analyze", str(crop), "--whole-image-face", "--out", str(out), "-q"]) == 0
    d = json.loads((out / (crop.name + ".json")).read_text())
    assert len(d["faces"]) == 1 and d["faces"][0]["box"] == [0, 0, 48, 48]
    assert "whole_image_face: always" in (out / "config.yaml").read_text()


def test_video_options_on_photos_alone_are_said_to_be_unused(tmp_path, capsys):
    photo = lfw_paths("happiness", 1)[0]
    assert main(["analyze", str(photo), "--fps", "5", "--calibrate", "--out", str(tmp_path / "o"), "-q"]) == 0
    assert "ferx: note: --fps, --calibrate apply to videos; no input is a video" in capsys.readouterr().err
    assert main(["analyze", str(photo), "--out", str(tmp_path / "o"), "-q"]) == 0
    assert "note:" not in capsys.readouterr().err


def test_explanations_from_a_pipeline_without_aus_say_how_to_get_them(tmp_path, capsys):
    """`--pipeline onepass --explain` named a stage class and said to switch the stage off."""
    photo = str(lfw_paths("happiness", 1)[0])
    assert main(["analyze", photo, "--pipeline", "onepass", "--explain", "--out", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "this pipeline (onepass) measures none: add --aus" in err and "ChainOfThought" not in err


def test_a_folders_files_without_a_media_extension_are_said_not_to_be_read(tmp_path, capsys):
    """A JPEG named `summary` in a folder was dropped without a word (folders are scanned by extension)."""
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(lfw_paths("happiness", 1)[0], src / "photo.jpg")
    shutil.copy(lfw_paths("happiness", 1)[0], src / "summary")
    (src / ".DS_Store").write_bytes(b"\0")
    assert main(["analyze", str(src), "--out", str(src / "out")]) == 0
    err = capsys.readouterr().err
    assert "note: 1 file(s) in the folders have no image or video extension and are not read (summary)" in err


def test_training_overrides_may_follow_the_options(tmp_path, capsys):
    """`ferx train run.yaml --out DIR --resume epochs=40` was refused ("unrecognized arguments: epochs=40",
    with the top-level usage); the overrides now reach the command wherever they stand."""
    from ferx.cli import _parse, _parser

    args = _parse(_parser(), ["train", "configs/ferplus-guided.yaml", "--out", str(tmp_path), "--resume", "epochs=40",
                              "data.seed=3"])
    assert args.overrides == ["epochs=40", "data.seed=3"] and args.resume
    assert main(["train", "configs/ferplus-guided.yaml", "--out", str(tmp_path), "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
