"""The one run driver: every run — photos into a folder, a video, a large batch into a dataset — is an
engine that produces outcomes and a sink (an output layout) that writes them, driven by `drive`:

    sink.open()            check and prepare the output, before any model is loaded
    engine.start()         load the models; what they produce (`PipelineInfo`)
    sink.start(info)       what depends on the analyzer (the rows' columns); the work still to do
                           (a resumed run skips what is done)
    engine.run(work)       outcomes, one at a time: in this process, a process pool or Ray
    sink.write(outcome)    its files; the parts that must be whole run inside `guard.hold()`
    sink.finish(status)    summary.json; the status the run ends with (`ferx.runs.status`)

with one interrupt guard around all of it (`ferx.runs.guard`): SIGINT/SIGTERM end the run with status
"interrupted" and everything written so far consistent. `Aborted` from a sink ends it "aborted"
(the output keeps failing); any other exception is written to summary.json as "error", then re-raised.
`SetupError`s (an unusable output folder, other settings on resume) are raised before any work,
leaving the output as it was.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ferx.errors import FerxError
from ferx.runs.guard import InterruptGuard, Interrupted
from ferx.runs.status import RunStatus

if TYPE_CHECKING:
    from ferx.stages import PipelineInfo

S = TypeVar("S", bound=RunStatus)


class SetupError(FerxError):
    """A run cannot start: its output is unusable or was made with other settings (nothing done)."""


class Aborted(Exception):
    """The output keeps failing (a full disk, errors on every write): the run stops."""


class Sink(Protocol[S]):
    """An output layout being written (see the module docstring)."""

    def open(self) -> None: ...

    def start(self, info: PipelineInfo) -> Sequence[Any]: ...

    def write(self, outcome: Any, guard: InterruptGuard) -> None: ...

    def finish(self, status: RunStatus) -> S: ...

    def fail(self, status: RunStatus) -> None: ...

    def close(self) -> None: ...


class Engine(Protocol):
    """Where the analysis runs: turns the work into outcomes, in any order."""

    def start(self) -> PipelineInfo: ...

    def run(self, work: Sequence[Any]) -> Iterator[Any]: ...

    def close(self) -> None: ...


def drive(sink: Sink[S], engine: Engine, *, defer: bool = False) -> S:
    """Run `engine` into `sink` (module docstring). `defer`: a signal stops the run after the outcome
    in hand instead of at once (the dataset driver commits what arrived whole)."""
    t0 = time.perf_counter()
    status = RunStatus("complete")
    with InterruptGuard(defer=defer) as guard:
        try:
            try:
                with guard.hold():  # the output is set up whole, even on Ctrl-C
                    sink.open()
                info = engine.start()
                with guard.hold():
                    work = sink.start(info)
                _loop(sink, engine, work, guard)
                guard.check()  # a signal held while the last outcome was written
                if guard.stopping:
                    status = RunStatus("interrupted", signal=guard.signal_name)
            except Interrupted as e:
                status = RunStatus("interrupted", signal=e.name)
            except KeyboardInterrupt:
                status = RunStatus("interrupted", signal="SIGINT")
            except Aborted as e:
                status = RunStatus("aborted", reason=str(e))
            finally:
                guard.close()  # from here on, a signal must not cut the clean-up short
                engine.close()
        except SetupError:
            sink.close()
            raise
        except BaseException as e:
            try:  # a bug or a model problem: say so rather than leave "running"
                sink.fail(RunStatus("error", time.perf_counter() - t0, reason=f"{type(e).__name__}: {e}"))
            finally:
                sink.close()
            raise
        status.seconds = time.perf_counter() - t0
        try:
            return sink.finish(status)
        finally:
            sink.close()


def _loop(sink: Sink[Any], engine: Engine, work: Sequence[Any], guard: InterruptGuard) -> None:
    outcomes = engine.run(work)
    try:
        for outcome in outcomes:
            guard.check()
            sink.write(outcome, guard)
            if guard.stopping:
                break
    finally:
        if isinstance(outcomes, Generator):  # stop the engine's generator (and any read-ahead) now
            outcomes.close()


__all__ = ["Aborted", "Engine", "SetupError", "Sink", "drive"]
