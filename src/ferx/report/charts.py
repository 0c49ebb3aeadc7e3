"""The report's video charts as inline SVG, drawn with matplotlib (imported here only): a track's
curves over time, and a video's overview of every track. A face's bars are HTML (`ferx.report.bars`).

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
from html import escape

import numpy as np

from ferx.report.bars import label_colour
from ferx.video.plots import DASHED, draw_overview

_ids = itertools.count()
_RC_LOCK = threading.Lock()
_INK = "#222222"


def _svg(fig: object, title: str) -> str:
    """The figure as an <svg> element (no XML prolog), with a <title> for screen readers."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")  # type: ignore[attr-defined]
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    return text.replace(">", f' role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>', 1)


def _figure(width: float, height: float) -> tuple[object, object]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=72)
    return fig, fig.add_subplot(111)


def _style(ax: object) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)  # type: ignore[attr-defined]
    ax.tick_params(colors=_INK, labelsize=9)  # type: ignore[attr-defined]


def _context() -> object:
    import matplotlib

    return matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"ferx-{next(_ids)}"})


def timeline_chart(
    t: np.ndarray, series: dict[str, np.ndarray], *, ylabel: str, title: str, ylim: tuple[float, float] | None = None,
    colours: dict[str, str] | None = None,
) -> str:
    """Lines over time (seconds), one per series; gaps (NaN) stay gaps. The y range gets 8 % headroom
    and the legend sits right of the axes, so a curve at the top of the scale stays visible."""
    with _RC_LOCK, _context():
        fig, ax = _figure(7.5, 2.2)
        for name, values in series.items():
            colour = (colours or {}).get(name)
            ax.plot(t, values, label=name, linewidth=1.2, color=colour, linestyle="--" if name in DASHED else "-")
        if ylim is not None:
            pad = 0.08 * (ylim[1] - ylim[0])
            ax.set_ylim(ylim[0] - pad / 4, ylim[1] + pad)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        _style(ax)
        return _svg(fig, title)


def overview_chart(tracks: list[tuple[str, np.ndarray, np.ndarray]], title: str,
                   span: tuple[float, float] | None = None) -> str:
    """Every track of a video as a row of spans coloured by its label over time (`video.plots`), on
    the time axis `span` (`video.plots.analysed_span`)."""
    with _RC_LOCK, _context():
        fig, ax = _figure(7.5, 0.8 + 0.2 * len(tracks))
        draw_overview(ax, tracks, span)
        _style(ax)
        return _svg(fig, title)


__all__ = ["label_colour", "overview_chart", "timeline_chart"]
