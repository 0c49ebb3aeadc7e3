"""The Exp-CoT data engine: a labelled dataset → instruction-tuning JSONL + a statistics report.

Built as ExpLLM's released data lists are (Lan et al. 2024): every usable image gets one
chain-of-thought record — a conversation whose first turn asks for the step-by-step description
and whose second asks for the label — plus `label` label-only records (default 1 CoT : 3 label
records per image, as in ExpLLM's lists), each with a prompt drawn from the templates. Records use
the common conversation format (LLaVA-style: `image` + `conversations` of `from: human|gpt`).

The chain of thought is written from the measured AUs toward the dataset's label (the conclusion is
the label; no image classifier is consulted, so none appears in a training target — ExpLLM's have
none). Where the AUs argue against the label (the AU reading is another emotion AND AUs that oppose
the label are active, e.g. a broad smile labelled sadness) the record is flagged
`contradicts_label`, counted in stats.md, and with `drop_contradicting` its CoT record is left out
(the label-only records stay: the label is still the dataset's).

Output folder:
    data.jsonl      the records of every usable image (appended as it goes: the run is resumable)
    skipped.jsonl   samples not used, each with the reason (unreadable, no face, no label)
    stats.json      counts, AU frequencies per label, AU-evidence accuracy, contradictions, validator
    stats.md        the same as readable tables
    run.json        dataset, ratio, seed, language: a resumed run must use the same ones; and
                    `root`, the dataset folder the `image` of every record is relative to

Images are named relative to the dataset root (`FER2013Test/fer0032220.png`, POSIX separators), not by
their absolute path on the machine that built the data: a data set built here and trained on
elsewhere joins them with its own copy of the dataset (`root` in run.json says where it was here).
An image outside the root gets a path that climbs out of it (`../other/x.png`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ferx.boxes import box_iou
from ferx.facs import AU_CODES
from ferx.fsutil import atomic_write_bytes, atomic_write_text
from ferx.types import Explanation, Faces
from ferx.explain.cot import explain_faces
from ferx.explain.templates import load_templates

if TYPE_CHECKING:
    from ferx.data.readers import Dataset
    from ferx.pipeline import Analyzer
from ferx.explain.validate import validate

DATA_FILE, SKIPPED_FILE, STATS_FILE, STATS_MD, RUN_FILE = "data.jsonl", "skipped.jsonl", "stats.json", "stats.md", "run.json"
#: A dataset box and a detected face must overlap this much (IoU) for the face to be the sample's.
BOX_MATCH_IOU = 0.3


@dataclass(frozen=True)
class EngineSettings:
    """What defines a generated data set (recorded in run.json; a resume must match).

    Attributes:
        cot: chain-of-thought records per image (0 or 1).
        label: label-only records per image.
        seed: prompt choice and phrasing.
        language: template language.
        drop_contradicting: leave out the CoT record of images whose AUs argue against the label.
    """

    cot: int = 1
    label: int = 3
    seed: int = 0
    language: str = "en"
    drop_contradicting: bool = False

    def __post_init__(self) -> None:
        if self.cot not in (0, 1) or self.label < 0 or self.cot + self.label == 0:
            raise ValueError(f"mix ratio must be COT:LABEL records per image with COT 0 or 1, LABEL >= 0, "
                             f"not both 0; got {self.cot}:{self.label}")


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
    written: int = 0  # records
    images: int = 0  # images whose records were written
    resumed: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def pick_face(faces: Faces, box: tuple[float, float, float, float] | None) -> int | None:
    """The sample's face: the one best matching the dataset's box, else the largest."""
    if not len(faces):
        return None
    if box is None:
        return int(faces.largest_rows(1)[0])
    iou = box_iou(faces.boxes, np.array([box], np.float64))[:, 0]
    best = int(np.argmax(iou))
    return best if iou[best] >= BOX_MATCH_IOU else None


def contradicts_label(explanation: Explanation) -> bool:
    """The AUs argue against the label: they read as another emotion and AUs that oppose the label
    are active (a broad smile labelled sadness). A label the AUs merely fail to show (its defining AUs
    not measured, or weak) is no contradiction."""
    own = explanation.evidence_for(explanation.label)
    return explanation.au_label != explanation.label and own is not None and bool(own.opposing)


def image_name(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> str:
    """How records name an image: its path relative to the dataset root, with "/" separators."""
    return Path(os.path.relpath(Path(path).resolve(), Path(root).resolve())).as_posix()


def make_records(sample: Any, explanation: Explanation, settings: EngineSettings, label_set: Sequence[str],
                 templates: dict[str, Any], index: int, image: str | None = None) -> list[dict[str, Any]]:
    """The records of one image: the CoT conversation (description turn, then label turn) unless
    left out, then `settings.label` label-only records; each with the measured facts it rests on.
    `image` names the image (default: its path as the sample gives it; `generate` passes the path
    relative to the dataset root)."""
    rng = np.random.default_rng([settings.seed, index])
    contradicts = contradicts_label(explanation)

    def label_turns() -> list[dict[str, str]]:
        prompt = templates["prompt_label"][int(rng.integers(len(templates["prompt_label"])))]
        return [{"from": "human", "value": prompt.format(labels=", ".join(label_set))},
                {"from": "gpt", "value": explanation.label}]

    common = {
        "image": str(sample.path) if image is None else image, "sample": index, "label": explanation.label,
        "split": sample.split,
        "au_label": explanation.au_label, "aus": {o.code: o.intensity for o in explanation.observations},
        "caveats": list(explanation.caveats), "contradicts_label": contradicts,
    }
    out = []
    if settings.cot and not (contradicts and settings.drop_contradicting):
        prompt = templates["prompt_cot"][int(rng.integers(len(templates["prompt_cot"])))]
        out.append({"id": f"{index:07d}-0", "task": "cot",
                    "conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": explanation.text},
                                      *label_turns()],
                    **common, "valid": validate(explanation.text, explanation, templates=templates).ok})
    for k in range(settings.label):
        out.append({"id": f"{index:07d}-{k + 1}", "task": "label", "conversations": label_turns(), **common})
    return out


def _drop_partial_image(path: Path, records: list[dict[str, Any]], settings: EngineSettings) -> None:
    """Cut the last image's records off the file if it has fewer than an image gets (torn write)."""
    if not records:
        return
    last = records[-1]["sample"]
    tail = [r for r in records if r["sample"] == last]
    expected = settings.label + (settings.cot if not (tail[0]["contradicts_label"] and settings.drop_contradicting) else 0)
    if len(tail) < expected:
        keep = records[: len(records) - len(tail)]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Complete lines of a JSONL file; a torn last line (interrupted run) is cut off the file."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        raw = raw[: raw.rfind(b"\n") + 1]
        atomic_write_bytes(path, raw)
    return [json.loads(line) for line in raw.decode().splitlines() if line.strip()]


