"""The one progress reporter of every run: a tqdm bar on a terminal, a plain line now and then in a log,
silent when quiet."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

#: Seconds between two progress lines when stderr is not a terminal (a log file, a CI job, a pipe).
LOG_INTERVAL_S = 30.0


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed, or a stream object without a file behind it
        return False


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal: only there may a run redraw a line (a bar, a live status) with
    carriage returns; in a log those pile up into one endless line."""
    return _is_terminal(sys.stderr)


class Progress:
    """A progress bar for `total` items (None: unknown), with a rate shown every few updates.

    On a terminal this is a tqdm bar. Anywhere else a bar's carriage-return redraws pile up into one
    endless line (a 10-minute video wrote thousands of them into a log), so the progress is a plain
    line every `interval` seconds instead: "desc: 120/472 frame (25 %), 41.3 frame/s, 8 s left".

    Args:
        total: items expected.
        unit: what an item is ("img", "frame", "input").
        desc: a short label.
        quiet: no bar and no lines at all (`write` still prints what a caller asked for).
        min_total: below this many items no bar is drawn (one photo needs none).
        interval: seconds between progress lines when stderr is not a terminal (default
            `LOG_INTERVAL_S`, read when the bar is made).
    """

    def __init__(self, total: int | None, unit: str, *, desc: str | None = None, quiet: bool = False,
                 min_total: int = 1, interval: float | None = None) -> None:
        from tqdm import tqdm

        self.done = 0
        self.total, self.unit, self.desc = total, unit, desc
        self._t0 = self._last_line = time.perf_counter()
        self.interval = LOG_INTERVAL_S if interval is None else interval
        hidden = quiet or (total is not None and total < min_total)
        self.lines = not hidden and not stderr_is_terminal()
        self._bar = tqdm(total=total, unit=unit, desc=desc, disable=hidden or self.lines, file=sys.stderr,
                         dynamic_ncols=True)

    def update(self, n: int = 1, **postfix: Any) -> None:
        """`n` more items done; `postfix` values are shown after the bar."""
        self.done += n
        self._bar.update(n)
        if postfix:
            self._bar.set_postfix(refresh=False, **postfix)
        if self.lines and time.perf_counter() - self._last_line >= self.interval:
            self._last_line = time.perf_counter()
            print(self.line(), file=sys.stderr, flush=True)

    def line(self) -> str:
        """Where the run is, in one line (what a log gets instead of a bar)."""
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        rate = self.done / elapsed
        text = f"{self.desc or 'ferx'}: {self.done}"
        if self.total:
            text += f"/{self.total} {self.unit} ({100 * self.done / self.total:.0f} %)"
        else:
            text += f" {self.unit}"
        text += f", {rate:.1f} {self.unit}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", {(self.total - self.done) / rate:.0f} s left"
        return text

    def show_rate(self, every: int = 10) -> None:
        """Show items per second (every `every` items)."""
        if self.done % every == 0:
            rate = self.done / max(time.perf_counter() - self._t0, 1e-9)
            self._bar.set_postfix_str(f"{rate:.1f} {self.unit}/s", refresh=False)

    def write(self, message: str) -> None:
        """Print a line to stderr without breaking the bar."""
        self._bar.write(message, file=sys.stderr)

    def print(self, message: str) -> None:
        """Print a line of the run's own output (explanations) to stdout without breaking the bar."""
        self._bar.write(message, file=sys.stdout)

    def close(self) -> None:
        self._bar.close()


__all__ = ["LOG_INTERVAL_S", "Progress", "stderr_is_terminal"]
