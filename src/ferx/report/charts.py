"""Charts as inline SVG, drawn with matplotlib (imported here only: the report is its one user).

Figures are built with `matplotlib.figure.Figure` and its SVG canvas, not pyplot: pyplot keeps
global state and is not safe when the web service builds reports in several threads. Text stays
text in the SVG (`svg.fonttype: none`), so the files are small and the labels searchable. Each chart
gets its own `svg.hashsalt`: matplotlib derives the SVG element ids from it, and two inline SVGs
with the same ids would share clip paths. Those settings live in matplotlib's global rcParams
(`rc_context` sets and restores them), so one lock serialises chart drawing: two threads entering
and leaving rc_context out of order would leave the wrong settings behind.
"""

from __future__ import annotations

import io
import itertools
import re
import threading
from collections.abc import Sequence

import numpy as np

from ferx.annotate import LABEL_COLOURS
from ferx.facs import BAND_EDGES, BANDS

_ids = itertools.count()
_RC_LOCK = threading.Lock()
_GREY = "#9a9a9a"
_INK = "#222222"


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _svg(fig: object, title: str) -> str:
    """The figure as an <svg> element (no XML prolog), with a <title> for screen readers."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")  # type: ignore[attr-defined]
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    from html import escape

    return text.replace(">", f' role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>', 1)


def _figure(width: float, height: float) -> tuple[object, object]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=72)
    return fig, fig.add_subplot(111)


def _style(ax: object) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)  # type: ignore[attr-defined]
    ax.tick_params(colors=_INK, labelsize=9)  # type: ignore[attr-defined]


def expression_chart(labels: Sequence[str], probabilities: np.ndarray, title: str = "expression probabilities") -> str:
    """Horizontal bars of the expression probabilities, the top label first."""
    import matplotlib

    order = np.argsort(-np.nan_to_num(probabilities, nan=-1.0))
    with _RC_LOCK, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"ferx-{next(_ids)}"}):
        fig, ax = _figure(3.6, 0.24 * len(labels) + 0.5)
        names = [labels[j] for j in order][::-1]
        values = [float(np.nan_to_num(probabilities[j])) for j in order][::-1]
        colours = [_hex(LABEL_COLOURS.get(n, LABEL_COLOURS[None])) for n in names]
        ax.barh(names, values, color=colours, edgecolor=_INK, linewidth=0.4)
        for y, v in enumerate(values):
            ax.text(min(v, 1.0) + 0.01, y, f"{100 * v:.0f} %", va="center", fontsize=8, color=_INK)
        ax.set_xlim(0, 1.15)
        ax.set_xticks([0, 0.5, 1.0], ["0", "50 %", "100 %"])
        _style(ax)
        return _svg(fig, title)


def au_chart(
    codes: Sequence[str],
    names: Sequence[str],
    regions: Sequence[str],
    values: np.ndarray,
    reliable: Sequence[bool],
    title: str = "AU intensities",
) -> str:
    """Horizontal bars of AU intensities on the FACS 0–5 scale, grouped by face region, with the
    bands A–E marked. AUs the estimator cannot measure reliably get a hatched grey bar and
    "(unreliable)" after their name: their value is shown, never to be read as presence or absence."""
    import matplotlib

    order = sorted(range(len(codes)), key=lambda j: (_region_rank(regions, regions[j]), j))
    rows: list[tuple[str, float, bool, str]] = []
    separators: list[tuple[int, str]] = []
    last = None
    for j in order:
        if regions[j] != last:
            separators.append((len(rows), regions[j]))
            last = regions[j]
        label = f"{codes[j]} {names[j]}" + ("" if reliable[j] else " (unreliable)")
        rows.append((label, float(np.nan_to_num(values[j], nan=0.0)), bool(reliable[j]), regions[j]))
    n = len(rows)
    with _RC_LOCK, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"ferx-{next(_ids)}", "hatch.color": _GREY}):
        fig, ax = _figure(4.6, 0.22 * (n + len(separators)) + 0.7)
        ys, y = [], 0.0
        for k in range(n):
            if any(s == k for s, _ in separators):
                y += 1.0  # room for the region heading
            ys.append(y)
            y += 1.0
        ys = [y - v for v in ys]  # top to bottom
        for (label, v, ok, _), yy in zip(rows, ys):
            ax.barh(yy, v, color="#4a7ab5" if ok else "#dddddd", edgecolor=_INK if ok else _GREY, linewidth=0.4,
                    hatch=None if ok else "///", height=0.75)
            if v >= BAND_EDGES[0]:
                band = BANDS[sum(v >= e for e in BAND_EDGES) - 1]
                ax.text(v + 0.05, yy, band, va="center", fontsize=8, color=_INK if ok else _GREY)
        ax.set_yticks(ys, [r[0] for r in rows], fontsize=8)
        for tick, (_, _, ok, _) in zip(ax.get_yticklabels(), rows):
            tick.set_color(_INK if ok else _GREY)
        for (k, region) in separators:
            ax.text(-0.02, ys[k] + 1.0, region, transform=ax.get_yaxis_transform(), ha="right", va="center",
                    fontsize=8.5, fontweight="bold", color=_INK)
        for edge, band in zip(BAND_EDGES, BANDS):
            ax.axvline(edge, color="#cccccc", linewidth=0.6, zorder=0)
            ax.text(edge + 0.05, 1.0, band, transform=ax.get_xaxis_transform(), fontsize=8, color="#777777", va="bottom")
        ax.set_xlim(0, 5.3)
        ax.set_ylim(min(ys) - 0.7, max(ys) + 1.5)
        ax.set_xlabel("intensity (0–5); bands A–E", fontsize=8, color=_INK)
        _style(ax)
        return _svg(fig, title)


def _region_rank(regions: Sequence[str], region: str) -> int:
    preferred = ("brows", "eyes", "cheeks", "nose", "mouth", "lips", "chin", "jaw")
    return preferred.index(region) if region in preferred else len(preferred) + list(dict.fromkeys(regions)).index(region)


def timeline_chart(
    t: np.ndarray, series: dict[str, np.ndarray], *, ylabel: str, title: str, ylim: tuple[float, float] | None = None,
    colours: dict[str, str] | None = None,
) -> str:
    """Lines over time (seconds), one per series; gaps (NaN) stay gaps."""
    import matplotlib

    with _RC_LOCK, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"ferx-{next(_ids)}"}):
        fig, ax = _figure(7.5, 2.2)
        for name, values in series.items():
            colour = (colours or {}).get(name)
            ax.plot(t, values, label=name, linewidth=1.2, color=colour)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.legend(fontsize=7, ncol=min(4, max(1, len(series))), loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        _style(ax)
        return _svg(fig, title)


def label_colour(label: str | None) -> str:
    """The CSS colour of an expression label (the annotated images' palette)."""
    return _hex(LABEL_COLOURS.get(label, LABEL_COLOURS[None]))


__all__ = ["au_chart", "expression_chart", "label_colour", "timeline_chart"]
