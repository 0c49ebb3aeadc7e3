"""The HTML report: one self-contained file that opens offline.

Everything is inline — images as data: URLs, charts as SVG (`ferx.report.charts`), the style sheet
and the few lines of script that sort and filter the summary table — so the file can be mailed,
archived or opened from a USB stick. Nothing is fetched: a test checks that no `src`/`href` points
outside the file.

Layout: a summary table of every face (sortable, filterable, each row a link to its face), then one
section per image — the annotated image, then per face its expression probabilities, AU intensities
(grouped by region, bands A–E, unreliable estimates marked), chain of thought and the two heatmaps
side by side on the face crop — then, for video results, per-track timelines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np
from PIL import Image

from ferx import __version__
from ferx.facs import AUProfile, profile_of
from ferx.report import charts
from ferx.report.views import data_url, face_views, fit_within
from ferx.types import FrameResult

#: Longest side of an annotated image embedded in the report (keeps the file small).
ANNOTATED_MAX_SIDE = 1024


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
    """One video track's curves for the report (built by `ferx.report.build` from rows.csv)."""

    video: str
    track: str
    seconds: float
    frames: int
    top_label: str | None
    probability_chart: str | None  # inline SVG
    au_chart: str | None  # inline SVG
    segments: list[dict[str, Any]] = field(default_factory=list)


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
    return "–" if p is None or not math.isfinite(p) else f"{100 * p:.0f} %"


def face_anchor(image_no: int, face_no: int) -> str:
    return f"img{image_no}-face{face_no}"


def face_name(result: FrameResult, face_no: int) -> str:
    """How the report names a face: "SOURCE — face K" (K from 1)."""
    return f"{result.source} — face {face_no + 1}"


# -- sections --------------------------------------------------------------------------------------
def summary_rows(entries: Iterable[tuple[int, FrameResult]]) -> list[dict[str, Any]]:
    """One dict per face for the summary table."""
    rows = []
    for n, result in entries:
        faces = result.faces
        expl = faces.explanations or (None,) * len(faces)
        for k in range(len(faces)):
            e = expl[k]
            top = []
            if faces.aus is not None:  # strongest active AUs among those measured reliably
                measured = np.array([i.measured for i in au_info(faces.au_codes, faces.au_profile)])
                values = np.where(measured, np.nan_to_num(faces.aus[k], nan=-1), -1)
                top = [faces.au_codes[j] for j in np.argsort(-values)[:3] if values[j] >= 1.0]
            rows.append({
                "anchor": face_anchor(n, k), "source": result.source, "face": k + 1,
                "label": faces.labels[k] or "", "confidence": float(np.nan_to_num(faces.confidences[k])),
                "au_label": "" if e is None else e.au_label,
                "agrees": "" if e is None or e.agreement is None else ("yes" if e.agreement else "no"),
                "top_aus": " ".join(top), "caveats": "" if e is None else ", ".join(e.caveats),
            })
    return rows


def render_summary_table(rows: list[dict[str, Any]], failures: Sequence[dict[str, str]] = ()) -> str:
    labels = sorted({r["label"] for r in rows if r["label"]})
    head = [("source", "image"), ("face", "face"), ("label", "label"), ("confidence", "confidence"),
            ("au_label", "AU evidence"), ("agrees", "agrees"), ("top_aus", "top AUs"), ("caveats", "caveats")]
    out = ['<section id="summary" aria-labelledby="summary-h"><h2 id="summary-h">All faces</h2>']
    out.append(
        '<div class="filters" role="search">'
        '<label>Filter <input id="f-text" type="search" placeholder="image name, AU, caveat…"></label> '
        '<label>Label <select id="f-label"><option value="">all</option>'
        + "".join(f'<option value="{escape(lab)}">{escape(lab)}</option>' for lab in labels)
        + '</select></label> <label><input id="f-disagree" type="checkbox"> classifier and AU evidence disagree</label>'
        f' <span id="f-count" aria-live="polite">{len(rows)} face(s)</span></div>'
    )
    out.append('<table id="faces-table"><thead><tr>')
    for key, title in head:
        kind = "num" if key in ("face", "confidence") else "text"
        out.append(f'<th scope="col" aria-sort="none"><button type="button" data-key="{key}" data-kind="{kind}">'
                   f'{escape(title)}</button></th>')
    out.append("</tr></thead><tbody>")
    for r in rows:
        attrs = " ".join(f'data-{k.replace("_", "-")}="{escape(str(r[k]))}"' for k, _ in head)
        colour = charts.label_colour(r["label"] or None)
        out.append(
            f"<tr {attrs}>"
            f'<td><a href="#{r["anchor"]}">{escape(r["source"])}</a></td><td>{r["face"]}</td>'
            f'<td><span class="swatch" style="background:{colour}"></span>{escape(r["label"])}</td>'
            f'<td>{_pct(r["confidence"])}</td><td>{escape(r["au_label"])}</td><td>{escape(r["agrees"])}</td>'
            f'<td>{escape(r["top_aus"])}</td><td>{escape(r["caveats"])}</td></tr>'
        )
    out.append("</tbody></table>")
    if failures:
        out.append(f'<h3>Not analysed ({len(failures)})</h3><ul class="failures">')
        out.extend(f"<li><b>{escape(f.get('source', '?'))}</b>: {escape(f.get('message', ''))}</li>" for f in failures)
        out.append("</ul>")
    out.append("</section>")
    return "".join(out)


