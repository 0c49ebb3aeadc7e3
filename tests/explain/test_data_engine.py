import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferx.data.readers import Dataset, Sample, open_dataset
from ferx.explain.data_engine import EngineSettings, generate, image_name, parse_ratio
from ferx.explain.validate import validate
from ferx.facs import AU_CODES, EXPRESSIONS
from tests.conftest import LFW, SHARED, lfw_paths

FERPLUS = SHARED / "ferplus"


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def ferplus_run(analyzer, tmp_path_factory):
    if not (FERPLUS / "FER2013Test" / "label.csv").exists():
        pytest.skip(f"FER+ not found at {FERPLUS}")
    ds = open_dataset(f"ferplus:{FERPLUS}", "test")
    out = tmp_path_factory.mktemp("cot")
    report = generate(ds, out, analyzer, limit=40, progress=False)
    return ds, out, report


def test_records_per_image_as_in_explllm_lists(ferplus_run):
    """Every usable image: one CoT conversation (description turn, then label turn) and three
    label-only records; the rationale concludes with the dataset's label and never cites a classifier."""
    ds, out, report = ferplus_run
    records, skipped = read(out / "data.jsonl"), read(out / "skipped.jsonl")
    images = {r["sample"] for r in records}
    assert len(images) + len(skipped) == 40 and report.images == len(images) > 20 and report.written == len(records)
    root = Path(json.loads((out / "run.json").read_text())["root"])
    assert root == FERPLUS.resolve()
    samples = {image_name(s.path, root): s for s in ds.samples[:40]}
    for i in images:
        mine = [r for r in records if r["sample"] == i]
        assert [r["task"] for r in mine] == ["cot", "label", "label", "label"]
        assert len({r["id"] for r in mine}) == 4
    for r in records:
        assert set(r) >= {"id", "sample", "image", "task", "conversations", "label", "au_label", "aus", "contradicts_label"}
        turns = r["conversations"]
        assert [t["from"] for t in turns] == (["human", "gpt"] * (2 if r["task"] == "cot" else 1))
        assert turns[0]["value"].startswith("<image>\n")
        assert not Path(r["image"]).is_absolute() and r["image"].startswith("FER2013Test/")
        assert (root / r["image"]).exists() and r["label"] == samples[r["image"]].label
        assert turns[-1]["value"] == r["label"] and all(lab in turns[-2]["value"] for lab in EXPRESSIONS)
        if r["task"] == "cot":
            text = turns[1]["value"]
            assert text.startswith("Key observations:") and "Conclusion:" in text
            assert r["label"] in text.split("Conclusion:")[1] and "classifier" not in text
            assert r["valid"] is True
        assert set(r["aus"]) <= set(AU_CODES) and all(v >= 1.0 for v in r["aus"].values())
    assert {s["reason"] for s in skipped} <= {"no face found"}


def test_contradicting_images_are_flagged_or_dropped(analyzer, tmp_path):
    """A broad smile labelled sadness: the AUs argue against the label."""
    smile = lfw_paths("happiness", 1)[0]
    ds = Dataset("mini", "folders", LFW, EXPRESSIONS, [Sample(smile, "sadness"), Sample(smile, "happiness")])
    generate(ds, tmp_path / "flag", analyzer, progress=False)
    recs = read(tmp_path / "flag" / "data.jsonl")
    assert [(r["sample"], r["task"], r["contradicts_label"]) for r in recs if r["task"] == "cot"] == [(0, "cot", True), (1, "cot", False)]
    stats = json.loads((tmp_path / "flag" / "stats.json").read_text())
    assert stats["contradicting_images"] == 1 and "argue against the label" in (tmp_path / "flag" / "stats.md").read_text()
    generate(ds, tmp_path / "drop", analyzer, EngineSettings(drop_contradicting=True), progress=False)
    dropped = read(tmp_path / "drop" / "data.jsonl")
    assert [(r["sample"], r["task"]) for r in dropped if r["task"] == "cot"] == [(1, "cot")]
    assert sum(r["sample"] == 0 for r in dropped) == 3  # the label-only records stay


def test_stats_report(ferplus_run):
    _, out, report = ferplus_run
    records = read(out / "data.jsonl")
    stats = json.loads((out / "stats.json").read_text())
    assert stats == report.stats and stats["records"] == len(records)
    assert stats["validator_pass_rate"] == 1.0
    records = list({r["sample"]: r for r in records}.values())  # per image
    acc = sum(r["au_label"] == r["label"] for r in records) / len(records)
    assert stats["au_evidence_accuracy"] == pytest.approx(acc, abs=1e-4)
    happy = [r for r in records if r["label"] == "happiness"]
    assert stats["au_frequency"]["happiness"]["AU12"] == pytest.approx(sum("AU12" in r["aus"] for r in happy) / len(happy), abs=1e-3)
    md = (out / "stats.md").read_text()
    assert "AU evidence alone picks the label" in md and "| AU12 |" in md


def test_interrupted_run_resumes_to_the_same_file(ferplus_run, analyzer, tmp_path):
    ds, out, _ = ferplus_run
    for name in ("data.jsonl", "skipped.jsonl", "run.json"):
        shutil.copy(out / name, tmp_path / name)
    full = (out / "data.jsonl").read_text()
    lines = full.splitlines(keepends=True)
    (tmp_path / "data.jsonl").write_text("".join(lines[:7]) + lines[7][:25])  # torn mid-image
    report = generate(ds, tmp_path, analyzer, limit=40, progress=False)
    assert report.images == len({json.loads(x)["sample"] for x in lines}) - 1  # 7 lines = 1 whole image + 3 of the next
    assert (tmp_path / "data.jsonl").read_text() == full
    with pytest.raises(ValueError, match=r"other settings \(label 3 there, 1 now\)"):  # not a dict of tuples
        generate(ds, tmp_path, analyzer, EngineSettings(cot=1, label=1), limit=40, progress=False)


