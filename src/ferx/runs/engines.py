"""Engines of `ferx batch` (`ferx.runs.dataset`): where its analysis runs. Both take the inputs as (seq,
uri) pairs and yield Arrow tables of rows in the transport schema (`ferx.runs.worker`), each holding
whole inputs, in any order; every input comes back exactly once, as its rows or as a "failed" row.
Neither writes anything: the driver commits (`ferx.runs.store`), which is what makes the output
exactly-once whatever happens to a worker.

- `LocalEngine`: a process pool on this machine, one `ChunkAnalyzer` (models loaded once) per process.
- `RayEngine`: Ray Data `map_batches` over an actor pool, one `ChunkAnalyzer` per actor, on a local
  loopback cluster or an existing cluster (`address`).

A worker that dies (killed, out of memory, a crash in native code) loses only the chunks it had not
returned; they are run again. A chunk lost twice is split into single inputs, and an input lost
twice on its own is reported as failed ("WorkerDied"), so that one poisonous file cannot stop or
loop the run.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ferx.fsutil import printable
from ferx.runs.store import BulkError
from ferx.runs.worker import ChunkAnalyzer

if TYPE_CHECKING:
    from ferx.stages import PipelineInfo

Item = tuple[int, str]  # (seq, uri)
#: times a chunk (then a single input) may be lost with its worker before it is split (then failed)
MAX_ATTEMPTS = 2
#: pool restarts in a row with nothing finished in between before the run is stopped
MAX_FRUITLESS_RESTARTS = 5


def chunked(items: Sequence[Item], size: int) -> list[list[Item]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def lost_rows(items: Sequence[Item], why: str) -> Any:
    """Transport rows saying that these inputs were lost with their worker."""
    import pyarrow as pa

    rows = [{"_seq": s, "_rows": 1, "_status": "failed", "_error": "WorkerDied", "_message": why, "source": printable(u)}
            for s, u in items]
    return pa.Table.from_pylist(rows)


def check_analyzer(config: dict[str, Any]) -> PipelineInfo:
    """Build the analyzer once in the driver, so that a bad config or a missing model file stops the
    run with its own message before any worker starts (a worker would report it once per process or
    actor); returns what it produces."""
    from ferx.config import AnalyzerConfig
    from ferx.pipeline import Analyzer

    with Analyzer(AnalyzerConfig.from_dict(config)) as analyzer:
        return analyzer.describe()


def items_table(items: Sequence[Item]) -> Any:
    """Inputs as Arrow for the workers: `uri` as the rows name it (`printable`: Arrow strings are UTF-8, and
    a file name may hold bytes that are not), `uri_bytes` the name itself (os.fsencode), to open it by."""
    import pyarrow as pa

    return pa.table({"_seq": pa.array([s for s, _ in items], pa.int64()),
                     "uri": pa.array([printable(u) for _, u in items], pa.string()),
                     "uri_bytes": pa.array([os.fsencode(u) for _, u in items], pa.binary())})


# -- local process pool -------------------------------------------------------------------------------

_WORKER: ChunkAnalyzer | None = None
_INIT_ERROR: BaseException | None = None


#: How often a worker checks that its driver is still there (seconds).
PARENT_CHECK_S = 1.0


def _exit_with_parent(parent: int) -> None:
    """End this worker once the driver `parent` is gone. A driver killed with SIGKILL cannot stop its
    pool, and a worker blocked on the task queue would wait forever (it holds that queue's write end
    too, so it never sees end-of-file), with its models in memory and the resource tracker alive
    beside it: the orphan is re-parented, which this thread notices within PARENT_CHECK_S."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)  # nothing of this worker's is worth finishing: the driver commits, and it is gone

    threading.Thread(target=watch, name="ferx-parent-watch", daemon=True).start()


def _init_worker(config: dict[str, Any], options: dict[str, Any], threads: int, parent: int) -> None:
    global _WORKER, _INIT_ERROR
    _exit_with_parent(parent)
    # Ctrl-C reaches the whole process group; the driver decides what happens (it stops the pool).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _WORKER = ChunkAnalyzer(config, options, threads)
    except BaseException as e:  # noqa: BLE001 - raised by the first task, where the driver sees it
        _INIT_ERROR = e


def _work(items: list[Item]) -> Any:
    if _WORKER is None:
        raise _INIT_ERROR or RuntimeError("worker not initialised")
    return _WORKER(items_table(items))


def worker_pids(engine: Any) -> list[int]:
    """Process ids of a LocalEngine's workers (for tests and measurements)."""
    pool = getattr(engine, "_pool", None)
    procs = getattr(pool, "_processes", None) or {}
    return [p.pid for p in procs.values() if p.pid is not None]


@dataclass
class _Task:
    items: list[Item]
    attempts: int = 0


