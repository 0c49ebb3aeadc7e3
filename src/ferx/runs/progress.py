"""The one progress reporter of every run: a tqdm bar on stderr, silent when quiet."""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """A progress bar for `total` items (None: unknown), with a rate shown every few updates.

    Args:
        total: items expected.
        unit: what an item is ("img", "frame", "input").
        desc: a short label.
        quiet: no bar at all (`write` still prints what a caller asked for).
        min_total: below this many items no bar is drawn (one photo needs none).
    """

    def __init__(self, total: int | None, unit: str, *, desc: str | None = None, quiet: bool = False,
                 min_total: int = 1) -> None:
        from tqdm import tqdm

        self.done = 0
        self.unit = unit
        self._t0 = time.perf_counter()
        disabled = quiet or (total is not None and total < min_total)
        self._bar = tqdm(total=total, unit=unit, desc=desc, disable=disabled, file=sys.stderr, dynamic_ncols=True)

    def update(self, n: int = 1, **postfix: Any) -> None:
        """`n` more items done; `postfix` values are shown after the bar."""
        self.done += n
        self._bar.update(n)
        if postfix:
            self._bar.set_postfix(refresh=False, **postfix)

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


__all__ = ["Progress"]
