"""Decoding videos with PyAV (FFmpeg): frames as RGB arrays with their stream timestamps.

- Timestamps come from each frame's presentation time stamp (pts × time base, from the stream's
  start), never from index ÷ frame rate, so variable-frame-rate phone videos keep their real times.
- Rotation metadata (the display matrix phones write) is applied, so faces are upright.
- Frame indices are positions in the stream, also with `start`: the frames before it are counted
  from packet headers (no decoding), then the decoder seeks.
- Memory is constant: one frame at a time, plus a small bounded queue when decoding ahead.
- A file that ends early or stops decoding yields every good frame and says why in `stopped`.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ferx.errors import ConfigError, ImageReadError, UnsupportedFormatError
from ferx.types import Frame


def frame_rotation(frame: Any) -> int:
    """Counter-clockwise degrees (0, 90, 180, 270) that upright a decoded PyAV frame (its display matrix)."""
    return int(round((getattr(frame, "rotation", 0) or 0) / 90.0)) * 90 % 360


def upright(frame: Any) -> np.ndarray:
    """A decoded PyAV frame as an upright RGB array: its display-matrix rotation (phones) applied."""
    image = frame.to_ndarray(format="rgb24")
    rot = frame_rotation(frame)
    return np.ascontiguousarray(np.rot90(image, k=rot // 90)) if rot else image


class VideoReadError(ImageReadError):
    """A video could not be opened: missing, empty, not a video, no video stream."""


class VideoCodecError(UnsupportedFormatError, VideoReadError):
    """The video stream's codec has no decoder in this FFmpeg build."""


class SamplingError(ConfigError):
    """The sampling asks for what the video does not have (a start at or past its end): a usage error,
    not a damaged file."""


