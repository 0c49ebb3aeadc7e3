"""Reports from what ferx wrote: a `ferx analyze` output folder (per-image JSON, annotated/,
summary.json, .ferx-batch/done.jsonl) or a video run folder (rows.csv, segments.jsonl), or a
folder of such video folders.

Which JSON file belongs to which image comes from the batch manifest (`.ferx-batch/done.jsonl`,
which also names the annotated image); without one, every `*.json` that parses as a FrameResult is
taken. The face crops and heatmaps need the analysed image: it is read again from the result's
`source` when that file still exists with the same size; otherwise the report shows the annotated
image if there is one and says what is missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ferx.errors import FerxError
from ferx.fsutil import atomic_write_text
from ferx.report.html import ReportEntry, TrackTimeline, build_report
from ferx.types import FrameResult

REPORT_NAME = "report.html"
#: Images shown in full by default; the summary table lists the faces of all of them.
MAX_IMAGES = 500
_SKIP_JSON = {"summary.json", "run.json"}


class ReportError(FerxError):
    """The folder holds no ferx results to report on."""


def _manifest(folder: Path) -> list[dict[str, Any]] | None:
    path = folder / ".ferx-batch" / "done.jsonl"
    if not path.is_file():
        return None
    items = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            items.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a crash is not listed as done anyway
    return items


def _result_files(folder: Path) -> list[tuple[Path, Path | None]]:
    """(JSON file, annotated image or None) per analysed image, in manifest order (else by name)."""
    done = _manifest(folder)
    if done is not None:
        out = []
        for d in done:
            if d.get("json_file"):
                annotated = folder / d["annotated_file"] if d.get("annotated_file") else None
                out.append((folder / d["json_file"], annotated))
        return out
    return [(p, None) for p in sorted(folder.rglob("*.json"))
            if p.name not in _SKIP_JSON and ".ferx-batch" not in p.parts]


def _read_result(path: Path) -> FrameResult | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "faces" not in data or "width" not in data:
        return None
    try:
        return FrameResult.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


def _source_image(result: FrameResult) -> np.ndarray | None:
    """The analysed image read again from its source path, if it is still there and the same size."""
    from ferx.io import load_image

    path = Path(result.source)
    if not path.is_file():
        return None
    try:
        image = load_image(path)
    except FerxError:
        return None
    return image if image.shape[:2] == (result.height, result.width) else None


def _entries(items: list[tuple[Path, Path | None]], results: list[FrameResult]) -> Iterator[ReportEntry]:
    from PIL import Image

    for (_, annotated_path), result in zip(items, results):
        annotated = None
        if annotated_path is not None and annotated_path.is_file():
            try:
                with Image.open(annotated_path) as im:
                    annotated = im.convert("RGB")
            except OSError:
                annotated = None
        yield ReportEntry(result, _source_image(result), annotated)


def _video_folders(folder: Path) -> list[Path]:
    if (folder / "rows.csv").is_file():
        return [folder]
    return sorted(p.parent for p in folder.glob("*/rows.csv"))


def video_timelines(run: Path, *, key_aus: int = 5, max_points: int = 1500) -> list[TrackTimeline]:
    """Per-track timelines of a video run folder: expression probabilities and the most active AUs
    over time, from rows.csv; segments from segments.jsonl."""
    import pandas as pd

    from ferx.report.charts import label_colour, timeline_chart

    rows = pd.read_csv(run / "rows.csv")
    if "track" not in rows or rows.empty:
        return []
    rows = rows[rows["track"].notna()]
    probs = [c for c in rows.columns if c.startswith("p_")]
    aus = [c for c in rows.columns if c.startswith("AU") and not c.endswith("_rel")]
    segments: list[dict[str, Any]] = []
    seg_path = run / "segments.jsonl"
    if seg_path.is_file():
        for line in seg_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                segments.append(json.loads(line))
            except ValueError:
                continue
    video = run.name
    summary = run / "summary.json"
    if summary.is_file():
        try:
            video = Path(str(json.loads(summary.read_text()).get("source") or video)).name
        except (OSError, ValueError, AttributeError):
            pass
    out = []
    for track, g in rows.groupby("track", sort=True):
        g = g.sort_values("timestamp")
        step = max(1, len(g) // max_points)  # long videos: every step-th row keeps the SVG small
        g = g.iloc[::step]
        t = g["timestamp"].to_numpy(float)
        track_id = str(int(track)) if float(track).is_integer() else str(track)
        prob_svg = au_svg = None
        top = None
        if probs:
            means = g[probs].mean()
            top = str(means.idxmax())[2:] if means.notna().any() else None
            prob_svg = timeline_chart(t, {c[2:]: g[c].to_numpy(float) for c in probs}, ylabel="probability",
                                      title=f"expression probabilities of track {track_id}", ylim=(0, 1),
                                      colours={c[2:]: label_colour(c[2:]) for c in probs})
        if aus:
            strongest = g[aus].mean().sort_values(ascending=False).index[:key_aus]
            au_svg = timeline_chart(t, {c: g[c].to_numpy(float) for c in strongest}, ylabel="AU intensity (0–5)",
                                    title=f"strongest AUs of track {track_id}", ylim=(0, 5))
        segs = [s for s in segments if str(s.get("track")) == track_id]
        out.append(TrackTimeline(video, track_id, float(t[-1] - t[0]) if len(t) else 0.0, int(len(g) * step),
                                 top, prob_svg, au_svg, segs))
    return out


def report_html(folder: str | os.PathLike[str], *, max_images: int = MAX_IMAGES, title: str | None = None) -> str:
    """The report of a results folder, as HTML text.

    Raises:
        ReportError: the folder holds no image results and no video runs.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"{folder}: not a folder")
    items = [(p, a) for p, a in _result_files(folder)]
    results, kept = [], []
    for item in items:
        r = _read_result(item[0])
        if r is not None:
            results.append(r)
            kept.append(item)
    timelines = [tl for run in _video_folders(folder) for tl in video_timelines(run)]
    failures: list[dict[str, str]] = []
    summary_path = folder / "summary.json"
    if summary_path.is_file():
        try:
            failures = list(json.loads(summary_path.read_text()).get("failed") or [])
        except (OSError, ValueError, AttributeError):
            failures = []
    if not results and not timelines and not failures:
        raise ReportError(f"{folder}: no ferx results found (expected per-image JSON from `ferx analyze`, "
                          "or rows.csv from a video run)")
    shown = results[:max_images]
    faces = sum(len(r.faces) for r in results)
    subtitle = f"{folder.resolve()} · {len(results)} image(s), {faces} face(s)"
    if len(results) > max_images:
        subtitle += f" · the first {max_images} shown in full, all listed in the table"
    if timelines:
        subtitle += f" · {len(timelines)} video track(s)"
    return build_report(_entries(kept[:max_images], shown), title=title or f"ferx report — {folder.name}",
                        subtitle=subtitle, failures=failures, timelines=timelines, extra_rows=results[max_images:])


def write_report(folder: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, *,
                 max_images: int = MAX_IMAGES) -> Path:
    """Write the report of a results folder (default: FOLDER/report.html, atomically); returns its path."""
    target = Path(out) if out is not None else Path(folder) / REPORT_NAME
    atomic_write_text(target, report_html(folder, max_images=max_images))
    return target


def report_for_batch(out: str | os.PathLike[str]) -> Path:
    """What `ferx analyze ... --report` calls once the batch has finished: OUT/report.html."""
    return write_report(out)


def report_for_results(results: list[tuple[FrameResult, np.ndarray | None]], *, title: str = "ferx report") -> str:
    """A report of in-memory results (the web service's POST /v1/report)."""
    faces = sum(len(r.faces) for r, _ in results)
    return build_report((ReportEntry(r, img) for r, img in results), title=title,
                        subtitle=f"{len(results)} image(s), {faces} face(s)")


__all__ = ["MAX_IMAGES", "REPORT_NAME", "ReportError", "report_for_batch", "report_for_results", "report_html",
           "video_timelines", "write_report"]
