"""Video analysis as a lazy stream of TrackedFrames: decode → track (follow meshes, detect when
needed) → smooth → per-person baseline. One frame in memory at a time."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ferx.types import Frame
from ferx.video.calibrate import CalibrationConfig, NeutralBaseline
from ferx.video.decode import Sampling, SamplingError, VideoInfo, VideoReader
from ferx.video.result import TrackedFrame
from ferx.video.sequence import FailedFrame, ImageSequence
from ferx.video.smooth import SmoothingConfig, TrackSmoother
from ferx.video.track import FaceTracker, TrackingConfig

if TYPE_CHECKING:
    from ferx.pipeline import Analyzer


@dataclass
class VideoConfig:
    """How a video is analysed.

    Attributes:
        sampling: which frames (every Nth, at most F per second, a time range).
        tracking: following, detection schedule, re-identification.
        smoothing: One-Euro filters per track (`enabled=False` for raw values).
        calibration: per-person neutral baseline (off by default).
        explain_frames: run the explain stage on every frame; by default explanations are made per
            track segment (in the summary), which is what a reader of a video wants and is cheaper.
        prefetch: frames decoded ahead in a background thread (videos and image sequences).
        overlap: read a frame's AUs and expression on a second thread while the next frame is
            followed (`FaceTracker.step_split`; the same results, one frame more in memory); None:
            where the machine has two or more cores.
    """

    sampling: Sampling = field(default_factory=Sampling)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    explain_frames: bool = False
    prefetch: int = 4
    overlap: bool | None = None


def _done(tracked: TrackedFrame) -> Future[TrackedFrame]:
    """A finished result in a Future's shape (the path without a second thread)."""
    future: Future[TrackedFrame] = Future()
    future.set_result(tracked)
    return future


def _checked_frames(frames: Iterable[Any]) -> Iterator[Frame]:
    """The caller's frames, each checked to be a `Frame`: an array or a PIL image has no timestamp, which
    the tracker and the smoother need (an array gave "'numpy.ndarray' object has no attribute 'image'")."""
    for i, frame in enumerate(frames):
        if not isinstance(frame, Frame):
            raise TypeError(f"analyze_video reads ferx.Frame objects, got {type(frame).__name__} at position {i}: "
                            "wrap each image with its time, e.g. Frame(rgb, index=i, timestamp=i / fps)")
        yield frame


