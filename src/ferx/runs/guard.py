"""The one interrupt guard of every run: SIGINT and SIGTERM end a run cleanly instead of killing it.

While a guard is entered (in the main thread; `signal.signal` works only there), the first SIGINT or
SIGTERM raises `Interrupted` at once, except

- inside `hold()`: a block that must finish whole (one image's outputs, a shard's commit) — the
  signal waits for the block to end, then raises;
- with `defer=True`: it only sets `stopping`, and the run stops at its next step (the dataset driver
  keeps the result in hand and commits it); a second signal then raises at once, not waiting.

After the first signal has been raised, and after `close()`, signals are ignored, so that the
clean-up (flushing rows, writing summary.json) is not cut short.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived (BaseException: no `except Exception` in a stage may eat it).

    Attributes:
        signum: the signal number.
        name: "SIGINT" or "SIGTERM" (or a reason given by the caller, e.g. "window closed").
    """

    def __init__(self, signum: int, name: str | None = None) -> None:
        self.signum = int(signum)
        self.name = name or signal.Signals(signum).name
        super().__init__(self.name)


class InterruptGuard:
    """See the module docstring. Use as a context manager; signal handlers are restored on exit."""

    def __init__(self, *, defer: bool = False) -> None:
        self.defer = defer
        self.pending: int | None = None
        self.fired: int | None = None  # the signal that ended the run
        self._old: dict[int, Any] = {}
        self._held = 0
        self._closed = False

    @property
    def stopping(self) -> bool:
        """A signal has arrived (deferred or held): the run should stop at its next step."""
        return self.pending is not None or self.fired is not None

    @property
    def signal_name(self) -> str | None:
        signum = self.fired or self.pending
        return None if signum is None else signal.Signals(signum).name

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._closed or self.fired is not None:
            return
        if self.pending is not None and self.defer and not self._held:
            self._raise(self.pending)  # a second signal: do not wait for the step to end
        if self._held or self.defer:
            self.pending = self.pending or signum
            return
        self._raise(signum)

    def _raise(self, signum: int) -> None:
        self.pending, self.fired = None, signum
        raise Interrupted(signum)

    def check(self) -> None:
        """Raise `Interrupted` for a signal that arrived while held (or deferred)."""
        if self.pending is not None and not self._closed and self.fired is None:
            self._raise(self.pending)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Signals wait until the block has ended (then `check()` raises them, unless deferred)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
        # Only on a normal exit: an error inside the block is reported first, the signal at the
        # next check().
        if not self._held and not self.defer:
            self.check()

    def close(self) -> None:
        """From now on signals are ignored (the run is cleaning up)."""
        self._closed = True


__all__ = ["SIGNALS", "InterruptGuard", "Interrupted"]