def test_bad_images_are_skipped_and_listed(analyzer, tmp_path):
    good = lfw_paths("happiness", 2)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(good[0].read_bytes()[:300])
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(blank)
    samples = [Sample(good[0], "happiness"), Sample(broken, "sadness"), Sample(blank, "anger"),
               Sample(good[1], None), Sample(good[1], "happiness", box=(0, 0, 20, 20))]
    ds = Dataset("mini", "folders", LFW, EXPRESSIONS, samples)
    report = generate(ds, tmp_path / "out", analyzer, EngineSettings(cot=1, label=0), progress=False)
    records = read(tmp_path / "out" / "data.jsonl")
    name = {p: image_name(p, LFW) for p in (*good, broken, blank)}  # relative to the dataset root
    assert name[good[0]] == f"images/{good[0].name}" and name[broken].startswith("../")
    assert [r["image"] for r in records] == [name[good[0]]] and records[0]["task"] == "cot"
    assert len(records[0]["conversations"]) == 4
    reasons = [(s["id"], s["image"], s["reason"]) for s in report.skipped]
    assert reasons[0][:2] == ("0000001", name[broken]) and reasons[0][2].startswith("ImageReadError: ")
    assert reasons[1:] == [("0000002", name[blank], "no face found"), ("0000003", name[good[1]], "no label"),
                           ("0000004", name[good[1]], "no detected face matches the dataset's box")]
    assert len(read(tmp_path / "out" / "skipped.jsonl")) == 4
    assert validate(records[0]["conversations"][1]["value"], _explanation_of(analyzer, good[0])).ok


def _explanation_of(analyzer, path):
    from ferx.explain.cot import explain_faces

    faces = analyzer.analyze(path).faces
    return explain_faces(faces[0].with_fields(expression=None), targets=["happiness"])[0]


def test_ratio_parsing():
    assert parse_ratio("1:3") == (1, 3) and parse_ratio("0:1") == (0, 1)
    for bad in ("1-3", "0:0", "-1:2", "a:b"):
        with pytest.raises(ValueError):
            parse_ratio(bad)


def test_records_name_images_relative_to_the_dataset_root(analyzer, tmp_path):
    """Built here, trained on elsewhere: the records name each image relative to the dataset root
    (recorded once in run.json), so another machine's copy of the dataset resolves them; the same
    dataset moved resumes into the same folder."""
    root = tmp_path / "here" / "faces"
    for emotion in ("happiness", "surprise"):
        (root / emotion).mkdir(parents=True)
        for p in lfw_paths(emotion, 2):
            shutil.copy(p, root / emotion / p.name)
    out = tmp_path / "cot"
    generate(open_dataset(f"folders:{root}"), out, analyzer, progress=False)
    run = json.loads((out / "run.json").read_text())
    assert run["root"] == str(root.resolve()) and run["image_paths"] == "relative to root"
    elsewhere = tmp_path / "there" / "faces"
    shutil.copytree(root, elsewhere)
    shutil.rmtree(tmp_path / "here")
    records = read(out / "data.jsonl")
    assert len({r["sample"] for r in records}) == 4 and all(not r["image"].startswith(("/", "..")) for r in records)
    assert all((elsewhere / r["image"]).is_file() for r in records)
    last = max(r["sample"] for r in records)  # as if the run had stopped before the last image
    (out / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records if r["sample"] != last))
    report = generate(open_dataset(f"folders:{elsewhere}"), out, analyzer, progress=False)
    assert report.resumed == 3 and report.images == 1
    assert json.loads((out / "run.json").read_text())["root"] == str(elsewhere.resolve())
    assert read(out / "data.jsonl") == records  # the same records, whichever copy of the dataset made them


def test_data_of_an_earlier_ferx_with_absolute_paths_is_not_mixed(analyzer, tmp_path):
    out = tmp_path / "cot"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"dataset": "x", "n_samples": 1, "cot": 1, "label": 3, "seed": 0,
                                              "language": "en", "drop_contradicting": False}))
    (out / "data.jsonl").write_text(json.dumps({"id": "0000000-1", "sample": 0, "image": "/abs/a.png",
                                                "contradicts_label": False}) + "\n")
    ds = Dataset("x", "folders", LFW, EXPRESSIONS, [Sample(lfw_paths("happiness", 1)[0], "happiness")])
    with pytest.raises(ValueError, match="absolute path"):
        generate(ds, out, analyzer, progress=False)


def test_a_slice_may_grow_into_the_same_output(ferplus_run, analyzer, tmp_path):
    """`--limit 12` then `--limit 15` into one --out was refused ("other settings (n_samples …)"); the
    larger limit extends the same prefix, so the first run's records stay as they were."""
    ds, _, _ = ferplus_run
    generate(ds, tmp_path, analyzer, limit=12, progress=False)
    first = (tmp_path / "data.jsonl").read_text()
    report = generate(ds, tmp_path, analyzer, limit=15, progress=False)
    grown = (tmp_path / "data.jsonl").read_text()
    assert grown.startswith(first) and len(grown) > len(first) and report.images + len(report.skipped) <= 3
    whole = tmp_path / "whole"
    generate(ds, whole, analyzer, limit=15, progress=False)
    assert (whole / "data.jsonl").read_text() == grown  # the same file as one run of 15
    with pytest.raises(ValueError, match=r"a --limit may grow, not shrink"):
        generate(ds, tmp_path, analyzer, limit=10, progress=False)
