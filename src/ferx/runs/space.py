"""A full disk, the same way in every run: a write that fails for lack of space (or quota, or a
read-only file system) stops the run as "aborted" with the reason, instead of a traceback; and a few
kilobytes kept free from the start (`Reserve`) let the last summary.json be written even then.

A tryout filled a small disk under each command: the photo run ended "aborted" with its reason, while
a video run and `ferx batch` ended in a traceback and wrote no summary at all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ferx.fsutil import is_fatal_write
from ferx.fsutil import write_error_reason as reason

#: room kept for the last summary.json: a placeholder file of this size, deleted when the summary
#: cannot be written for lack of space, then the summary is written again (still atomically: the
#: temporary copy needs room too). Without it, whether the final summary fit depended on where the
#: disk happened to fill.
SUMMARY_RESERVE = 64 * 1024


class Reserve:
    """A placeholder file that keeps `size` bytes for the run's last summary."""

    def __init__(self, path: Path, size: int = SUMMARY_RESERVE) -> None:
        self.path, self.size = path, size

    def make(self) -> None:
        self.path.write_bytes(bytes(self.size))

    def release(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError:  # the folder itself is unusable (a file in its place): the run says so elsewhere
            pass

    def write(self, write: Callable[[], None]) -> None:
        """Run `write`; if the disk is full, give the reserve back and run it once more."""
        try:
            write()
        except OSError as e:
            if not is_fatal_write(e) or not self.path.exists():
                raise
            self.release()
            write()


__all__ = ["SUMMARY_RESERVE", "Reserve", "is_fatal_write", "reason"]