def render_entry(n: int, entry: ReportEntry) -> str:
    """The section of one image: annotated image, then each face."""
    from ferx.annotate import annotate

    result = entry.result
    faces = result.faces
    out = [f'<section class="image" id="img{n}" aria-labelledby="img{n}-h">'
           f'<h2 id="img{n}-h">{escape(result.source)}</h2>'
           f'<p class="meta">{result.width}×{result.height} px · {len(faces)} face(s)'
           + (f" · frame {result.index}" if result.index else "")
           + (f" · {result.timestamp:.2f} s" if result.timestamp is not None else "") + "</p>"]
    if result.notes:
        out.append('<ul class="notes">' + "".join(f"<li>{escape(s)}</li>" for s in result.notes) + "</ul>")
    annotated = entry.annotated
    if annotated is None and entry.image is not None:
        annotated = annotate(entry.image, result)
    if annotated is not None:
        shown = fit_within(annotated.convert("RGB"), ANNOTATED_MAX_SIDE)
        out.append(f'<img class="annotated" src="{data_url(shown, "JPEG", quality=85)}" '
                   f'width="{shown.width}" height="{shown.height}" alt="{escape(result.source)} with '
                   f'{len(faces)} face(s) marked">')
    else:
        out.append('<p class="missing">The image itself was not found, so it and the face crops are not shown.</p>')
    infos = au_info(faces.au_codes, faces.au_profile)
    for k in range(len(faces)):
        out.append(render_face(n, k, result, entry.image, infos))
    out.append("</section>")
    return "".join(out)


def render_face(n: int, k: int, result: FrameResult, image: np.ndarray | None, infos: list[AUInfo]) -> str:
    faces = result.faces
    label = faces.labels[k]
    colour = charts.label_colour(label)
    title = f"Face {k + 1}: {label} {_pct(float(faces.confidences[k]))}" if label else f"Face {k + 1}"
    x1, y1, x2, y2 = (round(float(v)) for v in faces.boxes[k])
    out = [(f'<article class="face" id="{face_anchor(n, k)}" aria-labelledby="{face_anchor(n, k)}-h" '
            f'style="border-left-color:{colour}">'
            f'<h3 id="{face_anchor(n, k)}-h">{escape(title)}</h3>'
            f'<p class="meta">{escape(face_name(result, k))} · box ({x1}, {y1})–({x2}, {y2}) · '
            f'detection {float(faces.scores[k]):.2f}</p><div class="face-body"><div class="col">')]
    if faces.expression is not None and np.isfinite(faces.expression[k]).any():
        out.append('<figure><figcaption>Expression probabilities</figcaption>'
                   + charts.expression_chart(faces.expression_labels, faces.expression[k],
                                             f"expression probabilities of face {k + 1}") + "</figure>")
    out.append(render_views(image, result, k))
    e = faces.explanations[k] if faces.explanations is not None else None
    out.append(render_explanation(e))
    out.append('</div><div class="col">')
    if faces.aus is not None:
        unreliable = [i.code for i in infos if not i.measured]
        caption = "AU intensities by region (FACS bands A–E)"
        out.append(f"<figure><figcaption>{caption}</figcaption>"
                   + charts.au_chart([i.code for i in infos], [i.name for i in infos], [i.region for i in infos],
                                     faces.aus[k], [i.measured for i in infos], f"AU intensities of face {k + 1}")
                   + (f'<p class="small">Hatched grey: {", ".join(unreliable)} cannot be measured reliably by '
                      "this estimator; their values are neither presence nor absence.</p>" if unreliable else "")
                   + "</figure>")
    out.append("</div></div></article>")
    return "".join(out)


