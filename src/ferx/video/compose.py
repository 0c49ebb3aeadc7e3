"""Compose test videos from photos (PyAV): faces moving along paths over a still background, with
hard cuts and an optional audio tone. Used by the tests and the benchmark to build the scenes no
real clip at hand covers (two faces crossing, a face leaving and returning, a cut between two
people, several faces at once, long videos); written frame by frame, so length costs no memory.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

#: t (seconds) → (centre x, centre y, height) in pixels, or None while the face is absent.
Path_ = Callable[[float], "tuple[float, float, float] | None"]


@dataclass
class Actor:
    """A photo moving through the video. Larger `z` is drawn in front."""

    image: np.ndarray
    path: Path_
    z: int = 0


def linear(start: tuple[float, float], end: tuple[float, float], height: float, t0: float = 0.0,
           t1: float = 1.0, visible: tuple[float, float] = (0.0, math.inf)) -> Path_:
    """Move from `start` to `end` (centres, pixels) between t0 and t1, shown during `visible`."""

    def at(t: float) -> tuple[float, float, float] | None:
        if not visible[0] <= t < visible[1]:
            return None
        a = min(1.0, max(0.0, (t - t0) / max(t1 - t0, 1e-9)))
        return (start[0] + a * (end[0] - start[0]), start[1] + a * (end[1] - start[1]), height)

    return at


def still(centre: tuple[float, float], height: float, visible: tuple[float, float] = (0.0, math.inf)) -> Path_:
    return linear(centre, centre, height, visible=visible)


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A still background: soft gradient with a few blurred blocks (texture for the codec, no faces)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    gx, gy = rng.uniform(-80, 80, size=2)
    base = rng.uniform(50, 200) + gx * (x / width - 0.5) + gy * (y / height - 0.5)
    tint = rng.uniform(0.7, 1.0, size=3)
    img = base[..., None] * tint
    for _ in range(6):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(width // 10, width // 4)), int(rng.integers(height // 10, height // 4))
        img[y0 : y0 + h, x0 : x0 + w] += rng.uniform(-40, 40, size=3)
    img = np.asarray(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).resize((width // 8, height // 8)).resize(
        (width, height), Image.BILINEAR))
    return img


def render(actors: list[Actor], t: float, bg: np.ndarray) -> np.ndarray:
    """One frame at time t."""
    frame = Image.fromarray(bg)
    for actor in sorted(actors, key=lambda a: a.z):
        where = actor.path(t)
        if where is None:
            continue
        cx, cy, h = where
        ih, iw = actor.image.shape[:2]
        w = h * iw / ih
        sprite = Image.fromarray(actor.image).resize((max(1, round(w)), max(1, round(h))), Image.BILINEAR)
        frame.paste(sprite, (round(cx - w / 2), round(cy - h / 2)))
    return np.asarray(frame)


def write_video(path: str | os.PathLike[str], actors: list[Actor] | Callable[[float], list[Actor]], *,
                size: tuple[int, int] = (640, 360), fps: float = 15.0, seconds: float = 4.0,
                audio_hz: float | None = None, rotation: int = 0, seed: int = 0, crf: int = 23,
                scene: Callable[[float], int] | None = None) -> Path:
    """Write an H.264 MP4 of `actors` (a list, or a function of t for scenes with cuts).

    Args:
        audio_hz: add a mono AAC sine tone of this frequency (for audio round-trip tests).
        scene: t → background number (a hard cut where it changes); None = one background.
        rotation: display-matrix rotation (counter-clockwise degrees) written into the stream;
            the pixels are stored rotated the other way, so a reader that applies it sees the scene upright.
    """
    import av

    path = Path(path)
    width, height = size
    backgrounds: dict[int, np.ndarray] = {}
    n = int(round(seconds * fps))
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w") as out:
        stored_w, stored_h = (height, width) if rotation % 180 else (width, height)
        v = out.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": "veryfast"})
        v.width, v.height, v.pix_fmt = stored_w, stored_h, "yuv420p"
        if rotation:
            v.set_display_rotation(rotation)
        a = None
        if audio_hz is not None:
            a = out.add_stream("aac", rate=44100, layout="mono")
        for i in range(n):
            t = i / fps
            cast = actors(t) if callable(actors) else actors
            k = seed if scene is None else seed + scene(t)
            if k not in backgrounds:
                backgrounds[k] = background(width, height, k)
            img = render(cast, t, backgrounds[k])
            if rotation:
                img = np.ascontiguousarray(np.rot90(img, k=-(rotation // 90)))
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in v.encode(frame):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
        if a is not None:
            sr, chunk = 44100, 1024
            total = int(seconds * sr)
            for start in range(0, total, chunk):
                k = np.arange(start, min(start + chunk, total))
                tone = (0.3 * np.sin(2 * np.pi * audio_hz * k / sr)).astype(np.float32)[None]
                af = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
                af.sample_rate, af.pts = sr, start
                for packet in a.encode(af):
                    out.mux(packet)
            for packet in a.encode():
                out.mux(packet)
    return path


__all__ = ["Actor", "background", "linear", "render", "still", "write_video"]