@dataclass(frozen=True)
class Sampling:
    """Which frames of a video to analyse.

    Attributes:
        every: keep every Nth decoded frame (1 = all).
        fps: keep at most this many frames per second of video time (by timestamps); None = all.
        start, end: seconds from the start of the video; frames with start <= t < end are kept.
    """

    every: int = 1
    fps: float | None = None
    start: float | None = None
    end: float | None = None

    def __post_init__(self) -> None:
        if int(self.every) != self.every or self.every < 1:
            raise ValueError(f"every must be a positive integer, got {self.every}")
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive number, got {self.fps}")
        for name in ("start", "end"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a non-negative number of seconds, got {v}")
        if self.end is not None and self.end <= (self.start or 0.0):  # `--end 0` analysed nothing, silently
            raise ValueError(f"end ({self.end}) must come after start ({self.start or 0.0})")

    def check_within(self, info: VideoInfo | None, name: str) -> None:
        """Refuse a start at or past the end of the video `info` describes (unknown duration: no check).

        Raises:
            SamplingError: naming the start and the video's length.
        """
        if self.start and info is not None and info.duration is not None and self.start >= info.duration:
            raise SamplingError(f"{name}: the start ({self.start:g} s) is at or past the end of the video, which is "
                                f"{info.duration:.3f} s long; choose an earlier start")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (before decoding it).

    Attributes:
        width, height: frame size as analysed, i.e. after rotation.
        rotation: counter-clockwise degrees applied to upright the frames (0, 90, 180, 270).
        fps: average frame rate from the container (None when unknown); timestamps do not use it.
        frames: frame count declared by the container (None when unknown).
        duration: seconds (None when unknown).
    """

    path: str
    container: str
    codec: str
    width: int
    height: int
    rotation: int
    fps: float | None
    frames: int | None
    duration: float | None
    audio_codec: str | None

    def expected_frames(self, sampling: Sampling) -> int | None:
        """About how many frames `sampling` keeps (for progress bars); None when unknown."""
        start = sampling.start or 0.0
        end = self.duration if sampling.end is None else min(sampling.end, self.duration or sampling.end)
        if end is None:
            return None
        if self.fps:
            n = (end - start) * self.fps
        elif self.frames and self.duration:
            n = self.frames * (end - start) / self.duration
        else:
            return None
        n /= sampling.every
        if sampling.fps:
            n = min(n, (end - start) * sampling.fps)
        return max(0, round(n))


def _open(path: Path) -> Any:
    import av

    if not path.exists():
        raise VideoReadError(f"{path}: file not found")
    if path.is_dir():
        raise VideoReadError(f"{path}: is a folder, not a video file (a folder of numbered frames is read by"
                             " ferx.video.ImageSequence, or `ferx analyze FOLDER --sequence`)")
    if path.stat().st_size == 0:
        raise VideoReadError(f"{path}: empty file (0 bytes)")
    try:
        return av.open(str(path), mode="r", metadata_errors="replace")
    except av.error.FFmpegError as e:
        try:
            with open(path, "rb") as f:
                head = f.read(12)
        except OSError as read_error:  # no permission to read it: say so, as for a photo
            raise VideoReadError(f"{path}: cannot read file ({read_error.strerror or read_error})") from e
        hint = ""
        if head[4:8] == b"ftyp" and isinstance(e, av.error.InvalidDataError):
            hint = (" — an MP4/MOV whose index (the moov atom) is missing: the file is truncated or was never"
                    " finalised")
        raise VideoReadError(f"{path}: not a readable video ({_ffmpeg_reason(e)}){hint}") from e


def _ffmpeg_reason(e: BaseException) -> str:
    # FFmpegError's str() repeats the path; its strerror is the reason.
    return str(getattr(e, "strerror", None) or e)


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a video's header (no frames decoded beyond the first, for the rotation)."""
    with VideoReader(path) as reader:
        return reader.info


class FpsGate:
    """`--fps F` sampling by timestamp: keeps the first frame at or after each multiple of 1/F from
    the start, so variable frame rates and sequences sample real seconds, not frame counts."""

    def __init__(self, fps: float | None, start: float | None) -> None:
        self.fps, self.next = fps, start or 0.0

    def keep(self, t: float) -> bool:
        if self.fps is None:
            return True
        if t < self.next - 1e-6:
            return False
        while self.next <= t + 1e-6:
            self.next += 1.0 / self.fps
        return True


@dataclass
class _Cursor:
    """Where decoding is: the index of the next frame, the last frame's time, the first kept index."""

    index: int = 0
    last_t: float = -math.inf
    first: int | None = None
    seen_t: float = -math.inf  # the last decoded frame's time, kept or not (before the start asked for)


class VideoReader:
    """Iterate over a video's frames as `Frame`s (RGB uint8, upright, with stream timestamps).

    Args:
        path: a video file (any container and codec FFmpeg decodes).
        sampling: which frames to yield (every Nth, at most F per second, a time range).
        prefetch: frames decoded ahead in a background thread (decoding overlaps analysis;
            FFmpeg releases the GIL); 0 decodes in the caller's thread.
        threads: let FFmpeg decode with several threads.

    After iteration, `decoded` counts frames decoded, `yielded` frames yielded, and `stopped` says
    why decoding ended early (truncated or corrupt file), or is None.

    Raises (when opened):
        VideoReadError: missing, empty, unreadable file, or no video stream.
        VideoCodecError: the codec cannot be decoded.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sampling: Sampling = Sampling(),
        *,
        prefetch: int = 4,
        threads: bool = True,
    ) -> None:
        self.path = Path(path)
        self.sampling = sampling
        self.prefetch = int(prefetch)
        self.decoded = 0
        self.yielded = 0
        self.stopped: str | None = None
        self._container = _open(self.path)
        try:
            self._stream = self._video_stream()
            if threads:
                self._stream.thread_type = "AUTO"
            self._origin = self._stream.start_time if self._stream.start_time is not None else 0
            self._rotation = self._first_rotation()
            self.info = self._info()
        except BaseException:
            self._container.close()
            raise
        self._iterating = False

    # -- header ------------------------------------------------------------------------------------
    def _video_stream(self) -> Any:
        streams = self._container.streams
        if not streams.video:
            kinds = ", ".join(f"{s.type} {s.codec_context.name if s.codec_context else '?'}" for s in streams) or "none"
            raise VideoReadError(f"{self.path}: has no video stream (streams: {kinds})")
        stream = streams.video[0]
        if stream.codec_context is None:
            raise VideoCodecError(f"{self.path}: the video codec cannot be decoded by this FFmpeg build")
        return stream

    def _first_rotation(self) -> int:
        """Rotation of the first frame (the display matrix is per stream, frames carry it)."""
        import av

        try:
            for frame in self._container.decode(self._stream):
                rot = frame_rotation(frame)
                return rot
        except av.error.DecoderNotFoundError as e:
            raise VideoCodecError(f"{self.path}: no decoder for codec {self._stream.codec_context.name}") from e
        except av.error.FFmpegError:
            pass  # reported when iterating
        finally:
            self._rewind()
        return 0

    def _rewind(self) -> None:
        import av

        try:
            self._container.seek(0, stream=self._stream, backward=True)
        except av.error.FFmpegError:  # unseekable (a pipe): reopen
            self._container.close()
            self._container = _open(self.path)
            self._stream = self._container.streams.video[0]
        self._stream.codec_context.flush_buffers()

    def _info(self) -> VideoInfo:
        s = self._stream
        cc = s.codec_context
        rate = s.average_rate or s.guessed_rate
        duration = None
        if s.duration is not None and s.time_base:
            duration = float(s.duration * s.time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / 1_000_000
        w, h = cc.width, cc.height
        if self._rotation in (90, 270):
            w, h = h, w
        audio = self._container.streams.audio
        return VideoInfo(
            path=str(self.path),
            container=self._container.format.name,
            codec=cc.name,
            width=w,
            height=h,
            rotation=self._rotation,
            fps=float(rate) if rate else None,
            frames=int(s.frames) or None,
            duration=duration,
            audio_codec=(audio[0].codec_context.name if audio and audio[0].codec_context else None),
        )

    @property
    def time_base(self) -> Fraction:
        return Fraction(self._stream.time_base)

    # -- frames ------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Frame]:
        if self._iterating:
            raise RuntimeError("a VideoReader can be iterated once")
        self._iterating = True
        yield from prefetched(self._frames(), self.prefetch)

    def _frames(self) -> Iterator[Frame]:
        s = self.sampling
        cur, start_pts = self._start()
        gate = FpsGate(s.fps, s.start)
        for frame in self._decoded(cur):
            if frame.pts is not None:
                t = float((frame.pts - self._origin) * self.time_base)
            else:  # no timestamp (some raw streams): one average frame period after the last
                t = 0.0 if cur.last_t == -math.inf else cur.last_t + 1.0 / (self.info.fps or 25.0)
            cur.seen_t = max(cur.seen_t, t)
            if start_pts is not None and frame.pts is not None and frame.pts < start_pts:
                continue  # decoded from the keyframe before start; counted already
            if s.start is not None and t < s.start - 1e-9:
                cur.index += 1  # decoding from the beginning (unseekable input)
                continue
            if s.end is not None and t >= s.end:
                return
            self.decoded += 1
            cur.last_t, i = t, cur.index
            cur.index += 1
            if cur.first is None:
                cur.first = i
            if (i - cur.first) % s.every or not gate.keep(t):
                continue
            image = frame.to_ndarray(format="rgb24")
            if self._rotation:
                image = np.ascontiguousarray(np.rot90(image, k=self._rotation // 90))
            self.yielded += 1
            yield Frame(image, source=str(self.path), index=i, timestamp=t)
        # Compared by time, not frame count: edit lists legitimately drop a few declared frames. With an
        # `end`, the frames must reach it or the declared end (a cut file read with --end 10 said nothing).
        duration, period = self.info.duration, 1.0 / (self.info.fps or 25.0)
        wanted = duration if s.end is None or not duration else min(s.end, duration)
        if self.stopped is None and wanted and max(cur.last_t, cur.seen_t) + 3 * period < wanted:
            if cur.last_t == -math.inf and s.start is not None:  # it ends before the span asked for
                where = f"its frames stop at {cur.seen_t:.3f} s" if cur.seen_t > -math.inf else "no frame decodes"
                self.stopped = (f"the file ends early: {where} of the {duration:.3f} s its header declares "
                                f"(truncated?), before the start asked for ({s.start:.3f} s): no frame analysed")
            else:
                self.stopped = (
                    f"the file ends early: frames up to {max(cur.last_t, 0):.3f} s of the {duration:.3f} s its header"
                    " declares could be decoded (truncated?); the frames before are kept"
                )

    def _start(self) -> tuple[_Cursor, int | None]:
        """Seek to the sampling's start: the index of the first frame decoded, and the pts before which
        decoded frames are dropped (None when decoding from the beginning)."""
        import av

        start = self.sampling.start
        if not start:
            return _Cursor(), None
        start_pts = self._origin + math.ceil(start / self.time_base - 1e-6)
        index = self._count_before(start_pts)
        try:
            self._container.seek(start_pts, stream=self._stream, backward=True)
        except av.error.FFmpegError:
            self._rewind()  # decode from the beginning and drop frames before start
            return _Cursor(), None
        return _Cursor(index), start_pts

    def _decoded(self, cur: _Cursor) -> Iterator[Any]:
        """The decoded frames; a corrupt or truncated file ends them (and sets `stopped`)."""
        import av

        frames = self._container.decode(self._stream)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except av.error.DecoderNotFoundError as e:
                raise VideoCodecError(f"{self.path}: no decoder for codec {self._stream.codec_context.name}") from e
            except (av.error.FFmpegError, EOFError) as e:
                self.stopped = (
                    f"decoding stopped after frame {cur.index - 1} ({max(cur.last_t, 0):.3f} s): {_ffmpeg_reason(e)}"
                    " — the file is truncated or corrupt; the frames before are kept"
                )
                return
            yield frame

    def _count_before(self, start_pts: int) -> int:
        """Frames whose pts is before `start_pts`, counted from packet headers (no decoding)."""
        import av

        n = 0
        try:
            for packet in self._container.demux(self._stream):
                if packet.dts is not None and packet.dts >= start_pts:
                    break  # pts >= dts: every later packet is at or after start
                if packet.pts is not None and packet.pts < start_pts and packet.size:
                    n += 1
        except av.error.FFmpegError:
            pass  # a damaged tail: the frames are reported when decoding
        return n

    # -- resources -----------------------------------------------------------------------------
    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



def prefetched(frames: Iterator[Frame], size: int) -> Iterator[Frame]:
    """Run `frames` in a background thread, up to `size` frames ahead (0: in the caller's thread).

    Decoders (FFmpeg, Pillow's codecs) release the GIL, so decoding overlaps the analysis. An
    exception in the producer is raised in the consumer; closing the consumer stops the producer.
    """
    if size <= 0:
        yield from frames
        return
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=size)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for frame in frames:
                if not put(("frame", frame)):
                    return
            put(("end", None))
        except BaseException as e:  # handed to the consumer, raised there
            put(("error", e))

    thread = threading.Thread(target=work, name="ferx-video-decode", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "frame":
                yield item
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()
        thread.join()


def open_video(path: str | os.PathLike[str], sampling: Sampling = Sampling(), **options: Any) -> VideoReader:
    """Open a video for reading (see `VideoReader`)."""
    return VideoReader(path, sampling, **options)


__all__ = [
    "Sampling", "SamplingError", "VideoCodecError", "VideoInfo", "VideoReadError", "VideoReader", "open_video",
    "prefetched", "probe",
]
