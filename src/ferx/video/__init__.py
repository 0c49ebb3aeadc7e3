"""Video and live camera: decoding (PyAV), tracking with stable IDs, smoothing, per-person
baselines, per-frame rows, summaries, timelines and annotated videos. See docs/video.md.

PyAV, pyarrow and matplotlib are imported only by the functions that need them.
"""

from __future__ import annotations

from ferx.video.analyze import VideoAnalysis, VideoConfig, analyze_video
from ferx.video.calibrate import CalibrationConfig, NeutralBaseline
from ferx.video.decode import (
    Sampling,
    SamplingError,
    VideoCodecError,
    VideoInfo,
    VideoReader,
    VideoReadError,
    open_video,
    probe,
)
from ferx.video.result import TrackedFrame
from ferx.video.sequence import FailedFrame, ImageSequence, ImageSequenceError
from ferx.video.smooth import OneEuro, SmoothingConfig, TrackSmoother
from ferx.video.sniff import VIDEO_EXTENSIONS, is_video, split_media
from ferx.video.track import FaceTracker, TrackingConfig

__all__ = [
    "VIDEO_EXTENSIONS", "CalibrationConfig", "FaceTracker", "FailedFrame", "ImageSequence", "ImageSequenceError",
    "NeutralBaseline", "OneEuro", "Sampling", "SamplingError",
    "SmoothingConfig", "TrackSmoother", "TrackedFrame", "TrackingConfig", "VideoAnalysis", "VideoCodecError",
    "VideoConfig", "VideoInfo", "VideoReadError", "VideoReader", "analyze_video", "is_video", "open_video", "probe",
    "split_media",
]
