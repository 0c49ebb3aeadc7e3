"""Deprecated name of `ferx.runs.video` (a video into a folder of results); kept so that code importing
`ferx.video.run` keeps working. `process_video` is `ferx.runs.video.run_video`."""

from __future__ import annotations

from ferx.runs.guard import Interrupted
from ferx.runs.video import FORMATS, VideoOutputs, VideoRunSummary, segment_explainer
from ferx.runs.video import run_video as process_video

__all__ = ["FORMATS", "Interrupted", "VideoOutputs", "VideoRunSummary", "process_video", "segment_explainer"]
