"""Reports from what ferx wrote, in any of its output layouts (found through `ferx.runs.layout`): a
`ferx analyze` photos folder (per-image JSON, annotated/, summary.json, its ledger), a video run folder
(rows.csv or rows.parquet, segments.jsonl), a `ferx batch` dataset (faces/ and errors/ Parquet), or a
folder holding such runs one level down.

Which JSON file belongs to which image comes from the photos ledger (`.ferx-batch/done.jsonl`, which
also names the annotated image); without one, every `*.json` that parses as a FrameResult is taken. A
dataset's photos are rebuilt from its rows (`TableLayout.results`), its videos become timelines. The
face crops and heatmaps need the analysed image: it is read again from the result's `source` when that
file still exists with the same size; otherwise the report shows the annotated image if there is one
and says what is missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ferx.errors import FerxError
from ferx.fsutil import atomic_write_text
from ferx.report.html import OPEN_UP_TO, ReportEntry, TrackTimeline, VideoEntry, build_report
from ferx.runs.layout import DATASET, PHOTOS, SEGMENTS, VIDEO, dataset_files, find_runs, photo_ledger, read_summary
from ferx.types import FrameResult
from ferx.video.plots import MIN_TRACK_S, analysed_span

REPORT_NAME = "report.html"
#: Images shown in full by default; the summary table lists the faces of all of them.
MAX_IMAGES = 500
_SKIP_JSON = {"summary.json", "run.json"}


class ReportError(FerxError):
    """The folder holds no ferx results to report on."""


#: (JSON file, annotated image or None, the image's absolute path when known) per analysed image
_Item = tuple[Path, Path | None, Path | None]


def _result_files(folder: Path) -> list[_Item]:
    """One `_Item` per analysed image, in ledger order (else by name). The ledger's key is the image's
    absolute path: a `source` given relative to where the analysis ran is found from anywhere."""
    done = photo_ledger(folder)
    if done is not None:
        out = []
        for d in done:
            if d.get("json_file"):
                annotated = folder / d["annotated_file"] if d.get("annotated_file") else None
                origin = Path(d["key"]) if isinstance(d.get("key"), str) and Path(d["key"]).is_absolute() else None
                out.append((folder / d["json_file"], annotated, origin))
        return out
    return [(p, None, None) for p in sorted(folder.rglob("*.json"))
            if p.name not in _SKIP_JSON and PHOTOS.state not in p.parts and DATASET.state not in p.parts]


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


def _source_image(result: FrameResult, origin: Path | None = None) -> np.ndarray | None:
    """The analysed image read again from its source path (or `origin`, its absolute path when the
    source was given relative to another folder), if it is still there and the same size."""
    from ferx.io import load_image

    path = Path(result.source)
    if not path.is_file() and origin is not None:
        path = origin
    if not path.is_file():
        return None
    try:
        image = load_image(path)
    except FerxError:
        return None
    return image if image.shape[:2] == (result.height, result.width) else None


def _entries(items: list[_Item], results: list[FrameResult]) -> Iterator[ReportEntry]:
    from PIL import Image

    for (_, annotated_path, origin), result in zip(items, results):
        annotated = None
        if annotated_path is not None and annotated_path.is_file():
            try:
                with Image.open(annotated_path) as im:
                    annotated = im.convert("RGB")
            except OSError:
                annotated = None
        yield ReportEntry(result, _source_image(result, origin), annotated)


def _rows_of(run: Path) -> Any:
    """A video run's rows (CSV or Parquet) as a DataFrame."""
    import pandas as pd

    csv_rows, parquet_rows = (run / name for name in VIDEO.rows)
    return pd.read_csv(csv_rows) if csv_rows.is_file() else pd.read_parquet(parquet_rows)


def _segments(run: Path) -> list[dict[str, Any]]:
    segments: list[dict[str, Any]] = []
    seg_path = run / SEGMENTS
    if seg_path.is_file():
        for line in seg_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                segments.append(json.loads(line))
            except ValueError:
                continue
    return segments


def video_entry(run: Path) -> VideoEntry:
    """A video run folder as the report shows it: its tracks (charts for those a reader can use), an
    overview of all of them, and how long it was (also when no face was found in it)."""
    summary = read_summary(run)
    video = Path(str(summary.get("source") or run.name)).name
    skip, marks = _grading(summary.get("analyzer"))
    entry = video_of(_rows_of(run), video, _segments(run), skip_aus=skip, au_marks=marks)
    return replace(entry, ended=_ended(summary))


def _ended(summary: dict[str, Any]) -> str | None:
    """How a video run that did not complete ended, in a sentence (None: it completed)."""
    status, failed = summary.get("status"), summary.get("failed_frames") or []
    parts = []
    if status and status != "complete":
        why = summary.get("stopped") or summary.get("reason") or summary.get("signal")
        parts.append(f"The run ended {status}" + (f": {why}" if why else "") + ".")
    if failed:
        parts.append(f"{len(failed)} frame(s) could not be read and have no rows.")
    return " ".join(parts) or None


