"""Image sequences: a folder of numbered frames (`frames/000001.png …`, as ffmpeg or a camera
exports them) read as one video.

- Frames are the files with an image extension (`ferx.io.IMAGE_EXTENSIONS`) in the folder, hidden ones
  (`.name`, macOS's `._name`) aside, or those
  a glob pattern matches, in natural order: `frame2.png` before `frame10.png`, whatever the padding.
- Frame index = position in that order; timestamp = index / fps. Image files carry no frame rate,
  so it is given (`fps`, default 30, the most common export rate).
- A frame that cannot be read (truncated, corrupt, not an image under an image name) is skipped
  and listed in `failed` with its index, file and reason; the frames around it keep their indices
  and timestamps, so the gap is visible in the rows.
"""

from __future__ import annotations

import glob
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ferx.errors import ImageReadError, NoImagesError
from ferx.io import IMAGE_EXTENSIONS, load_image
from ferx.types import Frame
from ferx.video.decode import FpsGate, Sampling, VideoInfo, prefetched

#: Frame rate of a sequence when none is given.
DEFAULT_FPS = 30.0

_DIGITS = re.compile(r"(\d+)")
_GLOB_CHARS = frozenset("*?[")


class ImageSequenceError(NoImagesError):
    """An image sequence cannot be read at all: no such folder, no image files, none readable."""


@dataclass(frozen=True)
class FailedFrame:
    """A frame of a sequence that could not be read (it has no rows; the others keep theirs)."""

    index: int
    file: str
    reason: str


def natural_key(path: Path) -> tuple[tuple[tuple[int, object, str], ...], ...]:
    """Sort key for frame files: runs of digits compare as numbers (`frame2` < `frame10`).

    Each folder level is compared in turn, text without regard to case. Ties (`01` and `1`,
    `A` and `a`) are broken by the exact text, so the order never depends on the file system's.
    """
    def part(name: str) -> tuple[tuple[int, object, str], ...]:
        # re.split with a group alternates text, digits, text, …: odd positions are numbers.
        return tuple((0, int(t), t) if k % 2 else (1, t.lower(), t) for k, t in enumerate(_DIGITS.split(name)))

    return tuple(part(p) for p in path.parts)


def find_frames(path: str | os.PathLike[str]) -> list[Path]:
    """The frame files of a folder (its own files, not subfolders) or of a glob pattern (`**`
    recurses), with an image extension, in natural order. Raises ImageSequenceError when there
    are none."""
    p = Path(path)
    text = os.fspath(path)
    if p.is_dir():
        found = [f for f in p.iterdir() if f.is_file()]
    elif p.exists():
        raise ImageSequenceError(f"{p}: is a file; an image sequence is a folder of frames or a glob pattern"
                                 " (quote it, e.g. 'frames/*.png', so that the shell does not expand it)")
    elif _GLOB_CHARS & set(text):
        found = [Path(f) for f in glob.glob(text, recursive=True) if os.path.isfile(f)]
    else:
        raise ImageSequenceError(f"{p}: no such folder")
    # hidden files are no frames (macOS writes `._0001.png` beside `0001.png`; each shifted every index)
    frames = sorted((f for f in found if f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith(".")),
                    key=natural_key)
    if not frames:
        others = f" ({len(found)} other file(s))" if found else ""
        what = "folder holds" if p.is_dir() else "pattern matches"
        raise ImageSequenceError(f"{p}: {what} no image files{others}; image extensions: "
                                 f"{', '.join(sorted(IMAGE_EXTENSIONS))}")
    return frames


class ImageSequence:
    """A folder of frames (or a glob pattern) read as one video: iterate it for `Frame`s.

    Args:
        path: a folder (its files with an image extension are the frames) or a glob pattern such
            as `"shots/take1_*.jpg"` (`**` searches subfolders).
        fps: frames per second, for the timestamps (index / fps); default 30.

    Opening lists the files and decodes the first readable one (for `info`); iterating decodes one
    frame at a time. After the iteration, `failed` lists the frames that could not be read (in
    order); `stopped` is always None (a sequence has no "rest of the file" to lose).

    Passed to `Analyzer.analyze_video` or `process_video`, the VideoConfig's sampling (`every`,
    `fps`, `start`, `end`) applies, and frames are read ahead in a background thread.

    Raises (when opened):
        ImageSequenceError: no such folder, no image files, a plain file given, or no file readable.
        ValueError: fps not a positive number.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float | None = None) -> None:
        fps = DEFAULT_FPS if fps is None else float(fps)
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps}")
        self.path = Path(path)
        self.fps = fps
        self.files = find_frames(path)
        self.failed: list[FailedFrame] = []
        self.stopped: str | None = None
        self.decoded = 0
        self.yielded = 0
        self.info = self._info()

    @property
    def name(self) -> str:
        """The sequence's name: its folder's (the pattern's folder for a glob)."""
        folder = self.path if self.path.is_dir() else Path(os.path.dirname(self.path) or ".")
        while _GLOB_CHARS & set(folder.name):
            folder = folder.parent
        return folder.resolve().name or "sequence"

    def _info(self) -> VideoInfo:
        # The size of the first frame that reads; frames of other sizes are fine (the tracker
        # treats a size change as a scene cut).
        first_error = None
        for f in self.files:
            try:
                height, width = load_image(f).shape[:2]
                break
            except ImageReadError as e:
                first_error = first_error or e
        else:
            raise ImageSequenceError(f"{self.path}: none of its {len(self.files)} image file(s) can be read"
                                     f" (first: {first_error})")
        n = len(self.files)
        return VideoInfo(
            path=str(self.path),
            container="image sequence",
            codec=",".join(sorted({f.suffix.lower().lstrip(".") for f in self.files})),
            width=width,
            height=height,
            rotation=0,
            fps=self.fps,
            frames=n,
            duration=n / self.fps,
            audio_codec=None,
        )

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def frames(self, sampling: Sampling | None = None, *, prefetch: int = 0) -> Iterator[Frame]:
        """The frames `sampling` keeps (default: all), decoded `prefetch` ahead in a background
        thread (0: none). Files that the sampling skips are not read."""
        return prefetched(self._frames(sampling or Sampling()), prefetch)

    def _frames(self, s: Sampling) -> Iterator[Frame]:
        self.failed, self.decoded, self.yielded = [], 0, 0  # each iteration reports its own
        first = math.ceil(s.start * self.fps - 1e-6) if s.start else 0
        gate = FpsGate(s.fps, s.start)
        for i in range(first, len(self.files)):
            t = i / self.fps
            if s.end is not None and t >= s.end:
                return
            if (i - first) % s.every:
                continue
            if not gate.keep(t):
                continue
            file = self.files[i]
            self.decoded += 1
            try:
                image = load_image(file)
            except ImageReadError as e:
                # One bad file must not end the sequence: the frame is listed and skipped.
                reason = str(e).removeprefix(f"{file}: ")
                self.failed.append(FailedFrame(i, str(file), reason))
                continue
            self.yielded += 1
            yield Frame(image, source=str(file), index=i, timestamp=t)

    def close(self) -> None:
        """Nothing to release (files are opened one at a time); for symmetry with VideoReader."""


__all__ = ["DEFAULT_FPS", "FailedFrame", "ImageSequence", "ImageSequenceError", "find_frames", "natural_key"]