class LocalEngine:
    """A process pool keeping `workers` cores busy, at most `2 × workers` chunks in flight (bounded
    memory: results are taken as they finish and the next chunk is sent only then)."""

    name = "local"

    def __init__(self, config: dict[str, Any], options: dict[str, Any], *, workers: int, chunk: int) -> None:
        self.config, self.options = config, options
        self.workers, self.chunk = max(1, workers), max(1, chunk)
        # the cores shared out between the workers (each runs one input at a time)
        self.threads = max(1, (os.cpu_count() or 1) // self.workers)
        self._pool: Any = None

    def start(self) -> PipelineInfo:
        return check_analyzer(self.config)

    def _start(self) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # spawn: the driver may hold threads (tqdm, pyarrow); forking them is unsafe
        self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                         initargs=(self.config, self.options, self.threads, os.getpid()))

    def run(self, items: Sequence[Item]) -> Iterator[Any]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        queue = [_Task(c) for c in chunked(items, self.chunk)]
        queue.reverse()  # pop() from the end keeps the input order
        running: dict[Any, _Task] = {}
        fruitless = 0
        self._start()
        try:
            while queue or running:
                while queue and len(running) < 2 * self.workers:
                    task = queue.pop()
                    try:
                        running[self._pool.submit(_work, task.items)] = task
                    except BrokenProcessPool:
                        queue.append(task)
                        if running:  # their futures will report the break
                            break
                        # broken while idle (a worker killed between tasks): nothing else will say so
                        fruitless = self._restart(fruitless)
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                lost: list[_Task] = []
                for fut in finished:
                    task = running.pop(fut)
                    try:
                        table = fut.result()
                    except BrokenProcessPool:
                        lost.append(task)
                        continue
                    fruitless = 0
                    yield table
                if not lost:
                    continue
                # The pool is unusable once one worker died: every chunk still running is lost with it.
                lost.extend(running.values())
                running.clear()
                for task in lost:
                    task.attempts += 1
                    if task.attempts < MAX_ATTEMPTS:
                        queue.append(task)
                    elif len(task.items) > 1:  # run its inputs one by one to find the one that kills
                        queue.extend(_Task([item]) for item in reversed(task.items))
                    else:
                        fruitless = -1  # an input got its final answer: that is progress too
                        yield lost_rows(task.items, f"the worker process died {task.attempts} times while "
                                                    "analysing this input alone")
                fruitless = self._restart(fruitless)
        finally:
            self.close()

    def _restart(self, fruitless: int) -> int:
        """A new pool after a worker died; stops the run when that keeps happening with no progress."""
        fruitless += 1
        if fruitless > MAX_FRUITLESS_RESTARTS:
            raise BulkError(f"worker processes died {fruitless} times in a row without finishing anything")
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._start()
        return fruitless

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            procs = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:  # an interrupted run must not wait for chunks nobody will commit
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(timeout=10)


# -- Ray ------------------------------------------------------------------------------------------------

#: Longest wait for a TCP connection when checking that a cluster's address answers.
CONNECT_S = 10.0


def check_reachable(address: str | None, timeout: float = CONNECT_S) -> None:
    """Refuse, within `timeout` seconds and saying why, a Ray address nothing answers on: a private
    cluster needs loopback (127.0.0.1); HOST:PORT and ray://HOST:PORT need that port; "auto" needs a
    cluster to find, and that one to answer. Ray itself waits for ever on an address nothing answers
    on, printing only its own retries, and ends "auto" without a cluster in a ConnectionError
    traceback."""
    import socket

    if address in (None, "local"):
        try:
            with socket.socket() as server:
                server.bind(("127.0.0.1", 0))
                server.listen(1)
                with socket.create_connection(server.getsockname(), timeout=timeout):
                    pass
        except OSError as e:
            raise BulkError(f"--engine ray starts a private cluster on 127.0.0.1, but this machine's loopback "
                            f"interface does not answer ({e.strerror or e}); bring it up (ip link set lo up), "
                            "give --address of a running cluster, or use --engine local") from None
        return
    target = find_auto_cluster() if address == "auto" else address
    host, _, port = target.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        return  # other forms: Ray finds the cluster itself
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as e:
        where = "there" if target == address else f"at {target}"
        raise BulkError(f"--address {address}: nothing answers {where} ({e.strerror or e}); is the Ray cluster "
                        "running and reachable from this machine?") from None


def find_auto_cluster() -> str:
    """The address `ray.init(address="auto")` connects to: RAY_ADDRESS, else the cluster `ray start`
    last recorded on this machine, else a running one among its processes. Asked of Ray's own
    resolver, so that the check and `ray.init` agree; "auto" where this Ray has none (its private
    module moved): `ray.init` then finds the cluster, or fails, on its own.

    Raises:
        BulkError: there is no cluster to find.
    """
    try:
        from ray._private.services import canonicalize_bootstrap_address
    except ImportError:
        return "auto"
    try:
        return canonicalize_bootstrap_address("auto") or "auto"
    except ConnectionError:
        raise BulkError("--address auto: no running Ray cluster was found (RAY_ADDRESS names none, and none was "
                        "started on this machine with `ray start`); start one with `ray start --head`, give the address "
                        "of a running cluster, or drop --address to let this run start its own") from None


def quiet_ray() -> None:
    """Keep Ray's own log lines off a successful run's terminal: its C++ components (an error-level
    line about actor constructor arguments on every run, IP-detection warnings) unless the user set
    RAY_BACKEND_LOG_LEVEL, and Ray Data's start/finish lines. Failures still reach the run as
    exceptions, reported by ferx."""
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