def render_views(image: np.ndarray | None, result: FrameResult, k: int) -> str:
    if image is None:
        return ""
    views = face_views(image, result.faces, k)
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
        body = (f'<img src="{data_url(img, "JPEG", quality=88)}" width="{img.width}" height="{img.height}" alt="{escape(alt)}">'
                if img is not None else f'<div class="empty">{escape(alt)}</div>')
        out.append(f"<figure>{body}<figcaption>{escape(caption)}</figcaption></figure>")
    out.append("</div>")
    return "".join(out)


def render_explanation(e: Any) -> str:
    if e is None:
        return '<p class="small">No chain of thought for this face (no AUs measured, or no explain stage).</p>'
    head = (f"Conclusion: <b>{escape(e.label)}</b> {_pct(e.probability)} ({escape(e.label_source)}); "
            f"AU evidence alone: <b>{escape(e.au_label)}</b>")
    if e.classifier_label is not None:
        head += f"; classifier: <b>{escape(e.classifier_label)}</b> {_pct(e.classifier_probability)}"
        head += " — they agree" if e.agreement else " — they <b>disagree</b>"
    paras = "".join(f"<p>{escape(p)}</p>" for p in e.text.split("\n") if p.strip())
    caveats = (f'<p class="caveats">Caveats: {escape(", ".join(e.caveats))}</p>' if e.caveats else "")
    notes = "".join(f'<p class="small">{escape(s)}</p>' for s in e.notes)
    return (f'<details class="cot" open><summary>Chain of thought</summary><p class="small">{head}</p>'
            f'<div class="cot-text">{paras}</div>{caveats}{notes}</details>')


def render_timelines(timelines: Sequence[TrackTimeline]) -> str:
    if not timelines:
        return ""
    out = ['<section id="video" aria-labelledby="video-h"><h2 id="video-h">Video tracks</h2>']
    for tl in timelines:
        out.append(f'<article class="track"><h3>{escape(tl.video)} — track {escape(tl.track)}</h3>'
                   f'<p class="meta">{tl.frames} frame(s) over {tl.seconds:.1f} s'
                   + (f" · mostly {escape(tl.top_label)}" if tl.top_label else "") + "</p>")
        for svg in (tl.probability_chart, tl.au_chart):
            if svg:
                out.append(f"<figure>{svg}</figure>")
        if tl.segments:
            out.append("<table><thead><tr><th>from</th><th>to</th><th>label</th><th>explanation</th></tr></thead><tbody>")
            for s in tl.segments:
                out.append(f"<tr><td>{float(s.get('start', 0)):.2f} s</td><td>{float(s.get('end', 0)):.2f} s</td>"
                           f"<td>{escape(str(s.get('label') or ''))}</td>"
                           f"<td>{escape(str(s.get('explanation') or ''))}</td></tr>")
            out.append("</tbody></table>")
        out.append("</article>")
    out.append("</section>")
    return "".join(out)


def render_document(title: str, body_parts: Iterable[str], *, subtitle: str = "") -> str:
    """The whole page around already rendered sections."""
    body = "".join(body_parts)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<meta name=\"generator\" content=\"ferx {escape(__version__)}\">"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<header><h1>{escape(title)}</h1><p class="meta">{escape(subtitle)}</p></header><main>'
        f"{body}</main><footer><p class=\"small\">Made by ferx {escape(__version__)}. AU values are estimates from "
        "MediaPipe blendshapes and landmark geometry, not certified FACS codes.</p></footer>"
        f"<script>{_JS}</script></body></html>\n"
    )


def build_report(
    entries: Iterable[ReportEntry],
    *,
    title: str = "ferx report",
    subtitle: str = "",
    failures: Sequence[dict[str, str]] = (),
    timelines: Sequence[TrackTimeline] = (),
    extra_rows: Sequence[FrameResult] = (),
) -> str:
    """The report for `entries` (rendered one at a time, so that only their HTML stays in memory).

    Args:
        entries: the images to show in full.
        failures: inputs that could not be analysed ({"source", "message"}).
        timelines: video tracks.
        extra_rows: further results listed in the summary table only (beyond a detail limit).
    """
    sections, results = [], []
    for n, entry in enumerate(entries):
        sections.append(render_entry(n, entry))
        results.append((n, _light(entry.result)))
    start = len(results)
    results += [(start + i, _light(r)) for i, r in enumerate(extra_rows)]
    rows = summary_rows(results)
    parts = [render_summary_table(rows, failures) if (rows or failures or not timelines) else ""]
    parts += sections
    parts.append(render_timelines(timelines))
    return render_document(title, parts, subtitle=subtitle)


