"""The HTML report: one self-contained file that opens offline.

Everything is inline — images as data: URLs, bars as HTML (`ferx.report.bars`), video timelines as SVG
(`ferx.report.charts`), the style sheet and the few lines of script that sort and filter the summary
table — so the file can be mailed, archived or opened from a USB stick. Nothing is fetched: a test
checks that no `src`/`href` points outside the file.

Layout: a summary table of everything analysed (sortable, filterable, each row a link): every face,
every image without a face, every video track and every video without a face; then one collapsible
section per image — a small annotated image, then per face its expression probabilities, AU
intensities (grouped by region, bands A–E, unreliable estimates marked), chain of thought and the two
heatmaps beside the face crop — then, for videos, an overview and the tracks a reader can use.

Light enough for 1,000 photos (issue 24; 300 photos took 48 s and 23 MB, 390,000 px tall): bars are
HTML, pictures are small JPEGs (annotated image ≤ ANNOTATED_MAX_SIDE, views VIEW_SIZE), and the
image sections of a report of more than OPEN_UP_TO images start closed (a link to a face opens its
section), so the browser lays out only what is read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from html import escape
from typing import Any

import numpy as np
from PIL import Image

from ferx import __version__
from ferx.facs import AUProfile, profile_of
from ferx.numeric import percent
from ferx.report import bars
from ferx.report.views import data_url, face_views, fit_within
from ferx.types import Faces, FrameResult

#: Longest side of an annotated image embedded in the report.
ANNOTATED_MAX_SIDE = 480
#: How the annotated image and the face views are encoded: WebP (every current browser shows it) is
#: half the size of JPEG at the same quality here (8 kB against 16 kB for a 320-px annotated photo),
#: for 5 ms more per image at method 2.
PICTURE = ("WEBP", {"quality": 75, "method": 2})
#: Side of the face crop and heatmaps in the report.
VIEW_SIZE = 128
#: Reports of at most this many images show every image section open; larger ones start closed.
OPEN_UP_TO = 12


@dataclass
class ReportEntry:
    """One analysed image to show.

    Attributes:
        result: its analysis.
        image: the analysed (H, W, 3) uint8 RGB image, for the face crops and heatmaps (and the
            annotated image when `annotated` is None); None when it is not available.
        annotated: a ready annotated image (e.g. the batch's annotated/ file), or None to draw one.
    """

    result: FrameResult
    image: np.ndarray | None = None
    annotated: Image.Image | None = None


@dataclass
class TrackTimeline:
    """One video track for the report (built by `ferx.report.build` from a video's rows)."""

    video: str
    track: str
    seconds: float
    frames: int
    top_label: str | None
    probability_chart: str | None  # inline SVG (only for tracks long enough to read, else None)
    au_chart: str | None  # inline SVG
    segments: list[dict[str, Any]] = field(default_factory=list)
    confidence: float = math.nan  # mean probability of top_label
    top_aus: tuple[str, ...] = ()  # the strongest AUs on average, at band A or above


@dataclass
class VideoEntry:
    """One video: its tracks (charts for those long enough to read) and an overview of all of them;
    a video in which no face was found is listed too."""

    name: str
    frames: int
    seconds: float
    tracks: list[TrackTimeline] = field(default_factory=list)
    overview: str | None = None  # inline SVG: every track's label over time
    ended: str | None = None  # how a run that did not complete ended (truncated, interrupted, …), said in the report


@dataclass(frozen=True)
class AUInfo:
    """What the report says about one AU column (from the AU table when it knows the code)."""

    code: str
    name: str
    region: str
    reliability: str | None  # a grade from ferx.facs when the table has one
    measured: bool  # False: the estimator cannot measure it reliably


def au_info(codes: Sequence[str], profile: AUProfile | None = None) -> list[AUInfo]:
    """AU metadata for result columns. The reliability grade is the AU estimator's
    (`Faces.au_profile`, default the mesh's) where the FACS table knows the code; a code outside
    it counts as measured."""
    profile = profile_of(profile)
    out = []
    for code in codes:
        au = profile.unit(code)
        if au is None:
            out.append(AUInfo(code, code, "other", None, True))
            continue
        grade = getattr(au, "reliability", None)
        measured = bool(getattr(au, "measured", grade != "unreliable"))
        out.append(AUInfo(code, au.name, au.region, grade, measured))
    return out


def _pct(p: float | None) -> str:
    return "–" if p is None or not math.isfinite(p) else f"{percent(p)} %"


def face_anchor(image_no: int, face_no: int) -> str:
    return f"img{image_no}-face{face_no}"


def face_name(result: FrameResult, face_no: int) -> str:
    """How the report names a face: "SOURCE — face K", K from 0 as in the rows, the JSON and the CLI."""
    return f"{result.source} — face {face_no}"


def track_anchor(video_no: int, track: str) -> str:
    return f"video{video_no}-track{track}"


# -- the summary table -----------------------------------------------------------------------------
def _top_aus(result: FrameResult, k: int) -> list[str]:
    """The strongest active AUs of face k among those measured reliably, a weak or ungraded one
    marked as its bar is ("AU43 · not validated")."""
    faces = result.faces
    if faces.aus is None:
        return []
    infos = au_info(faces.au_codes, faces.au_profile)
    values = np.where([i.measured for i in infos], np.nan_to_num(faces.aus[k], nan=-1), -1)
    return [faces.au_codes[j] + bars.GRADE_MARKS.get(infos[j].reliability or "", "")
            for j in np.argsort(-values)[:3] if values[j] >= 1.0]


def final_label(faces: Faces, k: int) -> tuple[str | None, float]:
    """Face k's label and probability as its text concludes them (`Faces.final_label`): the report's
    table, headings and titles say what the chain of thought says (a tryout found "surprise 30 %" in
    the table above a text concluding "uncertain between neutral and surprise")."""
    label, probability, _ = faces.final_label(k)
    return label, probability


def _row(anchor: str, source: str, face: str, label: str, confidence: float = math.nan, au_label: str = "",
         agrees: str = "", top_aus: str = "", caveats: str = "") -> dict[str, Any]:
    return {"anchor": anchor, "source": source, "face": face, "label": label, "confidence": confidence,
            "au_label": au_label, "agrees": agrees, "top_aus": top_aus, "caveats": caveats}


def summary_rows(entries: Iterable[tuple[int, FrameResult]]) -> list[dict[str, Any]]:
    """One dict per face for the summary table, and one per image without a face."""
    rows = []
    for n, result in entries:
        faces = result.faces
        if not len(faces):
            rows.append(_row(f"img{n}", result.source, "–", "no face", caveats="; ".join(result.notes)))
            continue
        expl = faces.explanations or (None,) * len(faces)
        for k in range(len(faces)):
            e = expl[k]
            label, probability = final_label(faces, k)
            rows.append(_row(
                face_anchor(n, k), result.source, str(k), label or "", probability,
                "" if e is None else e.au_label,
                "" if e is None or e.agreement is None else ("yes" if e.agreement else "no"),
                ", ".join(_top_aus(result, k)), "" if e is None else ", ".join(e.caveats)))
    return rows


def video_rows(videos: Sequence[VideoEntry]) -> list[dict[str, Any]]:
    """One row per video track, and one per video without a face."""
    rows = []
    for v, video in enumerate(videos):
        if not video.tracks:
            rows.append(_row(f"video{v}", video.name, "–", "no face",
                             caveats=f"no face in {video.frames} frame(s), {video.seconds:.1f} s"))
        for t in video.tracks:
            rows.append(_row(track_anchor(v, t.track), video.name, f"track {t.track}", t.top_label or "",
                             t.confidence, top_aus=", ".join(t.top_aus),
                             caveats=f"{t.frames} frame(s), {t.seconds:.1f} s"))
    return rows


_HEAD = (("source", "image or video"), ("face", "face / track"), ("label", "label"), ("confidence", "probability"),
         ("au_label", "AU evidence"), ("agrees", "agrees"), ("top_aus", "top AUs"), ("caveats", "notes"))


def render_summary_table(rows: list[dict[str, Any]], failures: Sequence[dict[str, str]] = ()) -> str:
    labels = sorted({r["label"] for r in rows if r["label"]})
    faces = sum(1 for r in rows if r["face"] not in ("–",) and not r["face"].startswith("track"))
    out = ['<section id="summary" aria-labelledby="summary-h"><h2 id="summary-h">Everything analysed</h2>'
           '<div class="filters" role="search">'
           '<label>Filter <input id="f-text" type="search" placeholder="name, AU12, caveat…"></label> '
           '<label>Label <select id="f-label"><option value="">all</option>'
           + "".join(f'<option value="{escape(lab)}">{escape(lab)}</option>' for lab in labels)
           + '</select></label> <label><input id="f-disagree" type="checkbox"> classifier and AU evidence disagree'
           f'</label> <span id="f-count" aria-live="polite">{len(rows)} row(s), {faces} face(s)</span></div>'
           '<table id="faces-table"><thead><tr>']
    for key, title in _HEAD:
        kind = "num" if key == "confidence" else "text"
        out.append(f'<th scope="col" aria-sort="none"><button type="button" data-key="{key}" data-kind="{kind}">'
                   f'{escape(title)}</button></th>')
    out.append("</tr></thead><tbody>")
    for r in rows:
        attrs = " ".join(f'data-{k.replace("_", "-")}="{escape(str(r[k]))}"' for k, _ in _HEAD)
        out.append(
            f'<tr {attrs}><td><a href="#{r["anchor"]}">{escape(r["source"])}</a></td><td>{escape(r["face"])}</td>'
            f'<td><span class="swatch" style="background:{bars.label_colour(r["label"] or None)}"></span>'
            f'{escape(r["label"])}</td><td>{_pct(r["confidence"])}</td><td>{escape(r["au_label"])}</td>'
            f'<td>{escape(r["agrees"])}</td><td>{escape(r["top_aus"])}</td><td>{escape(r["caveats"])}</td></tr>')
    out.append("</tbody></table>")
    if failures:
        out.append(f'<h3>Not analysed ({len(failures)})</h3><ul class="failures">')
        out.extend(f"<li><b>{escape(f.get('source', '?'))}</b>: {escape(f.get('message', ''))}</li>" for f in failures)
        out.append("</ul>")
    out.append("</section>")
    return "".join(out)


# -- one image -------------------------------------------------------------------------------------
def render_entry(n: int, entry: ReportEntry, *, open_: bool = True) -> str:
    """The section of one image (collapsible): annotated image, then each face."""
    result = entry.result
    faces = result.faces
    labels = ", ".join(final_label(faces, k)[0] or "face" for k in range(len(faces))) or "no face"
    where = (f" · frame {result.index}" if result.index else "") + (
        f" · {result.timestamp:.2f} s" if result.timestamp is not None else "")
    out = [f'<details class="image" id="img{n}"{" open" if open_ else ""}><summary><h2 id="img{n}-h">'
           f'{escape(result.source)}</h2><span class="meta">{result.width}×{result.height} px{where} · '
           f'{len(faces)} face(s): {escape(labels)}</span></summary>']
    if result.notes:
        out.append('<ul class="notes">' + "".join(f"<li>{escape(s)}</li>" for s in result.notes) + "</ul>")
    out.append(_annotated(entry))
    infos = au_info(faces.au_codes, faces.au_profile)
    for k in range(len(faces)):
        out.append(render_face(n, k, result, entry.image, infos))
    out.append("</details>")
    return "".join(out)


def _annotated(entry: ReportEntry) -> str:
    from ferx.annotate import annotate

    result = entry.result
    annotated = entry.annotated
    if annotated is None and entry.image is not None:
        annotated = annotate(entry.image, result)
    if annotated is None:
        return '<p class="missing">The image itself was not found, so it and the face crops are not shown.</p>'
    shown = fit_within(annotated.convert("RGB"), ANNOTATED_MAX_SIDE)
    return (f'<img class="annotated" src="{data_url(shown, PICTURE[0], **PICTURE[1])}" width="{shown.width}" '
            f'height="{shown.height}" alt="{escape(result.source)} with {len(result.faces)} face(s) marked">')


def render_face(n: int, k: int, result: FrameResult, image: np.ndarray | None, infos: list[AUInfo]) -> str:
    faces = result.faces
    label, probability = final_label(faces, k)  # the conclusion the text reaches
    title = f"Face {k}: {label} {_pct(probability)}" if label else f"Face {k}"
    e = faces.explanations[k] if faces.explanations is not None else None
    if e is not None and label and "uncertain" in e.caveats and e.runner_up is not None:
        title += f" or {e.runner_up} {_pct(e.runner_up_probability)} (uncertain)"
    x1, y1, x2, y2 = (round(float(v)) for v in faces.boxes[k])
    anchor = face_anchor(n, k)
    out = [(f'<article class="face" id="{anchor}" aria-labelledby="{anchor}-h" '
            f'style="border-left-color:{bars.label_colour(label)}"><h3 id="{anchor}-h">{escape(title)}</h3>'
            f'<p class="meta">{escape(face_name(result, k))} · box ({x1}, {y1})–({x2}, {y2}) · '
            f'detection {float(faces.scores[k]):.2f}</p><div class="face-body"><div class="col">')]
    if faces.expression is not None and np.isfinite(faces.expression[k]).any():
        out.append('<h4>Expression probabilities</h4>'
                   + bars.expression_bars(faces.expression_labels, faces.expression[k],
                                          f"expression probabilities of face {k}"))
    out.append(render_views(image, result, k))
    out.append(render_explanation(e))
    out.append('</div><div class="col">')
    if faces.aus is not None:
        unreliable = [i.code for i in infos if not i.measured]
        out.append("<h4>AU intensities by region (FACS bands A–E)</h4>"
                   + bars.au_bars([i.code for i in infos], [i.name for i in infos], [i.region for i in infos],
                                  faces.aus[k], [i.measured for i in infos], f"AU intensities of face {k}",
                                  [i.reliability for i in infos])
                   + '<p class="small">Unmarked: graded good or fair against FACS codes; "weak" and "not validated" '
                     "readings deserve less trust (docs/aus.md).</p>"
                   + (f'<p class="small">Hatched grey: {", ".join(unreliable)} cannot be measured reliably by '
                      "this estimator; their values are neither presence nor absence.</p>" if unreliable else ""))
    out.append("</div></div></article>")
    return "".join(out)


def render_views(image: np.ndarray | None, result: FrameResult, k: int) -> str:
    if image is None:
        return ""
    views = face_views(image, result.faces, k, size=VIEW_SIZE)
    if views is None:
        return '<p class="small">No landmarks for this face: no aligned crop or heatmaps.</p>'
    cells = [("Face crop (as the classifier sees it)", views.crop, "aligned face crop")]
    cells.append((f"Classifier activation map ({views.label})", views.activation,
                  f"classifier activation map for {views.label}") if views.activation is not None
                 else ("Classifier activation map", None, "this classifier gives no activation map"))
    if views.au_regions is not None:
        cells.append((f"AU regions of {views.label}", views.au_regions, f"AU regions of {views.label}"))
    else:
        cells.append(("AU regions", None, f"{views.label or 'this label'} has no AU regions"))
    out = ['<div class="views" role="group" aria-label="heatmaps">']
    for caption, img, alt in cells:
        body = (f'<img src="{data_url(img, PICTURE[0], **PICTURE[1])}" width="{img.width}" height="{img.height}" '
                f'alt="{escape(alt)}">' if img is not None else f'<div class="empty">{escape(alt)}</div>')
        out.append(f"<figure>{body}<figcaption>{escape(caption)}</figcaption></figure>")
    out.append("</div>")
    return "".join(out)


_SOURCE_WORDS = {"combined": "the classifier's probabilities weighed with the AU evidence",
                 "classifier": "the classifier's probabilities"}


def render_explanation(e: Any) -> str:
    if e is None:
        return '<p class="small">No chain of thought for this face (no AUs measured, or no explain stage).</p>'
    # the text's numbers are the decision rule's: shown here, so that every percentage in it can be checked
    source = _SOURCE_WORDS.get(e.label_source, e.label_source)
    second = (f", then {escape(e.runner_up)} {_pct(e.runner_up_probability)}"
              if e.runner_up is not None and e.runner_up_probability is not None else "")
    # " · " between the parts, never a ";" right after a bold label: taken run by run (a screen
    # reader's browse mode, a text extractor) "<b>happiness</b>; classifier" reads "happiness ; classifier"
    head = (f"Conclusion: <b>{escape(e.label)}</b> {_pct(e.probability)}{second} ({escape(source)}) · "
            f"AU evidence alone: <b>{escape(e.au_label)}</b>")
    if e.classifier_label is not None:
        head += f" · classifier: <b>{escape(e.classifier_label)}</b> {_pct(e.classifier_probability)}"
        head += " — they agree" if e.agreement else " — they <b>disagree</b>"
    paras = "".join(f"<p>{escape(p)}</p>" for p in e.text.split("\n") if p.strip())
    caveats = (f'<p class="caveats">Caveats: {escape(", ".join(e.caveats))}</p>' if e.caveats else "")
    notes = "".join(f'<p class="small">{escape(s)}</p>' for s in e.notes)
    return (f'<details class="cot" open><summary>Chain of thought</summary><p class="small">{head}</p>'
            f'<div class="cot-text">{paras}</div>{caveats}{notes}</details>')


# -- videos ----------------------------------------------------------------------------------------
def render_videos(videos: Sequence[VideoEntry], *, open_: bool = True) -> str:
    if not videos:
        return ""
    out = ['<section id="video" aria-labelledby="video-h"><h2 id="video-h">Videos</h2>']
    for v, video in enumerate(videos):
        charted = [t for t in video.tracks if t.probability_chart or t.au_chart]
        out.append(f'<details class="video" id="video{v}"{" open" if open_ else ""}><summary><h3>{escape(video.name)}'
                   f'</h3><span class="meta">{video.frames} frame(s), {video.seconds:.1f} s · '
                   f'{len(video.tracks) or "no"} track(s)</span></summary>')
        if video.ended:  # a cut-short video looked complete in the report
            out.append(f'<p class="caveats">{escape(video.ended)}</p>')
        if video.overview:
            out.append(f"<figure>{video.overview}</figure>")
        for t in video.tracks:
            out.append(_render_track(v, t))
        short = len(video.tracks) - len(charted)
        if short:
            out.append(f'<p class="small">{short} track(s) too short to chart (listed in the table above, '
                       "drawn in the overview).</p>")
        out.append("</details>")
    out.append("</section>")
    return "".join(out)


def _render_track(v: int, t: TrackTimeline) -> str:
    out = [f'<article class="track" id="{track_anchor(v, t.track)}"><h4>track {escape(t.track)}</h4>'
           f'<p class="meta">{t.frames} frame(s) over {t.seconds:.1f} s'
           + (f" · mostly {escape(t.top_label)}" if t.top_label else "") + "</p>"]
    out += [f"<figure>{svg}</figure>" for svg in (t.probability_chart, t.au_chart) if svg]
    if t.segments:
        out.append("<table><thead><tr><th>from</th><th>to</th><th>label</th><th>explanation</th></tr></thead><tbody>")
        for s in t.segments:
            out.append(f"<tr><td>{float(s.get('start', 0)):.2f} s</td><td>{float(s.get('end', 0)):.2f} s</td>"
                       f"<td>{escape(_segment_label(s))}</td>"
                       f"<td>{escape(str(s.get('explanation') or ''))}</td></tr>")
        out.append("</tbody></table>")
    out.append("</article>")
    return "".join(out)


def _segment_label(s: dict[str, Any]) -> str:
    """A segment's label as its explanation concludes it, with its probability, and the label most of its
    frames carry where that differs (a reader saw "happiness" beside a timeline of sadness, with no % to
    trace)."""
    label = str(s.get("label") or "")
    p = s.get("final_probability")
    text = f"{label} {_pct(float(p))}" if label and isinstance(p, (int, float)) else label
    return text + (f" (frames mostly {s['frames_label']})" if s.get("frames_label") else "")


# -- the document ----------------------------------------------------------------------------------
def au_footer(estimators: Sequence[str]) -> str:
    """What the footer says about the AU values: which estimator read them (its calibration names)."""
    if not estimators:
        return "AU values are estimates, not certified FACS codes."
    names = ", ".join(f"“{n}”" for n in estimators)
    return (f"AU values were read by ferx's AU estimator (calibration {names}): per AU, measures chosen and graded "
            "against FACS-coded faces (docs/aus.md); estimates, not certified FACS codes, each with its grade.")


def render_document(title: str, body_parts: Iterable[str], *, subtitle: str = "",
                    estimators: Sequence[str] = ()) -> str:
    """The whole page around already rendered sections."""
    body = "".join(body_parts)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<meta name=\"generator\" content=\"ferx {escape(__version__)}\">"
        f"<title>{escape(title)}</title><style>{_CSS}{bars.CSS}</style></head><body>"
        f'<header><h1>{escape(title)}</h1><p class="meta">{escape(subtitle)}</p></header><main>'
        f"{body}</main><footer><p class=\"small\">Made by ferx {escape(__version__)}. "
        f"{escape(au_footer(estimators))} Faces are numbered from 0, as in the rows and the JSON.</p></footer>"
        f"<script>{_JS}</script></body></html>\n"
    )


def build_report(
    entries: Iterable[ReportEntry],
    *,
    title: str = "ferx report",
    subtitle: str = "",
    failures: Sequence[dict[str, str]] = (),
    videos: Sequence[VideoEntry] = (),
    extra_rows: Sequence[FrameResult] = (),
    open_sections: bool = True,
) -> str:
    """The report for `entries` (rendered one at a time, so that only their HTML stays in memory).

    Args:
        entries: the images to show in full.
        failures: inputs that could not be analysed ({"source", "message"}).
        videos: the videos, with their tracks.
        extra_rows: further results listed in the summary table only (beyond a detail limit).
        open_sections: image and video sections start open (callers close them above OPEN_UP_TO).
    """
    sections, results, estimators = [], [], set()
    for n, entry in enumerate(entries):
        sections.append(render_entry(n, entry, open_=open_sections))
        results.append((n, _light(entry.result)))
        entry.image = entry.annotated = None  # rendered: the pictures are no longer needed
    start = len(results)
    results += [(start + i, _light(r)) for i, r in enumerate(extra_rows)]
    estimators |= {r.faces.au_profile.name for _, r in results if r.faces.au_profile is not None}
    rows = summary_rows(results) + video_rows(videos)
    parts = [render_summary_table(rows, failures), *sections, render_videos(videos, open_=open_sections)]
    return render_document(title, parts, subtitle=subtitle, estimators=sorted(estimators))


def _light(result: FrameResult) -> FrameResult:
    """The result without landmarks and maps (the table needs neither; frees memory)."""
    return replace(result, faces=result.faces.with_fields(landmarks=None, expression_maps=None))


_CSS = """
:root{--ink:#1d1d1f;--muted:#5f6368;--line:#d9d9de;--bg:#fff;--panel:#f6f7f9;--accent:#2459a6}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
header,main,footer{max-width:1200px;margin:0 auto;padding:0 16px}h1{font-size:1.6em;margin:18px 0 2px}
h2{font-size:1.2em;margin:0;display:inline;overflow-wrap:anywhere}#summary-h,#video-h{display:block;margin:24px 0 6px}
h3{font-size:1.05em;margin:6px 0}h4{font-size:.9em;margin:8px 0 2px;color:var(--muted)}
.meta,.small{color:var(--muted);font-size:.88em;margin:2px 0 8px}
a{color:var(--accent)}a:focus,button:focus,input:focus,select:focus,summary:focus{outline:3px solid #f0b400;outline-offset:2px}
table{border-collapse:collapse;width:100%;font-size:.9em}th,td{border-bottom:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;color:var(--ink)}
th[aria-sort=ascending] button::after{content:" ▲"}th[aria-sort=descending] button::after{content:" ▼"}
td a{overflow-wrap:anywhere}.filters{display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin:8px 0}
.swatch{display:inline-block;width:.8em;height:.8em;border:1px solid #555;margin-right:4px;vertical-align:-1px}
details.image,details.video{border-bottom:1px solid var(--line);padding:8px 0}
details.image>summary,details.video>summary{cursor:pointer}details>summary .meta{margin-left:8px}
summary h2,summary h3{display:inline;margin:0}
img.annotated{max-width:100%;height:auto;border:1px solid var(--line);display:block;margin:8px 0}
.face{border-left:6px solid #ccc;background:var(--panel);padding:8px 12px;margin:12px 0;border-radius:4px}
.face-body{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:20px;align-items:start}
@media (max-width:800px){.face-body{grid-template-columns:minmax(0,1fr)}}figure{margin:0}figcaption{font-size:.85em;color:var(--muted)}
figure svg{max-width:100%;height:auto}.views{display:flex;flex-wrap:wrap;gap:12px;margin:10px 0}
.views img,.views .empty{width:128px;height:128px;display:block;border:1px solid var(--line)}
.views .empty{display:flex;align-items:center;justify-content:center;text-align:center;font-size:.8em;color:var(--muted);background:#fff;padding:6px}
.views figcaption{max-width:128px}.cot summary{cursor:pointer;font-weight:600}.cot-text p{margin:4px 0}
.caveats{color:#8a4b00;font-size:.9em}.notes{color:var(--muted);font-size:.9em}.missing{color:#8a4b00}
.failures li{overflow-wrap:anywhere}tr[hidden]{display:none}
"""

# Sorting and filtering of the summary table, and opening the section a link points into: plain DOM
# code, no library. A filter word that is an AU code matches that code only ("AU4" is not AU43).
_JS = r"""
(function(){
  function reveal(){
    var id=decodeURIComponent(location.hash.slice(1)), t=id&&document.getElementById(id);
    for(var d=t&&t.closest('details');d;d=d.parentElement&&d.parentElement.closest('details')) d.open=true;
    if(t) t.scrollIntoView();
  }
  window.addEventListener('hashchange',reveal); reveal();
  var table=document.getElementById('faces-table'); if(!table) return;
  var body=table.tBodies[0], rows=Array.prototype.slice.call(body.rows);
  var text=document.getElementById('f-text'), label=document.getElementById('f-label'),
      dis=document.getElementById('f-disagree'), count=document.getElementById('f-count');
  function matches(r,terms){
    var hay=(r.dataset.source+' '+r.dataset.face+' '+r.dataset.topAus+' '+r.dataset.caveats+' '+r.dataset.label+' '+r.dataset.auLabel).toLowerCase();
    var words=hay.split(/[^a-z0-9_]+/);
    return terms.every(function(t){return /^au\d+$/.test(t)?words.indexOf(t)>=0:hay.indexOf(t)>=0;});
  }
  function filter(){
    var terms=(text.value||'').toLowerCase().split(/\s+/).filter(Boolean), l=label.value, n=0;
    rows.forEach(function(r){
      var show=matches(r,terms)&&(!l||r.dataset.label===l)&&(!dis.checked||r.dataset.agrees==='no');
      r.hidden=!show; if(show) n++;
    });
    count.textContent=n+' row(s)';
  }
  [text,label,dis].forEach(function(el){el.addEventListener('input',filter);el.addEventListener('change',filter);});
  table.querySelectorAll('th button').forEach(function(btn){
    btn.addEventListener('click',function(){
      var th=btn.parentNode, key=btn.dataset.key.replace(/_(.)/g,function(m,c){return c.toUpperCase();});
      var dir=th.getAttribute('aria-sort')==='ascending'?'descending':'ascending', num=btn.dataset.kind==='num';
      table.querySelectorAll('th').forEach(function(h){h.setAttribute('aria-sort','none');});
      th.setAttribute('aria-sort',dir);
      rows.sort(function(a,b){
        var x=a.dataset[key], y=b.dataset[key];
        var c=num?((parseFloat(x)||-1)-(parseFloat(y)||-1)):x.localeCompare(y,undefined,{numeric:true});
        return dir==='ascending'?c:-c;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
})();
"""

__all__ = ["ANNOTATED_MAX_SIDE", "OPEN_UP_TO", "VIEW_SIZE", "AUInfo", "ReportEntry", "TrackTimeline", "VideoEntry",
           "au_footer", "au_info", "build_report", "face_anchor", "face_name", "render_document", "summary_rows",
           "video_rows"]