class RayEngine:
    """Ray Data `map_batches` with an actor pool of `workers` actors (1 CPU each), `chunk` inputs
    per batch, at most 2 batches queued per actor (backpressure: Ray Data's streaming executor also
    stops reading inputs while outputs wait for the driver).

    Args:
        address: None or "local" for a fresh single-node cluster on 127.0.0.1 (stopped at the end);
            "auto" or "HOST:PORT" or "ray://HOST:10001" for an existing cluster (left running).
    """

    name = "ray"

    def __init__(self, config: dict[str, Any], options: dict[str, Any], *, workers: int | None, chunk: int,
                 address: str | None = None) -> None:
        self.config, self.options = config, options
        self.workers, self.chunk = workers, max(1, chunk)
        self.address = address
        self._started = False

    def start(self) -> PipelineInfo:
        check_reachable(self.address)  # seconds, before any model is loaded
        return check_analyzer(self.config)

    def _connect(self) -> int:
        import ray

        if not ray.is_initialized():
            quiet_ray()
            if self.address in (None, "local"):
                # A private cluster on loopback only: nothing listens on other interfaces.
                kwargs: dict[str, Any] = dict(address="local", num_cpus=self.workers or os.cpu_count() or 1,
                                              include_dashboard=False, _node_ip_address="127.0.0.1",
                                              configure_logging=True)
            else:
                kwargs = dict(address=self.address)
            ray.init(logging_level=logging.ERROR, log_to_driver=False, **kwargs)
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        return max(1, min(self.workers or cpus, cpus))

    def run(self, items: Sequence[Item]) -> Iterator[Any]:
        size = self._connect()
        try:
            seen: set[int] = set()
            yield from self._pass(items, size, self.chunk, seen)
            # Inputs whose block failed for good (its actor died more often than Ray retries): once
            # more, one per batch, so that only the input that kills its worker is lost.
            missing = [it for it in items if it[0] not in seen]
            if missing:
                yield from self._pass(missing, size, 1, seen)
            lost = [it for it in items if it[0] not in seen]
            if lost:
                yield lost_rows(lost, "the Ray task analysing this input failed on every attempt (its actor "
                                      "died, or an error in ferx: see the Ray worker logs)")
        finally:
            self.close()

    def _pass(self, items: Sequence[Item], size: int, chunk: int, seen: set[int]) -> Iterator[Any]:
        import ray.data
        from ray.data import DataContext

        ctx = DataContext.get_current()
        ctx.enable_progress_bars = False  # the driver shows one bar for the whole run
        ctx.print_on_execution_start = False
        ctx.max_errored_blocks = -1  # a block that fails for good is skipped; its inputs are retried alone
        # One block per batch (up to ~2,000 blocks): every actor gets work, and a failed block loses
        # one batch. Larger inputs lists get several batches per block.
        per_block = chunk * max(1, math.ceil(len(items) / 2000 / chunk))
        blocks = [items_table(items[i:i + per_block]) for i in range(0, len(items), per_block)]
        ds = ray.data.from_arrow(blocks)
        with warnings.catch_warnings():
            # max_restarts / max_task_retries have no named parameter yet; Ray warns that such
            # arguments go away in 2.64, hence the upper bound of the `ray` extra.
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            ds = self._map(ds, size, chunk)
        quiet_ray()  # Ray Data configures its loggers when first used
        batches = iter(ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=1))
        while True:
            with warnings.catch_warnings():  # "the operator only received 1 input(s)…": fewer inputs than actors
                warnings.filterwarnings("ignore", message=".*minimum number of concurrent actors.*")
                batch = next(batches, None)
            if batch is None:
                return
            seen.update(batch.column("_seq").to_pylist())
            yield batch

    def _map(self, ds: Any, size: int, chunk: int) -> Any:
        from ray.data import ActorPoolStrategy

        return ds.map_batches(
            ChunkAnalyzer,
            fn_constructor_args=(self.config, self.options, 1),  # one thread: each actor holds one CPU
            batch_size=chunk,
            batch_format="pyarrow",
            compute=ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=2),
            num_cpus=1,
            max_restarts=-1,  # a killed actor is replaced (models loaded again)
            max_task_retries=MAX_ATTEMPTS,  # and its batch retried on the new actor
        )

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False


def make_engine(name: str, config: dict[str, Any], options: dict[str, Any], *, workers: int | None, chunk: int,
                address: str | None) -> LocalEngine | RayEngine:
    if name == "local":
        return LocalEngine(config, options, workers=workers or os.cpu_count() or 1, chunk=chunk)
    if name == "ray":
        try:
            import ray.data  # noqa: F401
        except ModuleNotFoundError:
            raise BulkError("the Ray engine needs Ray Data: pip install 'ferx[ray]'") from None
        return RayEngine(config, options, workers=workers, chunk=chunk, address=address)
    raise BulkError(f"unknown engine {name!r}; choose local or ray")


__all__ = ["LocalEngine", "RayEngine", "chunked", "make_engine", "worker_pids"]
