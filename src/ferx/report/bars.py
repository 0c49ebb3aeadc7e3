"""Bar charts of one face as plain HTML: expression probabilities and AU intensities.

Why HTML and not matplotlib SVG (what the report drew before issue 24): two SVG charts per face cost
0.5 s and 44 kB each way, so a report of 300 photos took 48 s and 23 MB, six times the analysis.
A bar is a `<span>` whose width is the value; the numbers are text (read by screen readers, found by
the browser's search, copied with the table). The web page draws the same bars (`serve/static`).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np

from ferx.annotate import LABEL_COLOURS
from ferx.facs import BAND_EDGES, intensity_band
from ferx.numeric import percent, shown_intensity

#: Face regions in the order a reader scans a face, top to bottom.
REGION_ORDER = ("brows", "eyes", "cheeks", "nose", "mouth", "lips", "chin", "jaw")
_MISSING_COLOUR = (255, 255, 255)


def label_colour(label: str | None) -> str:
    """The CSS colour of an expression label (the annotated images' palette)."""
    return "#{:02x}{:02x}{:02x}".format(*LABEL_COLOURS.get(label, LABEL_COLOURS.get(None, _MISSING_COLOUR)))


def _pct(p: float) -> str:
    return "–" if not np.isfinite(p) else f"{percent(p)} %"


def expression_bars(labels: Sequence[str], probabilities: np.ndarray, title: str) -> str:
    """The probabilities as bars, the top label first."""
    p = np.asarray(probabilities, np.float64)
    order = np.argsort(-np.nan_to_num(p, nan=-1.0), kind="stable")
    rows = []
    for j in order:
        v = float(p[j])
        width = 0.0 if not np.isfinite(v) else 100 * min(max(v, 0.0), 1.0)
        rows.append(f'<span class="n">{escape(labels[j])}</span><span class="b"><i style="width:{width:.1f}%;'
                    f'background:{label_colour(labels[j])}"></i></span><span class="v">{_pct(v)}</span>')
    return f'<div class="bars" role="group" aria-label="{escape(title)}">{"".join(rows)}</div>'


def band(value: float) -> str:
    """The FACS intensity band (A–E) of a value, or "" below band A (`facs.intensity_band`)."""
    return intensity_band(value) or ""


def region_rank(regions: Sequence[str], region: str) -> int:
    if region in REGION_ORDER:
        return REGION_ORDER.index(region)
    return len(REGION_ORDER) + list(dict.fromkeys(regions)).index(region)


#: How an AU's name is marked by its estimate's grade: good and fair are unmarked (the report's note says so).
GRADE_MARKS = {"weak": " · weak", "ungraded": " · not validated", "unreliable": " (unreliable)"}


def au_bars(codes: Sequence[str], names: Sequence[str], regions: Sequence[str], values: np.ndarray,
            measured: Sequence[bool], title: str, grades: Sequence[str | None] | None = None) -> str:
    """AU intensities on the FACS 0–5 scale as bars, grouped by face region, the band edges marked
    (`.au .b` draws them); AUs the estimator cannot measure reliably are hatched grey and marked
    "(unreliable)": their value is neither presence nor absence. With `grades`, a weak or ungraded
    estimate is marked on its name too (`GRADE_MARKS`): a reader sees which bars to trust less."""
    order = sorted(range(len(codes)), key=lambda j: (region_rank(regions, regions[j]), j))
    rows, last = [], None
    for j in order:
        if regions[j] != last:
            rows.append(f'<span class="r">{escape(regions[j])}</span>')
            last = regions[j]
        v = float(values[j])
        ok = bool(measured[j])
        grade = grades[j] if grades is not None else (None if ok else "unreliable")
        name = f"{codes[j]} {names[j]}" + GRADE_MARKS.get(grade or "", "" if ok else " (unreliable)")
        width = 0.0 if not np.isfinite(v) else 100 * min(max(v, 0.0), 5.0) / 5.0
        text = "–" if not np.isfinite(v) else f"{shown_intensity(v)} {band(v)}".rstrip()
        cls = "" if ok else " u"
        rows.append(f'<span class="n{cls}">{escape(name)}</span><span class="b{cls}"><i style="width:{width:.1f}%">'
                    f'</i></span><span class="v{cls}">{text}</span>')
    return f'<div class="bars au" role="group" aria-label="{escape(title)}">{"".join(rows)}</div>'


def _band_ticks() -> str:
    """A CSS background with a 1-px tick at each band edge of the 0–5 scale."""
    stops = []
    for edge in BAND_EDGES:
        at = f"{100 * edge / 5:g}%"
        stops.append(f"transparent calc({at} - 1px),#bbb calc({at} - 1px),#bbb {at},transparent {at}")
    return f"linear-gradient(90deg,{','.join(stops)}),#eceef2"


#: The bars' style: a three-column grid (name, bar, value); the band edges as ticks on AU bars.
CSS = (
    ".bars{display:grid;grid-template-columns:max-content minmax(80px,1fr) 3.6em;gap:2px 8px;align-items:center;"
    "font-size:.85em;margin:4px 0 10px}.bars .b{position:relative;height:.8em;background:#eceef2;border-radius:2px}"
    ".bars .b i{position:absolute;left:0;top:0;bottom:0;background:#4a7ab5;border-radius:2px}"
    ".bars .v{text-align:right;font-variant-numeric:tabular-nums}"
    ".bars .r{grid-column:1/-1;font-weight:600;margin-top:4px}"
    f".au .b{{background:{_band_ticks()}}}"
    ".bars .u{color:#8a8a8a}.bars .b.u i{background:repeating-linear-gradient(45deg,#ccc 0 3px,#eee 3px 6px)}"
)

__all__ = ["CSS", "REGION_ORDER", "au_bars", "band", "expression_bars", "label_colour", "region_rank"]
