"""The Exp-CoT data engine: a labelled dataset → instruction-tuning JSONL + a statistics report.

For each image the pipeline measures the face; the chain of thought is built with the dataset's
label as its conclusion (and says so where the AU evidence points elsewhere); the record is one of
ExpLLM's two instruction tasks — step-by-step description (prompt → chain of thought) or label only
(prompt → label) — mixed `cot:label` (default 1:3, as in ExpLLM). Records use the common
conversation format (LLaVA-style: `image` + `conversations` of `from: human|gpt`).

Output folder:
    data.jsonl      one record per usable image (appended as it goes: the run is resumable)
    skipped.jsonl   samples not used, each with the reason (unreadable, no face, no label)
    stats.json      counts, AU frequencies per label, AU-evidence accuracy, agreement, validator
    stats.md        the same as readable tables
    run.json        dataset, split, ratio, seed, language: a resumed run must use the same ones

Which record gets which task is fixed by the seed and the dataset alone (a seeded permutation of
the samples; position k is a CoT record when k mod (cot + label) < cot), so a resumed or repeated
run writes the same file.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferx.facs import AU_CODES
from ferx.types import Explanation, Faces
from ferx.explain.cot import explain_faces
from ferx.explain.templates import load_templates
from ferx.explain.validate import validate

DATA_FILE, SKIPPED_FILE, STATS_FILE, STATS_MD, RUN_FILE = "data.jsonl", "skipped.jsonl", "stats.json", "stats.md", "run.json"
#: A dataset box and a detected face must overlap this much (IoU) for the face to be the sample's.
BOX_MATCH_IOU = 0.3


@dataclass(frozen=True)
class EngineSettings:
    """What defines a generated data set (recorded in run.json; a resume must match).

    Attributes:
        cot: CoT records per `cot + label` records.
        label: label-only records per `cot + label` records.
        seed: task assignment, prompt choice and phrasing.
        language: template language.
    """

    cot: int = 1
    label: int = 3
    seed: int = 0
    language: str = "en"

    def __post_init__(self) -> None:
        if self.cot < 0 or self.label < 0 or self.cot + self.label == 0:
            raise ValueError(f"mix ratio must be two non-negative integers, not both 0; got {self.cot}:{self.label}")


def parse_ratio(text: str) -> tuple[int, int]:
    """'1:3' → (1, 3)."""
    try:
        a, b = (int(x) for x in text.split(":"))
    except ValueError:
        raise ValueError(f"ratio must look like COT:LABEL, e.g. 1:3; got {text!r}") from None
    EngineSettings(a, b)
    return a, b


@dataclass
class EngineReport:
    written: int = 0
    resumed: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def task_plan(n: int, settings: EngineSettings) -> np.ndarray:
    """(n,) bool: True where sample i becomes a CoT record."""
    order = np.random.default_rng(settings.seed).permutation(n)
    position = np.empty(n, np.int64)
    position[order] = np.arange(n)
    return position % (settings.cot + settings.label) < settings.cot


def pick_face(faces: Faces, box: tuple[float, float, float, float] | None) -> int | None:
    """The sample's face: the one best matching the dataset's box, else the largest."""
    if not len(faces):
        return None
    b = faces.boxes
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    if box is None:
        return int(np.argmax(area))
    x1, y1, x2, y2 = box
    iw = np.clip(np.minimum(b[:, 2], x2) - np.maximum(b[:, 0], x1), 0, None)
    ih = np.clip(np.minimum(b[:, 3], y2) - np.maximum(b[:, 1], y1), 0, None)
    inter = iw * ih
    iou = inter / (area + (x2 - x1) * (y2 - y1) - inter)
    best = int(np.argmax(iou))
    return best if iou[best] >= BOX_MATCH_IOU else None


def make_record(sample: Any, explanation: Explanation, cot: bool, label_set: Sequence[str],
                templates: dict[str, Any], seed: int, index: int) -> dict[str, Any]:
    """One instruction record (conversation format) with the measured facts it was built from."""
    rng = np.random.default_rng([seed, index])
    if cot:
        prompt = templates["prompt_cot"][int(rng.integers(len(templates["prompt_cot"])))]
        answer = explanation.text
    else:
        prompt = templates["prompt_label"][int(rng.integers(len(templates["prompt_label"])))]
        prompt = prompt.format(labels=", ".join(label_set))
        answer = explanation.label
    return {
        "id": f"{index:07d}",
        "image": str(sample.path),
        "task": "cot" if cot else "label",
        "conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": answer}],
        "label": explanation.label,
        "split": sample.split,
        "au_label": explanation.au_label,
        "classifier_label": explanation.classifier_label,
        "aus": {o.code: o.intensity for o in explanation.observations},
        "caveats": list(explanation.caveats),
        "valid": validate(explanation.text, explanation, templates=templates).ok,
    }


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Complete lines of a JSONL file; a torn last line (interrupted run) is cut off the file."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        raw = raw[: raw.rfind(b"\n") + 1]
        path.write_bytes(raw)
    return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]


def generate(
    dataset: Any,
    out: str | Path,
    analyzer: Any,
    settings: EngineSettings = EngineSettings(),
    *,
    limit: int | None = None,
    progress: bool = True,
) -> EngineReport:
    """Write instruction data for `dataset` into `out` (resuming what is there).

    Args:
        dataset: a `ferx.data.readers.Dataset` (name, label_set, samples with path/label/box/split).
        out: output folder.
        analyzer: an `Analyzer`; its own explain stage, if any, is not used (the conclusion here is
            the ground truth, not the classifier's label).
        settings: mix ratio, seed, language.
        limit: use only the first `limit` samples of the dataset (for trials).
        progress: show a progress bar on stderr.
    Raises:
        ValueError: `out` holds data made with other settings or another dataset.
    """
    from tqdm import tqdm

    from ferx.errors import ImageReadError

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    samples = list(dataset.samples)[:limit] if limit is not None else list(dataset.samples)
    run = {"dataset": dataset.name, "n_samples": len(samples), "cot": settings.cot, "label": settings.label,
           "seed": settings.seed, "language": settings.language}
    run_path = out / RUN_FILE
    if run_path.exists():
        before = json.loads(run_path.read_text())
        if before != run:
            diff = {k: (before.get(k), v) for k, v in run.items() if before.get(k) != v}
            raise ValueError(f"{out} holds data made with other settings {diff}; use another --out or the same settings")
    run_path.write_text(json.dumps(run, indent=1))

    templates = load_templates(settings.language)
    plan = task_plan(len(samples), settings)
    # Samples are keyed by their position in the dataset (run.json pins the dataset and its size);
    # a path is not a key: a dataset may list one image twice (e.g. two faces of one photo).
    done = {int(r["id"]) for r in _read_jsonl(out / DATA_FILE)} | {int(r["id"]) for r in _read_jsonl(out / SKIPPED_FILE)}
    report = EngineReport(resumed=len(done))
    todo = [(i, s) for i, s in enumerate(samples) if i not in done]

    with open(out / DATA_FILE, "a") as data_f, open(out / SKIPPED_FILE, "a") as skip_f:
        bar = tqdm(total=len(samples), initial=len(samples) - len(todo), unit="img", disable=not progress,
                   file=sys.stderr, desc="cot-data")

        def skip(sample: Any, reason: str) -> None:
            item = {"id": f"{i:07d}", "image": str(sample.path), "reason": reason}
            report.skipped.append(item)
            skip_f.write(json.dumps(item) + "\n")
            skip_f.flush()

        for i, sample in todo:
            bar.update(1)
            if sample.label is None:
                skip(sample, "no label")
                continue
            try:
                result = analyzer.analyze(sample.path)
            except ImageReadError as e:
                skip(sample, f"{type(e).__name__}: {e}")
                continue
            k = pick_face(result.faces, sample.box)
            if k is None:
                skip(sample, "no face found" if not len(result.faces) else "no detected face matches the dataset's box")
                continue
            face = result.faces[k]
            if face.aus is None:
                raise ValueError("the analyzer measures no AUs: cot-data needs the AU stage")
            (expl,) = explain_faces(face, targets=[sample.label], language=settings.language, seed=settings.seed)
            if expl is None:
                skip(sample, "AUs could not be measured on the face")
                continue
            record = make_record(sample, expl, bool(plan[i]), dataset.label_set, templates, settings.seed, i)
            data_f.write(json.dumps(record) + "\n")
            data_f.flush()  # a crash loses at most the record being written
            report.written += 1
        bar.close()

    report.stats = write_stats(out, dataset.label_set)
    report.seconds = time.perf_counter() - t0
    return report


def compute_stats(records: list[dict[str, Any]], skipped: list[dict[str, Any]], label_set: Sequence[str]) -> dict[str, Any]:
    """Counts, AU frequency per label, AU-evidence accuracy, classifier agreement, validator pass rate."""
    n = len(records)
    per_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        per_label[r["label"]].append(r)
    au_freq = {
        lab: {code: round(sum(code in r["aus"] for r in rs) / len(rs), 3) for code in AU_CODES}
        for lab, rs in per_label.items()
    }
    recall = {lab: round(sum(r["au_label"] == lab for r in rs) / len(rs), 3) for lab, rs in per_label.items()}
    with_clf = [r for r in records if r.get("classifier_label") is not None]
    reasons = Counter(s["reason"].split(":")[0] for s in skipped)
    return {
        "records": n,
        "tasks": dict(Counter(r["task"] for r in records)),
        "labels": {lab: len(per_label.get(lab, [])) for lab in label_set},
        "skipped": len(skipped),
        "skipped_reasons": dict(reasons),
        "face_found_rate": round(n / (n + reasons.get("no face found", 0)), 4) if n else None,
        "au_evidence_accuracy": round(sum(r["au_label"] == r["label"] for r in records) / n, 4) if n else None,
        "au_evidence_balanced_accuracy": round(float(np.mean(list(recall.values()))), 4) if recall else None,
        "au_evidence_recall": recall,
        "classifier_accuracy": round(sum(r["classifier_label"] == r["label"] for r in with_clf) / len(with_clf), 4) if with_clf else None,
        "agreement_rate": round(sum(r["classifier_label"] == r["au_label"] for r in with_clf) / len(with_clf), 4) if with_clf else None,
        "validator_pass_rate": round(sum(bool(r["valid"]) for r in records) / n, 4) if n else None,
        "au_frequency": au_freq,
    }


def write_stats(out: Path, label_set: Sequence[str]) -> dict[str, Any]:
    records, skipped = _read_jsonl(out / DATA_FILE), _read_jsonl(out / SKIPPED_FILE)
    stats = compute_stats(records, skipped, label_set)
    (out / STATS_FILE).write_text(json.dumps(stats, indent=1))
    (out / STATS_MD).write_text(stats_markdown(stats))
    return stats


def stats_markdown(stats: dict[str, Any]) -> str:
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f} %"

    lines = [
        "# Exp-CoT data statistics", "",
        f"- records: {stats['records']} ({', '.join(f'{k} {v}' for k, v in sorted(stats['tasks'].items()))})",
        f"- skipped: {stats['skipped']} ({', '.join(f'{k}: {v}' for k, v in stats['skipped_reasons'].items()) or 'none'})",
        f"- face found: {pct(stats['face_found_rate'])}",
        f"- AU evidence alone picks the label: {pct(stats['au_evidence_accuracy'])} "
        f"(balanced {pct(stats['au_evidence_balanced_accuracy'])})",
        f"- classifier accuracy: {pct(stats['classifier_accuracy'])}; classifier agrees with AU evidence: {pct(stats['agreement_rate'])}",
        f"- validator pass rate: {pct(stats['validator_pass_rate'])}",
        "", "## AU frequency per label (share of faces with the AU at intensity A or more)", "",
    ]
    labels = [lab for lab, c in stats["labels"].items() if c]
    lines.append("| AU | " + " | ".join(f"{lab} (n={stats['labels'][lab]})" for lab in labels) + " |")
    lines.append("|---" * (len(labels) + 1) + "|")
    for code in AU_CODES:
        lines.append(f"| {code} | " + " | ".join(f"{stats['au_frequency'][lab][code]:.2f}" for lab in labels) + " |")
    lines += ["", "## AU-evidence recall per label", "",
              "| label | recall |", "|---|---|"]
    lines += [f"| {lab} | {stats['au_evidence_recall'][lab]:.3f} |" for lab in labels]
    return "\n".join(lines) + "\n"
