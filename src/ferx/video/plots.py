"""Timeline plots of a video run (PNG and SVG): one overview of every track, and per track long enough
to read (≥ MIN_TRACK_S) its expression probabilities and key AUs over time.

Read back from the rows file written during the run (only the needed columns), so the analysis itself
keeps no history. Long videos are averaged into at most `max_points` bins per curve.

Why not one figure per track (what ferx drew before issue 24): a 9-s clip with audience shots had 30
tracks, most a few frames long; 60 files that nobody can read took longer to draw than the analysis
(17.5 s against 8.0 s). Every track is in the overview, as coloured spans of its label over time;
the curves are drawn for the tracks that last. The probability axis has headroom above 1.0 and the
legends sit outside the axes, so a curve at 1.0 is neither on the frame nor under a legend; labels
whose colours are close (the two blues, the two yellows) differ by line style.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ferx.annotate import LABEL_COLOURS
from ferx.fsutil import atomic_write_bytes

#: Shortest track (first to last frame, seconds) that gets its own timeline figure.
MIN_TRACK_S = 1.0
#: Labels drawn dashed: their colours are close to another label's (sadness/surprise, contempt/happiness).
DASHED = frozenset({"sadness", "contempt"})
_DPI = 100


def _read_rows(path: Path, columns: list[str]) -> Any:
    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path, columns=columns)
    return pd.read_csv(path, usecols=columns)


def _header(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    import pandas as pd

    return list(pd.read_csv(path, nrows=0).columns)


def _bin(t: np.ndarray, values: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    if len(t) <= max_points:
        return t, values
    edges = np.linspace(t[0], t[-1], max_points + 1)
    idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, max_points - 1)
    counts = np.bincount(idx, minlength=max_points).astype(np.float64)
    ok = counts > 0
    tb = np.bincount(idx, weights=t, minlength=max_points)[ok] / counts[ok]
    cols = [np.bincount(idx, weights=np.nan_to_num(values[:, j]), minlength=max_points)[ok] / counts[ok]
            for j in range(values.shape[1])]
    return tb, np.column_stack(cols) if cols else np.zeros((ok.sum(), 0))


def colour(label: str | None) -> tuple[float, float, float]:
    r, g, b = LABEL_COLOURS.get(label, (120, 120, 120))
    return (r / 255, g / 255, b / 255)


def draw_probabilities(ax: Any, t: np.ndarray, probs: np.ndarray, labels: list[str]) -> None:
    """Expression probabilities over time: headroom above 1, the legend right of the axes."""
    for j, lab in enumerate(labels):
        ax.plot(t, probs[:, j], label=lab, color=colour(lab), lw=1.4, ls="--" if lab in DASHED else "-")
    ax.set_ylim(-0.02, 1.08)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_ylabel("probability")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)


def draw_aus(ax: Any, t: np.ndarray, aus: np.ndarray, codes: list[str]) -> None:
    """AU intensities over time (FACS 0–5), band A marked, the legend right of the axes."""
    for j, code in enumerate(codes):
        ax.plot(t, aus[:, j], label=code, lw=1.1)
    ax.axhline(1.0, color="grey", lw=0.6, ls=":")
    ax.set_ylim(-0.1, 5.4)
    ax.set_ylabel("AU intensity (0–5)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)


def analysed_span(timestamps: np.ndarray) -> tuple[float, float] | None:
    """The time axis of an overview: from the first analysed frame to the end of the last (its
    timestamp plus one frame step, the width of its bar); None without a frame. `timestamps`: those
    of every row, frames without a face included (each has a row without a track)."""
    t = np.unique(timestamps[np.isfinite(timestamps)])
    if not len(t):
        return None
    step = float(np.median(np.diff(t))) if len(t) > 1 else 0.04
    return float(t[0]), float(t[-1]) + step


def draw_overview(ax: Any, tracks: list[tuple[str, np.ndarray, np.ndarray]],
                  span: tuple[float, float] | None = None) -> None:
    """Every track as a row of spans coloured by its label over time: (name, timestamps, labels).

    `span`: the time axis (`analysed_span`); without it the axis covers only the tracks, so a face
    that appears late would seem to be there from the start."""
    from matplotlib.patches import Patch

    seen: dict[str, None] = {}
    for row, (_, t, labels) in enumerate(tracks):
        if not len(t):
            continue
        step = float(np.median(np.diff(t))) if len(t) > 1 else 0.04
        ends = np.append(t[1:], t[-1] + step)
        gaps = ends - t > 3 * step  # the track was not seen in between: no span across the gap
        ends[gaps] = t[gaps] + step
        start = 0
        for i in range(1, len(t) + 1):  # one bar per run of the same label
            if i == len(t) or labels[i] != labels[start] or gaps[i - 1]:
                lab = labels[start] if isinstance(labels[start], str) else None
                seen[str(lab)] = None
                ax.broken_barh([(t[start], ends[i - 1] - t[start])], (row - 0.4, 0.8), color=colour(lab), lw=0)
                start = i
    ax.set_yticks(range(len(tracks)), [name for name, _, _ in tracks], fontsize=7)
    ax.set_ylim(len(tracks) - 0.5, -0.5)
    if span is not None:
        ax.set_xlim(*span)
    ax.set_xlabel("time (s)")
    handles = [Patch(color=colour(None if lab == "None" else lab), label="no label" if lab == "None" else lab)
               for lab in seen]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)


def prepare() -> threading.Thread:
    """Make matplotlib ready in a background thread (daemon): a video run calls this when it starts,
    so that the import (~0.6 s in a fresh process) and the first draw's set-up (fonts, text layout:
    the first figure of a process costs ~0.4 s more than the next) overlap the analysis, whose models
    release the GIL, instead of adding to the run's end. Join the thread before drawing: it draws a
    throw-away figure of its own. Returns the thread."""

    def warm() -> None:
        try:
            from matplotlib.figure import Figure

            fig = Figure(figsize=(2, 1))
            ax = fig.subplots()
            ax.plot([0, 1], [0, 1], label="neutral", ls="--")
            ax.broken_barh([(0, 1)], (0, 1))
            ax.set_title("t", fontsize=9)
            ax.legend(fontsize=7)
            for ext in ("png", "svg"):
                fig.savefig(io.BytesIO(), format=ext, dpi=_DPI)
        except Exception:  # noqa: BLE001 - plot_timelines draws again and reports any real error there
            pass

    thread = threading.Thread(target=warm, name="ferx-plots-warm-up", daemon=True)
    thread.start()
    return thread


def _layout(fig: Any, left: float = 0.8, right: float = 1.3) -> None:
    """Fixed margins in inches (room for tick labels left, legends right of the axes): the layout a
    tight bounding box would find, without the extra draw that measuring it costs (a fifth of the
    timelines' time)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - 0.4 / h, bottom=0.5 / h)


def _save(fig: Any, stem: Path) -> list[Path]:
    written = []
    for ext in ("png", "svg"):
        buf = io.BytesIO()
        # zlib level 1 instead of 6: these line plots compress nearly as well, in half the time
        fig.savefig(buf, format=ext, dpi=_DPI, **({"pil_kwargs": {"compress_level": 1}} if ext == "png" else {}))
        target = stem.with_name(f"{stem.name}.{ext}")
        atomic_write_bytes(target, buf.getvalue())
        written.append(target)
    return written


def _track_figure(tid: int, g: Any, prob_cols: list[str], au_cols: list[str], key_aus: int, max_points: int,
                  title: str | None) -> Any:
    from matplotlib.figure import Figure

    t = g["timestamp"].to_numpy(np.float64)
    fig = Figure(figsize=(10, 5.2 if au_cols else 2.8))
    axes = fig.subplots(2 if au_cols else 1, 1, sharex=True, squeeze=False)
    if prob_cols:
        tb, pv = _bin(t, g[prob_cols].to_numpy(np.float64), max_points)
        draw_probabilities(axes[0, 0], tb, pv, [c[2:] for c in prob_cols])
    axes[0, 0].set_title(title or f"track {tid}: {t[0]:.1f}–{t[-1]:.1f} s, {len(t)} frames", fontsize=10)
    if au_cols:
        av = g[au_cols].to_numpy(np.float64)
        order = np.argsort(-np.nanmean(np.nan_to_num(av), axis=0))[:key_aus]
        tb, avb = _bin(t, av[:, order], max_points)
        draw_aus(axes[1, 0], tb, avb, [au_cols[k] for k in order])
    axes[-1, 0].set_xlabel("time (s)")
    _layout(fig)
    fig.subplots_adjust(hspace=0.25)
    return fig


def plot_timelines(rows_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, key_aus: int = 6,
                   max_points: int = 1500, min_track_s: float = MIN_TRACK_S, title: str | None = None,
                   skip_aus: Iterable[str] = ()) -> list[Path]:
    """`timeline-overview.png/.svg` (every track's label over time) and, per track lasting at least
    `min_track_s`, `timeline-track<ID>.png/.svg` (probabilities on top, the track's most active AUs
    below, never those in `skip_aus`: AUs the estimator cannot measure reliably). Returns the files
    written (atomically); none when no track was seen."""
    from matplotlib.figure import Figure

    rows_path, out_dir = Path(rows_path), Path(out_dir)
    header = _header(rows_path)
    prob_cols = [c for c in header if c.startswith("p_")]
    skipped = set(skip_aus)
    au_cols = [c for c in header if c.startswith("AU") and not c.endswith("_rel") and c not in skipped]
    extra = ["label"] if "label" in header else []
    df = _read_rows(rows_path, ["timestamp", "track", *extra, *prob_cols, *au_cols])
    span = analysed_span(df["timestamp"].to_numpy(np.float64))  # before the rows without a face go
    df = df[df["track"].notna()]
    written: list[Path] = []
    overview: list[tuple[str, np.ndarray, np.ndarray]] = []
    for tid, g in df.groupby("track", sort=True):
        g = g.sort_values("timestamp")
        t = g["timestamp"].to_numpy(np.float64)
        labels = g["label"].to_numpy(object) if extra else np.full(len(g), None, object)
        overview.append((f"#{int(tid)}", t, labels))
        if t[-1] - t[0] >= min_track_s:
            fig = _track_figure(int(tid), g, prob_cols, au_cols, key_aus, max_points, title)
            written += _save(fig, out_dir / f"timeline-track{int(tid)}")
    if overview:
        fig = Figure(figsize=(10, 1.0 + 0.22 * len(overview)))
        ax = fig.subplots()
        draw_overview(ax, overview, span)
        ax.set_title(f"{len(overview)} track(s); curves drawn for the {len(written) // 2} lasting at least "
                     f"{min_track_s:g} s", fontsize=9)
        _layout(fig, left=0.6)
        written = _save(fig, out_dir / "timeline-overview") + written
    return written


__all__ = ["DASHED", "MIN_TRACK_S", "analysed_span", "colour", "draw_aus", "draw_overview", "draw_probabilities",
           "plot_timelines", "prepare"]