class VideoAnalysis:
    """An analysis in progress: iterate it for one TrackedFrame per sampled frame.

    Opening checks the input at once (VideoReadError for a missing, empty or unreadable file, one
    with no video stream; VideoCodecError for an unsupported codec; SamplingError, a ConfigError,
    for a start at or past the end of the video); frames are decoded only as
    the iteration asks for them. After the iteration, `stopped` says why decoding ended early
    (a truncated or corrupt file: every frame before is yielded), or is None; `failed_frames`
    lists the frames of an image sequence that could not be read (the others are yielded).

    Args:
        analyzer: a ferx Analyzer.
        source: a video path, an `ImageSequence` (a folder of frames; the config's sampling
            applies), or any iterable of `Frame`s in time order (a camera, a generator).
        config: VideoConfig.
    """

    def __init__(self, analyzer: Analyzer, source: str | os.PathLike[str] | ImageSequence | Iterable[Frame],
                 config: VideoConfig | None = None) -> None:
        self.analyzer = analyzer
        self.config = config or VideoConfig()
        self.reader: VideoReader | ImageSequence | None = None
        if isinstance(source, ImageSequence):
            self.reader = source
            self._frames = source.frames(self.config.sampling, prefetch=self.config.prefetch)
            self.source = str(source.path)
        elif isinstance(source, (str, os.PathLike)):
            self.reader = VideoReader(source, self.config.sampling, prefetch=self.config.prefetch)
            self._frames: Iterable[Frame] = self.reader
            self.source = str(source)
        else:
            self._frames = _checked_frames(source)
            self.source = "<frames>"
        self._live = None if self.reader is not None else source  # a camera says why it stopped (`stopped`)
        if self.reader is not None:
            try:
                self.config.sampling.check_within(self.reader.info, self.source)
            except SamplingError:
                self.reader.close()
                raise
        skip = frozenset() if self.config.explain_frames else frozenset({"explanations"})
        self.tracker = FaceTracker(analyzer, self.config.tracking, skip=skip)
        self.smoother = TrackSmoother(self.config.smoothing)
        self.baseline = NeutralBaseline(self.config.calibration)
        self.frames = 0
        self.seconds = 0.0

    @property
    def info(self) -> VideoInfo | None:
        return None if self.reader is None else self.reader.info

    @property
    def stopped(self) -> str | None:
        if self.reader is None:
            return getattr(self._live, "stopped", None)  # a LiveSource whose device failed; else None
        return self.reader.stopped

    @property
    def failed_frames(self) -> list[FailedFrame]:
        """Frames of an image sequence that could not be read (empty for other sources)."""
        return list(self.reader.failed) if isinstance(self.reader, ImageSequence) else []

    @property
    def detector_frames(self) -> int:
        """Frames on which the detector ran (the rest were followed by mesh alone)."""
        return self.tracker.detections

    def __iter__(self) -> Iterator[TrackedFrame]:
        t_start = time.perf_counter()
        overlap = self.config.overlap if self.config.overlap is not None else (os.cpu_count() or 1) >= 2
        pool = ThreadPoolExecutor(1, thread_name_prefix="ferx-readings") if overlap else None
        pending: deque[tuple[float, float, Future[TrackedFrame]]] = deque()
        try:
            it = iter(self._frames)
            while True:
                t0 = time.perf_counter()
                try:
                    frame = next(it)
                except StopIteration:
                    break
                t1 = time.perf_counter()
                tracked, finish = self.tracker.step_split(frame)
                pending.append((t0, t1, pool.submit(finish) if pool is not None else _done(finish())))
                if len(pending) > 1 or pool is None:  # frame N's readings ran beside frame N+1's following
                    yield self._finished(*pending.popleft(), t_start)
            while pending:
                yield self._finished(*pending.popleft(), t_start)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            self.seconds = time.perf_counter() - t_start
            self.close()

    def _finished(self, t0: float, t1: float, readings: Future[TrackedFrame], t_start: float) -> TrackedFrame:
        """A frame with its readings, smoothed and baselined (in order), with its timings."""
        tracked = self.baseline(self.smoother(readings.result()))
        timings = dict(tracked.result.timings_ms)
        timings["decode"] = (t1 - t0) * 1e3
        timings["total"] = (time.perf_counter() - t0) * 1e3
        self.frames += 1
        self.seconds = time.perf_counter() - t_start
        return replace(tracked, result=replace(tracked.result, timings_ms=timings))

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def __enter__(self) -> VideoAnalysis:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def analyze_video(analyzer: Analyzer, source: str | os.PathLike[str] | ImageSequence | Iterable[Frame],
                  config: VideoConfig | None = None, **options: Any) -> VideoAnalysis:
    """Analyse a video with tracking; returns a lazy `VideoAnalysis` (iterate it for TrackedFrames).

    Args:
        analyzer: a ferx Analyzer.
        source: a video file, an `ImageSequence` (a folder of numbered frames), or an iterable
            of Frames in time order.
        config: a VideoConfig; or give its fields as keywords, e.g.
            `sampling=Sampling(every=2)`, `smoothing=SmoothingConfig(enabled=False)`.

    Example:
        >>> with Analyzer() as analyzer:
        ...     for tf in analyze_video(analyzer, "clip.mp4"):
        ...         print(tf.timestamp, tf.track_ids, tf.faces.labels)
    """
    config = config or VideoConfig()
    if options:
        config = replace(config, **options)
    return VideoAnalysis(analyzer, source, config)


__all__ = ["VideoAnalysis", "VideoConfig", "analyze_video"]
