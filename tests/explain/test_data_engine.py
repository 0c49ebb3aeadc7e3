import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferx.data.readers import Dataset, Sample, open_dataset
from ferx.explain.data_engine import EngineSettings, generate, parse_ratio, task_plan
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


def test_jsonl_schema_and_mix_ratio_on_ferplus(ferplus_run):
    ds, out, report = ferplus_run
    records, skipped = read(out / "data.jsonl"), read(out / "skipped.jsonl")
    assert len(records) + len(skipped) == 40 and report.written == len(records) > 20
    samples = {str(s.path): s for s in ds.samples[:40]}
    for r in records:
        assert set(r) >= {"id", "image", "task", "conversations", "label", "au_label", "aus", "valid"}
        human, gpt = r["conversations"]
        assert human["from"] == "human" and gpt["from"] == "gpt" and human["value"].startswith("<image>\n")
        assert Path(r["image"]).exists() and r["label"] == samples[r["image"]].label
        if r["task"] == "label":
            assert gpt["value"] == r["label"] and all(lab in human["value"] for lab in EXPRESSIONS)
        else:
            assert gpt["value"].startswith("Key observations:") and "Conclusion:" in gpt["value"]
            assert r["label"] in gpt["value"].split("Conclusion:")[1]
        assert set(r["aus"]) <= set(AU_CODES) and all(v >= 1.0 for v in r["aus"].values())
        assert r["valid"] is True
    # The plan is exactly 1:3 over the 40 samples; records are the plan minus skipped images.
    plan = task_plan(40, EngineSettings())
    assert plan.sum() == 10
    index = {str(s.path): i for i, s in enumerate(ds.samples[:40])}
    assert all((r["task"] == "cot") == plan[index[r["image"]]] for r in records)
    assert {s["reason"] for s in skipped} <= {"no face found"}


def test_stats_report(ferplus_run):
    _, out, report = ferplus_run
    records = read(out / "data.jsonl")
    stats = json.loads((out / "stats.json").read_text())
    assert stats == report.stats and stats["records"] == len(records)
    assert stats["validator_pass_rate"] == 1.0
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
    (tmp_path / "data.jsonl").write_text("".join(lines[:7]) + lines[7][:25])  # torn last line
    report = generate(ds, tmp_path, analyzer, limit=40, progress=False)
    assert report.written == len(lines) - 7
    assert (tmp_path / "data.jsonl").read_text() == full
    with pytest.raises(ValueError, match="other settings"):
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
    assert [r["image"] for r in records] == [str(good[0])] and records[0]["task"] == "cot"
    reasons = [(s["id"], s["image"], s["reason"]) for s in report.skipped]
    assert reasons[0][:2] == ("0000001", str(broken)) and reasons[0][2].startswith("ImageReadError: ")
    assert reasons[1:] == [("0000002", str(blank), "no face found"), ("0000003", str(good[1]), "no label"),
                           ("0000004", str(good[1]), "no detected face matches the dataset's box")]
    assert len(read(tmp_path / "out" / "skipped.jsonl")) == 4
    assert validate(records[0]["conversations"][1]["value"], _explanation_of(analyzer, good[0])).ok


def _explanation_of(analyzer, path):
    from ferx.explain.cot import explain_faces

    faces = analyzer.analyze(path).faces
    return explain_faces(faces[0], targets=["happiness"])[0]


def test_ratio_parsing():
    assert parse_ratio("1:3") == (1, 3) and parse_ratio("0:1") == (0, 1)
    for bad in ("1-3", "0:0", "-1:2", "a:b"):
        with pytest.raises(ValueError):
            parse_ratio(bad)
