"""Timeline plots per track: expression probabilities and key AUs over time (PNG and SVG).

Read back from the rows file written during the run (only the needed columns, one track at a
time), so the analysis itself keeps no history. Long videos are averaged into at most
`max_points` bins per curve (a 3-hour video still draws in seconds and reads clearly).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from ferx.annotate import LABEL_COLOURS
from ferx.fsutil import atomic_write_bytes


def _read_rows(path: Path, columns: list[str] | None = None) -> Any:
    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path, columns=columns)
    return pd.read_csv(path, usecols=columns)


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


def plot_timelines(rows_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, key_aus: int = 6,
                   max_points: int = 3000, title: str | None = None) -> list[Path]:
    """One figure per track (`timeline-track<ID>.png` and `.svg`): expression probabilities on top,
    the track's most active AUs below, x = seconds. Returns the files written (atomically)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows_path, out_dir = Path(rows_path), Path(out_dir)
    if rows_path.suffix == ".parquet":
        import pyarrow.parquet as pq

        header = pq.read_schema(rows_path).names
    else:
        import pandas as pd

        header = list(pd.read_csv(rows_path, nrows=0).columns)
    prob_cols = [c for c in header if c.startswith("p_")]
    au_cols = [c for c in header if c.startswith("AU") and not c.endswith("_rel")]
    df = _read_rows(rows_path, ["timestamp", "track"] + prob_cols + au_cols)
    df = df[df["track"].notna()]
    written: list[Path] = []
    for tid, g in df.groupby("track", sort=True):
        tid = int(tid)
        t = g["timestamp"].to_numpy(np.float64)
        fig, axes = plt.subplots(2 if au_cols else 1, 1, figsize=(11, 5.5 if au_cols else 3), sharex=True,
                                 squeeze=False)
        ax = axes[0, 0]
        if prob_cols:
            tb, pv = _bin(t, g[prob_cols].to_numpy(np.float64), max_points)
            for j, c in enumerate(prob_cols):
                lab = c[2:]
                colour = np.array(LABEL_COLOURS.get(lab, (120, 120, 120))) / 255
                ax.plot(tb, pv[:, j], label=lab, color=colour, lw=1.3)
            ax.set_ylim(0, 1)
            ax.set_ylabel("probability")
            ax.legend(loc="upper right", ncol=4, fontsize=7, frameon=False)
        ax.set_title(title or f"track {tid}: {t[0]:.1f}–{t[-1]:.1f} s, {len(t)} frames", fontsize=10)
        if au_cols:
            av = g[au_cols].to_numpy(np.float64)
            order = np.argsort(-np.nanmean(np.nan_to_num(av), axis=0))[:key_aus]
            tb, avb = _bin(t, av[:, order], max_points)
            ax2 = axes[1, 0]
            for j, k in enumerate(order):
                ax2.plot(tb, avb[:, j], label=au_cols[k], lw=1.1)
            ax2.axhline(1.0, color="grey", lw=0.6, ls=":")
            ax2.set_ylim(0, 5)
            ax2.set_ylabel("AU intensity (0–5)")
            ax2.legend(loc="upper right", ncol=key_aus, fontsize=7, frameon=False)
        axes[-1, 0].set_xlabel("time (s)")
        fig.tight_layout()
        for ext in ("png", "svg"):
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, dpi=110)
            target = out_dir / f"timeline-track{tid}.{ext}"
            atomic_write_bytes(target, buf.getvalue())
            written.append(target)
        plt.close(fig)
    return written


__all__ = ["plot_timelines"]
