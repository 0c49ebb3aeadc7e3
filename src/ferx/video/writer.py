"""The annotated video: frames drawn with boxes, track IDs, labels and top AUs, encoded with PyAV
(H.264 when the FFmpeg build has it), with the source's audio stream copied packet for packet
(no re-encoding, so it is bit-identical and in sync: both use the source's timestamps).

The file is written under `<name>.partial` and renamed when finished — also after an interrupt,
when it holds the frames so far — so a file under the final name is always playable.
"""

from __future__ import annotations

import os
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ferx.annotate import LABEL_COLOURS, annotate
from ferx.video.result import TrackedFrame

_TIME_BASE = Fraction(1, 90_000)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def draw_tracked(tf: TrackedFrame, image: np.ndarray | None = None, *, top_aus: int = 3) -> Image.Image:
    """The frame with every face drawn (ferx.annotate) plus its track ID and how it was found."""
    img = image if image is not None else (tf.frame.image if tf.frame is not None else None)
    if img is None:
        raise ValueError("draw_tracked needs the frame's image")
    canvas = annotate(img, tf.result, top_aus=top_aus, numbered=False)
    draw = ImageDraw.Draw(canvas)
    labels = tf.faces.labels
    for i, tid in enumerate(tf.track_ids.tolist()):
        x1, y1, x2, y2 = tf.faces.boxes[i].tolist()
        colour = LABEL_COLOURS.get(labels[i], LABEL_COLOURS[None])
        text = f"#{tid}" + ("" if tf.detected[i] else " ·")
        font = _font(max(10, min(28, round((x2 - x1) / 7))))
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        w, h = right - left + 6, bottom - top + 4
        x = max(0.0, x2 - w)
        y = min(max(0.0, y1), canvas.height - h)
        draw.rectangle((x, y, x + w, y + h), fill=colour)
        draw.text((x + 3 - left, y + 2 - top), text, fill=(0, 0, 0), font=font)
    return canvas


class AnnotatedVideoWriter:
    """Encode frames at their own timestamps, with the audio of `audio_from` copied alongside.

    Args:
        path: output file (.mp4 recommended; the container follows the extension).
        width, height: frame size.
        fps: nominal rate (a hint for players; timestamps decide the timing).
        audio_from: a video whose first audio stream is copied (None: no audio).
        offset: seconds of the source at which the output starts (the analysed range's start).
        end: seconds of the source after which audio is not copied (None: to the last frame).
    """

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, *, fps: float | None = None,
                 audio_from: str | os.PathLike[str] | None = None, offset: float = 0.0, end: float | None = None,
                 crf: int = 23) -> None:
        import av

        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.offset = float(offset)
        self.end = end
        self.notes: list[str] = []
        fmt = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}.get(
            self.path.suffix.lower(), "mp4")
        self._out = av.open(str(self.partial), mode="w", format=fmt)
        self._w, self._h = width - width % 2, height - height % 2  # 4:2:0 needs even sides
        rate = Fraction(round((fps or 30.0) * 1000), 1000)
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        if fmt == "webm":
            codec = "libvpx-vp9"
        self._video = self._out.add_stream(codec, rate=rate)
        self._video.width, self._video.height = self._w, self._h
        self._video.pix_fmt = "yuv420p"
        self._video.codec_context.time_base = _TIME_BASE
        if codec == "libx264":
            self._video.options = {"crf": str(crf), "preset": "veryfast"}
        self._last_pts = -1
        self._last_t = 0.0
        self._audio_in: Any = None
        self._audio_out: Any = None
        self._audio_packets: Any = None
        self._pending: Any = None
        if audio_from is not None:
            self._open_audio(Path(audio_from))

    def _open_audio(self, source: Path) -> None:
        import av

        try:
            src = av.open(str(source))
        except av.error.FFmpegError as e:
            self.notes.append(f"audio not copied: {e}")
            return
        if not src.streams.audio:
            src.close()
            return
        stream = src.streams.audio[0]
        try:
            self._audio_out = self._out.add_stream_from_template(stream)
        except (av.error.FFmpegError, ValueError) as e:
            self.notes.append(f"audio not copied: the {self.path.suffix} container cannot hold it ({e})")
            src.close()
            return
        self._audio_in = src
        self._audio_stream = stream
        self._audio_origin = stream.start_time or 0
        if self.offset > 0:
            try:
                src.seek(int(self.offset / stream.time_base) + self._audio_origin, stream=stream, backward=True)
            except av.error.FFmpegError:
                pass
        self._audio_packets = src.demux(stream)

    def _copy_audio(self, until: float | None) -> None:
        """Mux the source's audio packets up to `until` seconds (output time); None = all."""
        import av

        if self._audio_packets is None:
            return
        tb = self._audio_stream.time_base
        while True:
            pkt = self._pending
            if pkt is None:
                try:
                    pkt = next(self._audio_packets)
                except (StopIteration, av.error.FFmpegError):
                    self._audio_packets = None
                    return
            if pkt.pts is None or pkt.size == 0:
                self._pending = None
                continue
            t = float((pkt.pts - self._audio_origin) * tb)
            if self.offset > 0 and t < self.offset - 1e-6:  # (encoder priming packets before 0 are kept)
                self._pending = None
                continue
            if self.end is not None and t >= self.end:
                self._audio_packets = None
                return
            if until is not None and t - self.offset > until:
                self._pending = pkt  # keep it for later
                return
            self._pending = None
            shift = int(round(self.offset / tb)) + self._audio_origin
            pkt.pts -= shift
            if pkt.dts is not None:
                pkt.dts -= shift
            pkt.stream = self._audio_out
            self._out.mux(pkt)

    def write(self, image: np.ndarray | Image.Image, t: float) -> None:
        """Add a frame shown at `t` seconds of the source."""
        import av

        arr = np.asarray(image)
        h, w = arr.shape[:2]
        if not (self._h <= h <= self._h + 1 and self._w <= w <= self._w + 1):
            # A frame of another size (image sequences may mix sizes): fitted in, letterboxed.
            arr = np.asarray(ImageOps.pad(Image.fromarray(arr), (self._w, self._h), color=(0, 0, 0)))
        arr = arr[: self._h, : self._w]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
        pts = max(int(round((t - self.offset) / _TIME_BASE)), self._last_pts + 1)
        frame.pts, frame.time_base = pts, _TIME_BASE
        self._last_pts, self._last_t = pts, t - self.offset
        self._copy_audio(self._last_t + 0.5)
        for packet in self._video.encode(frame):
            self._out.mux(packet)

    def close(self, complete: bool = True) -> None:
        """Finish the file (flush the encoder, copy the rest of the audio) and give it its name.
        `complete=False` (an interrupted run): the audio stops with the last frame written."""
        if self._out is None:
            return
        try:
            for packet in self._video.encode():
                self._out.mux(packet)
            if complete:  # the audio runs to the end of the analysed range
                self._copy_audio(None if self.end is None else self.end - self.offset)
            else:
                self._copy_audio(self._last_t + 0.04)
        finally:
            self._out.close()
            self._out = None
            if self._audio_in is not None:
                self._audio_in.close()
        os.replace(self.partial, self.path)


__all__ = ["AnnotatedVideoWriter", "draw_tracked"]
