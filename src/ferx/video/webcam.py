"""Live camera: frames from a capture device (or a file played in real time, as a fake device),
analysed as fast as the machine allows, newest frame first.

A capture thread reads the device continuously and keeps only the newest frame, so a slow
analysis drops frames instead of falling behind the camera (live use wants the present, not a
growing queue). Each frame's timestamp is the capture time in seconds from the start.

Devices: an integer N is `/dev/videoN` (Linux, v4l2) or camera N (macOS, avfoundation); on
Windows give DirectShow's name, `video=Integrated Camera`. A path or URL is opened with FFmpeg and,
with `realtime=True`, delivered at its own pace — a video file stands in for a camera in CI.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ferx.types import Frame
from ferx.video.decode import VideoReadError, upright


def _open_device(device: str | int) -> tuple[Any, bool]:
    """(container, is_file) for a device number, a device name, or a path/URL."""
    import av

    text = str(device)
    try:
        if text.isdigit():
            if sys.platform.startswith("linux"):
                return av.open(f"/dev/video{text}", format="v4l2"), False
            if sys.platform == "darwin":
                return av.open(text, format="avfoundation", options={"framerate": "30"}), False
            raise VideoReadError(f"camera {text}: on this system give the device by name, e.g. --device 'video=Camera'")
        if not text:
            raise VideoReadError("no camera given: a number, a device name or a video file")
        if text.startswith("video="):
            if not sys.platform.startswith("win"):  # FFmpeg here has no DirectShow: said, not a traceback
                raise VideoReadError(f"{text}: a DirectShow (Windows) device name; on this system give a camera "
                                     "number or /dev/videoN")
            return av.open(text, format="dshow"), False
        if text.startswith("/dev/video"):
            return av.open(text, format="v4l2"), False
        if not Path(text).exists() and "://" not in text:
            raise VideoReadError(f"{text}: no such camera or file")
        return av.open(text), True
    except av.error.FFmpegError as e:
        raise VideoReadError(f"camera {text}: cannot open ({getattr(e, 'strerror', None) or e})") from e


class LiveSource:
    """Iterate over the newest frames of a camera (see module docstring).

    Args:
        device: camera number, device name, or a path/URL (a fake device).
        realtime: deliver a file's frames at their own timestamps (a camera always is real time).
        max_frames: stop after yielding this many frames (None: until the device ends).
        duration: stop after this many seconds (None: no limit).
    """

    def __init__(self, device: str | int = 0, *, realtime: bool = True, max_frames: int | None = None,
                 duration: float | None = None) -> None:
        self.device = str(device)
        self._container, self._is_file = _open_device(device)
        if not self._container.streams.video:
            self._container.close()
            raise VideoReadError(f"{self.device}: has no video stream")
        self.realtime = realtime
        self.max_frames = max_frames
        self.duration = duration
        self.captured = 0
        self.dropped = 0
        self._latest: tuple[int, float, np.ndarray] | None = None
        self._cond = threading.Condition()
        self._done = False
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._capture, name="ferx-camera", daemon=True)
        self._started = False

    def _capture(self) -> None:
        import av

        stream = self._container.streams.video[0]
        t_start = time.monotonic()
        origin = None
        try:
            for frame in self._container.decode(stream):
                if self._stop.is_set():
                    break
                if self._is_file and frame.pts is not None:
                    t = float(frame.pts * stream.time_base)
                    origin = t if origin is None else origin
                    t -= origin
                    if self.realtime:  # play the file at its own pace
                        wait = t - (time.monotonic() - t_start)
                        if wait > 0 and self._stop.wait(wait):
                            break
                else:
                    t = time.monotonic() - t_start
                image = upright(frame)  # a phone clip standing in for a camera is rotated as a file is
                with self._cond:
                    if self._latest is not None:
                        self.dropped += 1  # the analysis did not take the previous one: drop it
                    self._latest = (self.captured, t, image)
                    self.captured += 1
                    self._cond.notify()
        except av.error.FFmpegError as e:
            self._error = e  # the run reports it (`stopped`), not as a normal end
        finally:
            with self._cond:
                self._done = True
                self._cond.notify()

    @property
    def stopped(self) -> str | None:
        """Why the device ended with an error (a camera unplugged, a file cut short), or None."""
        if self._error is None:
            return None
        return f"{self.device}: the device stopped with an error after {self.captured} frame(s) ({self._error})"

    def __iter__(self) -> Iterator[Frame]:
        if not self._started:
            self._started = True
            self._thread.start()
        yielded = 0
        t0 = time.monotonic()
        try:
            while self.max_frames is None or yielded < self.max_frames:
                if self.duration is not None and time.monotonic() - t0 >= self.duration:
                    return
                with self._cond:
                    while self._latest is None and not self._done:
                        self._cond.wait(0.1)
                    item, self._latest = self._latest, None
                if item is None:
                    return  # the device ended
                index, t, image = item
                yielded += 1
                yield Frame(image, source=self.device, index=index, timestamp=t)
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        if self._started and self._thread.is_alive():
            self._thread.join(timeout=5)
        self._container.close()


def display_available() -> bool:
    """True when a window can be shown (a desktop session, or DISPLAY/WAYLAND_DISPLAY on Unix)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class LiveWindow:
    """A Tk window showing annotated frames; `closed` becomes True when the user closes it."""

    def __init__(self, title: str = "ferx webcam") -> None:
        import tkinter as tk

        from PIL import ImageTk  # noqa: F401  (fail here, before the camera starts, if Tk support is missing)

        self._tk = tk
        self.root = tk.Tk()
        self.root.title(title)
        self.label = tk.Label(self.root)
        self.label.pack()
        self.closed = False
        self.root.protocol("WM_DELETE_WINDOW", self._close)
        self.root.bind("<Escape>", lambda _e: self._close())
        self.root.bind("q", lambda _e: self._close())
        self._photo: Any = None

    def _close(self) -> None:
        self.closed = True

    def show(self, image: Any) -> None:
        from PIL import ImageTk

        self._photo = ImageTk.PhotoImage(image)
        self.label.configure(image=self._photo)
        self.root.update()

    def close(self) -> None:
        try:
            self.root.destroy()
        except self._tk.TclError:
            pass


__all__ = ["LiveSource", "LiveWindow", "display_available"]
