"""The timeline plots of a video run (`ferx.video.plots`), and the report's overview that shares them."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ferx.runs.video import VideoOutputs
from ferx.runs.video import run_video as process_video
from ferx.video import plots
from tests.video.conftest import clip


def test_the_overview_spans_the_analysed_frames_so_a_late_face_is_placed_in_time(analyzer, tmp_path, monkeypatch):
    """noface_face.mov: no face, then a face. The overview's time axis covered the tracks' span only,
    so the face that appears late was drawn from the left edge, as if there from the start; it now
    runs from the first to the last analysed frame (the rows hold every frame, a frame without a face
    as one row without a track), in timeline-overview.png/.svg and in the report."""
    from ferx.report import charts
    from ferx.report.build import video_of

    process_video(analyzer, clip("noface_face.mov"), tmp_path, outputs=VideoOutputs(formats=("csv",), timelines=False))
    rows = pd.read_csv(tmp_path / "rows.csv")
    first, last = rows["timestamp"].min(), rows["timestamp"].max()
    appears = rows.loc[rows["track"].notna(), "timestamp"].min()
    assert first < 0.1 and appears > first + 1.0, (first, appears)  # frames without a face have their rows
    step = float(rows["timestamp"].drop_duplicates().diff().median())

    spans: dict[str, tuple[float, float]] = {}
    save = plots._save

    def keep(fig: Any, stem: Any) -> Any:
        spans[stem.name] = fig.axes[0].get_xlim()
        return save(fig, stem)

    monkeypatch.setattr(plots, "_save", keep)
    plots.plot_timelines(tmp_path / "rows.csv", tmp_path)
    draw = charts.draw_overview

    def drawn(ax: Any, *args: Any, **kwargs: Any) -> None:
        draw(ax, *args, **kwargs)
        spans["report"] = ax.get_xlim()

    monkeypatch.setattr(charts, "draw_overview", drawn)
    assert video_of(rows, "noface_face.mov").overview
    for name in ("timeline-overview", "report"):
        lo, hi = spans[name]
        assert abs(lo - first) < 1e-6 and abs(hi - (last + step)) < 1e-6, (name, spans[name], first, last)