def _grading(analyzer: dict[str, Any] | None) -> tuple[list[str], dict[str, str]]:
    """For the recorded analyzer's AU estimator: the AUs it cannot measure reliably, and the mark a
    weak or ungraded AU carries where it is listed (`bars.GRADE_MARKS`); none known: none."""
    from ferx.facs import profile_of
    from ferx.report.bars import GRADE_MARKS
    from ferx.stages import PipelineInfo

    if not analyzer:
        return [], {}
    info = PipelineInfo.from_dict(analyzer)
    grading = profile_of(info.au_profile)
    units = {c: u for c in info.au_codes or () if (u := grading.unit(c)) is not None}
    return ([c for c, u in units.items() if not u.measured],
            {c: GRADE_MARKS[u.reliability] for c, u in units.items() if u.measured and u.reliability in GRADE_MARKS})


def video_of(rows: Any, video: str, segments: Sequence[dict[str, Any]] = (), *, key_aus: int = 5,
             max_points: int = 1500, min_track_s: float = MIN_TRACK_S, skip_aus: Sequence[str] = (),
             au_marks: Mapping[str, str] | None = None) -> VideoEntry:
    """One video's rows (ferx's one table) as a VideoEntry; AUs in `skip_aus` (not measured reliably)
    are neither charted nor listed as a track's top AUs, and a top AU in `au_marks` carries its mark
    (" · weak")."""
    from ferx.report.charts import overview_chart

    rows = rows.drop(columns=[c for c in skip_aus if c in rows])
    frames = int(rows["frame"].nunique()) if "frame" in rows else len(rows)
    t_all = rows["timestamp"].to_numpy(float) if "timestamp" in rows and len(rows) else np.zeros(0)
    seconds = float(np.nanmax(t_all) - np.nanmin(t_all)) if len(t_all) else 0.0
    entry = VideoEntry(video, frames, seconds)
    if "track" not in rows or rows.empty:
        return entry
    tracked = rows[rows["track"].notna()]
    overview = []
    for track, g in tracked.groupby("track", sort=True):
        g = g.sort_values("timestamp")
        t = g["timestamp"].to_numpy(float)
        track_id = str(int(track)) if float(track).is_integer() else str(track)
        labels = g["label"].to_numpy(object) if "label" in g else np.full(len(g), None, object)
        overview.append((f"#{track_id}", t, labels))
        segs = [s for s in segments if str(s.get("track")) == track_id]
        entry.tracks.append(_track(g, video, track_id, segs, draw=t[-1] - t[0] >= min_track_s, key_aus=key_aus,
                                   max_points=max_points, au_marks=au_marks or {}))
    if overview:
        entry.overview = overview_chart(overview, f"tracks of {video} over time", analysed_span(t_all))
    return entry


