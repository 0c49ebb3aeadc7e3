"""One status and exit-code rule for every run (`ferx analyze` on photos or a video, `ferx batch`).

A run ends "complete", "interrupted" (SIGINT/SIGTERM), "aborted" (the output kept failing),
"truncated" (a video ended early at a corrupt or cut frame; its rows so far are kept) or "error"
(an exception that is not about one input; it is re-raised after summary.json says so). Its exit
status: 0 complete with nothing failed, 1 inputs or frames failed or the run did not complete,
128 + the signal number when interrupted (130 SIGINT, 143 SIGTERM).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

STATUSES = ("running", "complete", "interrupted", "aborted", "truncated", "error")


def exit_code(status: str, signal_name: str | None, failures: int) -> int:
    """The exit status of a run (module docstring)."""
    if status == "interrupted":
        return 128 + (signal.SIGTERM if signal_name == "SIGTERM" else signal.SIGINT)
    return 1 if failures or status != "complete" else 0


@dataclass
class RunStatus:
    """What every run's summary says about how it ended; each output layout's summary extends it
    with its counts (`failures` is how many inputs or frames failed).

    Attributes:
        status: one of `STATUSES`.
        seconds: wall time of this run.
        signal: "SIGINT" or "SIGTERM" when interrupted.
        reason: why an aborted run stopped, or why a video ended early.
    """

    status: str
    seconds: float = 0.0
    signal: str | None = None
    reason: str | None = None

    @property
    def failures(self) -> int:
        return 0

    @property
    def exit_code(self) -> int:
        """0 complete with nothing failed, 1 failures or not complete, 130/143 SIGINT/SIGTERM."""
        return exit_code(self.status, self.signal, self.failures)


__all__ = ["STATUSES", "RunStatus", "exit_code"]