def generate(
    dataset: Dataset,
    out: str | Path,
    analyzer: Analyzer,
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

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    samples = list(dataset.samples)[:limit] if limit is not None else list(dataset.samples)
    _start_run(out, dataset.name, len(samples), settings, dataset.root)
    templates = load_templates(settings.language)
    done = _resume(out, settings)
    report = EngineReport(resumed=len(done))
    todo = [(i, s) for i, s in enumerate(samples) if i not in done]

    with open(out / DATA_FILE, "a") as data_f, open(out / SKIPPED_FILE, "a") as skip_f:
        bar = tqdm(total=len(samples), initial=len(samples) - len(todo), unit="img", disable=not progress,
                   file=sys.stderr, desc="cot-data")
        for i, sample in todo:
            bar.update(1)
            expl = _explain_sample(analyzer, sample, settings)
            image = image_name(sample.path, dataset.root)
            if isinstance(expl, str):  # why the sample is skipped
                item = {"id": f"{i:07d}", "image": image, "reason": expl}
                report.skipped.append(item)
                skip_f.write(json.dumps(item) + "\n")
                skip_f.flush()
                continue
            recs = make_records(sample, expl, settings, dataset.label_set, templates, i, image)
            data_f.write("".join(json.dumps(r) + "\n" for r in recs))
            data_f.flush()  # a crash loses at most the image being written
            report.written += len(recs)
            report.images += 1
        bar.close()

    report.stats = write_stats(out, dataset.label_set)
    report.seconds = time.perf_counter() - t0
    return report


def _start_run(out: Path, name: str, n_samples: int, settings: EngineSettings, root: Path) -> None:
    """Write run.json, or refuse an output folder made with other settings or another dataset. The
    root may change between runs (the same dataset copied elsewhere: the records are relative to it)."""
    run = {"dataset": name, "n_samples": n_samples, "cot": settings.cot, "label": settings.label,
           "seed": settings.seed, "language": settings.language, "drop_contradicting": settings.drop_contradicting,
           "image_paths": "relative to root"}
    run_path = out / RUN_FILE
    if run_path.exists():
        before = {k: v for k, v in json.loads(run_path.read_text()).items() if k != "root"}
        if "image_paths" not in before and (out / DATA_FILE).exists():
            raise ValueError(f"{out} holds data of an earlier ferx whose records name images by absolute path; "
                             "use another --out (this ferx names them relative to the dataset root)")
        # A larger --limit extends the same prefix of the dataset (each sample's records depend on the
        # seed and its position only), so a pilot slice may grow; anything else must be the same.
        grows = isinstance(before.get("n_samples"), int) and before["n_samples"] <= n_samples
        same = {k: v for k, v in run.items() if k != "n_samples" or not grows}
        if "image_paths" in before and any(before.get(k) != v for k, v in same.items()):
            diff = "; ".join(f"{k} {_said(before.get(k))} there, {_said(v)} now" for k, v in same.items()
                             if before.get(k) != v)
            hint = " (a --limit may grow, not shrink)" if before.get("n_samples", 0) > n_samples else ""
            raise ValueError(f"{out} holds data made with other settings ({diff}){hint}; use another --out or the "
                             "same settings")
    atomic_write_text(run_path, json.dumps({**run, "root": str(Path(root).resolve())}, indent=1))


def _said(value: Any) -> str:
    """A setting as a user wrote it: a ratio (3, 1) as 3:1, a list without brackets."""
    if isinstance(value, (list, tuple)):
        return ":".join(map(str, value)) if all(isinstance(v, int) for v in value) else ", ".join(map(str, value))
    return str(value)


def _resume(out: Path, settings: EngineSettings) -> set[int]:
    """The sample positions already written or skipped. Samples are keyed by their position in the
    dataset (run.json pins the dataset and its size); a path is not a key: a dataset may list one
    image twice (e.g. two faces of one photo). An image's records are written together, so a torn
    tail loses at most that image's records (`_drop_partial_image`)."""
    _drop_partial_image(out / DATA_FILE, _read_jsonl(out / DATA_FILE), settings)
    return {r["sample"] for r in _read_jsonl(out / DATA_FILE)} | {int(r["id"]) for r in _read_jsonl(out / SKIPPED_FILE)}


def _explain_sample(analyzer: Analyzer, sample: Any, settings: EngineSettings) -> Explanation | str:
    """The sample's explanation with its label as the conclusion, or why it is skipped."""
    from ferx.errors import ImageReadError

    if sample.label is None:
        return "no label"
    try:
        result = analyzer.analyze(sample.path)
    except ImageReadError as e:
        return f"{type(e).__name__}: {e}"
    k = pick_face(result.faces, sample.box)
    if k is None:
        return "no face found" if not len(result.faces) else "no detected face matches the dataset's box"
    face = result.faces[k]
    if face.aus is None:
        raise ValueError("the analyzer measures no AUs: cot-data needs the AU stage")
    # No classifier in a training target: the rationale argues from the AUs to the label.
    (expl,) = explain_faces(face.with_fields(expression=None), targets=[sample.label],
                            language=settings.language, seed=settings.seed)
    return "AUs could not be measured on the face" if expl is None else expl


def compute_stats(records: list[dict[str, Any]], skipped: list[dict[str, Any]], label_set: Sequence[str]) -> dict[str, Any]:
    """Per image: counts, AU frequency per label, AU-evidence accuracy, contradictions; per CoT
    record: validator pass rate and length."""
    images = list({r["sample"]: r for r in records}.values())
    n = len(images)
    cots = [r for r in records if r["task"] == "cot"]
    per_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in images:
        per_label[r["label"]].append(r)
    au_freq = {
        lab: {code: round(sum(code in r["aus"] for r in rs) / len(rs), 3) for code in AU_CODES}
        for lab, rs in per_label.items()
    }
    recall = {lab: round(sum(r["au_label"] == lab for r in rs) / len(rs), 3) for lab, rs in per_label.items()}
    reasons = Counter(s["reason"].split(":")[0] for s in skipped)
    words = sorted(len(r["conversations"][1]["value"].split()) for r in cots)
    return {
        "records": len(records),
        "images": n,
        "tasks": dict(Counter(r["task"] for r in records)),
        "labels": {lab: len(per_label.get(lab, [])) for lab in label_set},
        "skipped": len(skipped),
        "skipped_reasons": dict(reasons),
        "face_found_rate": round(n / (n + reasons.get("no face found", 0)), 4) if n else None,
        "au_evidence_accuracy": round(sum(r["au_label"] == r["label"] for r in images) / n, 4) if n else None,
        "au_evidence_balanced_accuracy": round(float(np.mean(list(recall.values()))), 4) if recall else None,
        "au_evidence_recall": recall,
        "contradicting_images": sum(bool(r["contradicts_label"]) for r in images),
        "contradicting_cot_records": sum(bool(r["contradicts_label"]) for r in cots),
        "validator_pass_rate": round(sum(bool(r["valid"]) for r in cots) / len(cots), 4) if cots else None,
        "cot_words_median": float(np.median(words)) if words else None,
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
        f"- records: {stats['records']} for {stats['images']} images ({', '.join(f'{k} {v}' for k, v in sorted(stats['tasks'].items()))})",
        f"- skipped: {stats['skipped']} ({', '.join(f'{k}: {v}' for k, v in stats['skipped_reasons'].items()) or 'none'})",
        f"- face found: {pct(stats['face_found_rate'])}",
        f"- AU evidence alone picks the label: {pct(stats['au_evidence_accuracy'])} "
        f"(balanced {pct(stats['au_evidence_balanced_accuracy'])})",
        f"- images whose AUs argue against the label (flagged `contradicts_label`): {stats['contradicting_images']} "
        f"({stats['contradicting_cot_records']} of them written as CoT records)",
        f"- chain-of-thought length: median {stats['cot_words_median']} words",
        f"- validator pass rate: {pct(stats['validator_pass_rate'])}",
        "", "## AU frequency per label (share of images with the AU at intensity A or more; AUs graded "
        "unreliable are never active)", "",
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