def _track(g: Any, video: str, track_id: str, segments: list[dict[str, Any]], *, draw: bool, key_aus: int,
           max_points: int, au_marks: Mapping[str, str]) -> TrackTimeline:
    """One track's figures (charts only when `draw`: long enough to read)."""
    from ferx.report.charts import label_colour, timeline_chart

    probs = [c for c in g.columns if c.startswith("p_")]
    aus = [c for c in g.columns if c.startswith("AU") and not c.endswith("_rel")]
    t_all = g["timestamp"].to_numpy(float)
    top, confidence, top_aus = None, float("nan"), ()
    if probs:
        means = g[probs].mean()
        if means.notna().any():
            top, confidence = str(means.idxmax())[2:], float(means.max())
    if aus:
        strongest = g[aus].mean().sort_values(ascending=False)
        top_aus = tuple(str(c) + au_marks.get(str(c), "") for c, v in strongest.items() if v >= 1.0)[:3]
    prob_svg = au_svg = None
    if draw:
        step = max(1, len(g) // max_points)  # long videos: every step-th row keeps the SVG small
        sub = g.iloc[::step]
        t = sub["timestamp"].to_numpy(float)
        if probs:
            prob_svg = timeline_chart(t, {c[2:]: sub[c].to_numpy(float) for c in probs}, ylabel="probability",
                                      title=f"expression probabilities of track {track_id}", ylim=(0, 1),
                                      colours={c[2:]: label_colour(c[2:]) for c in probs})
        if aus:
            strongest_cols = g[aus].mean().sort_values(ascending=False).index[:key_aus]
            au_svg = timeline_chart(t, {c: sub[c].to_numpy(float) for c in strongest_cols},
                                    ylabel="AU intensity (0–5)", title=f"strongest AUs of track {track_id}",
                                    ylim=(0, 5))
    return TrackTimeline(video, track_id, float(t_all[-1] - t_all[0]) if len(t_all) else 0.0, len(g), top,
                         prob_svg, au_svg, segments, confidence, top_aus)


def _dataset(folder: Path) -> tuple[list[FrameResult], list[VideoEntry], list[dict[str, str]]]:
    """A `ferx batch` dataset: its photos rebuilt from their rows, its videos as timelines, its errors."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ferx.stages import PipelineInfo
    from ferx.table import TableLayout

    faces = [pq.read_table(p) for p in dataset_files(folder, DATASET.rows[0])]
    errors = [pq.read_table(p) for p in dataset_files(folder, DATASET.errors or "errors")]
    failures = [{"source": r["source"], "error": r["error"], "message": r["message"]}
                for t in errors for r in t.to_pylist()]
    if not faces:
        return [], [], failures
    rows = pa.concat_tables(faces).to_pandas()
    analyzer = read_summary(folder / DATASET.state, "run.json").get("analyzer")  # what the rows were made with
    profile = PipelineInfo.from_dict(analyzer).au_profile if analyzer else None
    layout = TableLayout.of_columns(rows.columns)
    results = layout.results(rows[rows["kind"] == "image"], au_profile=profile)
    skip, marks = _grading(analyzer)
    videos = [video_of(g, Path(str(source)).name, skip_aus=skip, au_marks=marks)
              for source, g in rows[rows["kind"] == "video"].groupby("source", sort=True)]
    return results, videos, failures


def _unfinished(summary: dict[str, Any]) -> str:
    """The subtitle's words for a `ferx analyze` run that did not finish: how it ended and what it never
    reached (a recheck found a report of a run stopped during its videos silent on 20 photos)."""
    status = summary.get("status")
    # finished (a truncated video is said in its own section): nothing to add
    if status in (None, "complete", "truncated") or "videos" not in summary and "pending" not in summary:
        return ""
    if status == "running":  # still going, or killed: its counts are the start's, so none are quoted
        return " · the run has not finished (summary.json says running)"
    inputs = "input(s)" if "engine" in summary else "photo(s)"  # a `ferx batch` dataset counts inputs
    left = [f"{n} {what} not reached" for n, what in ((int(summary.get("pending") or 0), inputs),
                                                     (int(summary.get("videos_pending") or 0), "video(s)")) if n]
    how = f"{status} ({summary['signal']})" if summary.get("signal") else str(status)
    return f" · the run ended {how}" + (": " + ", ".join(left) if left else "")


def report_html(folder: str | os.PathLike[str], *, max_images: int = MAX_IMAGES, title: str | None = None) -> str:
    """The report of a results folder, as HTML text.

    Raises:
        ReportError: the folder holds no image results and no video runs.
    """
    folder = Path(folder)
    if not folder.exists():
        raise ReportError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise ReportError(f"{folder}: not a folder (give the output folder of `ferx analyze` or `ferx batch`)")
    runs = find_runs(folder)
    results: list[FrameResult] = []
    kept: list[_Item] = []
    failures: list[dict[str, str]] = []
    if runs.photos is not None:
        for item in _result_files(runs.photos):
            r = _read_result(item[0])
            if r is not None:
                results.append(r)
                kept.append(item)
        summary = read_summary(runs.photos)
        failures = list(summary.get("failed") or [])
        # videos that could not be opened have no folder of their own: the run's summary lists them
        failures += [{"source": v.get("source", "?"), "error": v.get("error", ""), "message": v.get("message", "")}
                     for v in summary.get("videos") or [] if isinstance(v, dict) and v.get("status") == "failed"]
    videos = [video_entry(run) for run in runs.videos]
    for dataset in runs.datasets:
        images, dataset_videos, errors = _dataset(dataset)
        results += images
        kept += [(Path(r.source), None, None) for r in images]
        videos += dataset_videos
        failures += errors
    if not results and not videos and not failures:
        raise ReportError(f"{folder}: no ferx results found (expected per-image JSON from `ferx analyze`, "
                          f"rows from a video run, or a `ferx batch` dataset){_unfinished(read_summary(folder))}")
    shown = results[:max_images]
    faces = sum(len(r.faces) for r in results)
    subtitle = f"{folder.resolve()} · {len(results)} image(s), {faces} face(s)"
    if len(results) > max_images:
        subtitle += f" · the first {max_images} shown in full, all listed in the table"
    if videos:
        subtitle += f" · {len(videos)} video(s), {sum(len(v.tracks) for v in videos)} track(s)"
    subtitle += _unfinished(read_summary(folder))
    return build_report(_entries(kept[:max_images], shown), title=title or f"ferx report — {folder.name}",
                        subtitle=subtitle, failures=failures, videos=videos, extra_rows=results[max_images:],
                        open_sections=len(shown) + len(videos) <= OPEN_UP_TO)


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
           "video_entry", "video_of", "write_report"]