def _light(result: FrameResult) -> FrameResult:
    """The result without landmarks and maps (the table needs neither; frees memory)."""
    from dataclasses import replace

    return replace(result, faces=result.faces.with_fields(landmarks=None, expression_maps=None))


_CSS = """
:root{--ink:#1d1d1f;--muted:#5f6368;--line:#d9d9de;--bg:#fff;--panel:#f6f7f9;--accent:#2459a6}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
header,main,footer{max-width:1200px;margin:0 auto;padding:0 16px}h1{font-size:1.6em;margin:18px 0 2px}
h2{font-size:1.25em;margin:28px 0 6px;border-bottom:1px solid var(--line);padding-bottom:4px;overflow-wrap:anywhere}
h3{font-size:1.05em;margin:6px 0}.meta,.small{color:var(--muted);font-size:.88em;margin:2px 0 8px}
a{color:var(--accent)}a:focus,button:focus,input:focus,select:focus,summary:focus{outline:3px solid #f0b400;outline-offset:2px}
table{border-collapse:collapse;width:100%;font-size:.9em}th,td{border-bottom:1px solid var(--line);padding:4px 6px;text-align:left;vertical-align:top}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;color:var(--ink)}
th[aria-sort=ascending] button::after{content:" ▲"}th[aria-sort=descending] button::after{content:" ▼"}
td a{overflow-wrap:anywhere}.filters{display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin:8px 0}
.swatch{display:inline-block;width:.8em;height:.8em;border:1px solid #555;margin-right:4px;vertical-align:-1px}
img.annotated{max-width:100%;height:auto;border:1px solid var(--line)}
.face{border-left:6px solid #ccc;background:var(--panel);padding:8px 12px;margin:12px 0;border-radius:4px}
.face-body{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:20px;align-items:start}
@media (max-width:800px){.face-body{grid-template-columns:minmax(0,1fr)}}figure{margin:0}figcaption{font-size:.85em;color:var(--muted)}
figure svg{max-width:100%;height:auto}.views{display:flex;flex-wrap:wrap;gap:12px;margin:10px 0}
.views img,.views .empty{width:160px;height:160px;display:block;border:1px solid var(--line);image-rendering:auto}
.views .empty{display:flex;align-items:center;justify-content:center;text-align:center;font-size:.8em;color:var(--muted);background:#fff;padding:6px}
.views figcaption{max-width:160px}.cot summary{cursor:pointer;font-weight:600}.cot-text p{margin:4px 0}
.caveats{color:#8a4b00;font-size:.9em}.notes{color:var(--muted);font-size:.9em}.missing{color:#8a4b00}
.failures li{overflow-wrap:anywhere}tr[hidden]{display:none}
"""

# Sorting and filtering of the summary table: plain DOM code, no library.
_JS = r"""
(function(){
  var table=document.getElementById('faces-table'); if(!table) return;
  var body=table.tBodies[0], rows=Array.prototype.slice.call(body.rows);
  var text=document.getElementById('f-text'), label=document.getElementById('f-label'),
      dis=document.getElementById('f-disagree'), count=document.getElementById('f-count');
  function filter(){
    var q=(text.value||'').toLowerCase(), l=label.value, n=0;
    rows.forEach(function(r){
      var hay=(r.dataset.source+' '+r.dataset.topAus+' '+r.dataset.caveats+' '+r.dataset.label+' '+r.dataset.auLabel).toLowerCase();
      var show=(!q||hay.indexOf(q)>=0)&&(!l||r.dataset.label===l)&&(!dis.checked||r.dataset.agrees==='no');
      r.hidden=!show; if(show) n++;
    });
    count.textContent=n+' face(s)';
  }
  [text,label,dis].forEach(function(el){el.addEventListener('input',filter);el.addEventListener('change',filter);});
  table.querySelectorAll('th button').forEach(function(btn){
    btn.addEventListener('click',function(){
      var th=btn.parentNode, key=btn.dataset.key.replace(/_(.)/g,function(m,c){return c.toUpperCase();});
      var dir=th.getAttribute('aria-sort')==='ascending'?'descending':'ascending', num=btn.dataset.kind==='num';
      table.querySelectorAll('th').forEach(function(h){h.setAttribute('aria-sort','none');});
      th.setAttribute('aria-sort',dir);
      rows.sort(function(a,b){
        var x=a.dataset[key], y=b.dataset[key], c=num?(parseFloat(x)-parseFloat(y)):x.localeCompare(y,undefined,{numeric:true});
        return dir==='ascending'?c:-c;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
})();
"""

__all__ = ["ReportEntry", "TrackTimeline", "au_info", "build_report", "face_anchor", "face_name", "render_document"]
