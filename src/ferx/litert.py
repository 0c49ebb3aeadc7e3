"""A LiteRT (TFLite) model that threads can share and whose input shape may change from call to call.

Two facts about LiteRT shape what this does:
- An interpreter is not thread-safe (concurrent `invoke` calls raise "There is at least 1 reference
  to internal data…" or return another call's outputs), so a call takes an interpreter out of a pool
  for its own use and puts it back afterwards: threads never share one, and no lock is held while
  the model runs.
- Re-planning memory for a new input shape costs more than a small inference (~15 ms per switch for
  the face detector at 608×800), and an interpreter's arena grows with its input (the face detector:
  ~186 MB per megapixel of input). So idle interpreters are kept per input shape and reused, but
  only up to a budget of input elements and a count; the least recently used are dropped first,
  before a new one is built. Memory is then bounded whatever sequence of shapes arrives: by the
  budget, plus one interpreter per further thread in flight.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from ferx.errors import ClosedError


#: TFLite prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on stderr when the first
#: interpreter of a process allocates its tensors, whatever the log settings (TF_CPP_MIN_LOG_LEVEL does
#: not reach TFLite's own logger), and a run with -q showed it every time. So that one allocation
#: runs with file descriptor 2 pointed at /dev/null; the line is printed once per process, so no
#: later call needs this.
_DELEGATE_LOGGED = False
_DELEGATE_LOCK = threading.Lock()


def _allocate(interp: Any) -> None:
    global _DELEGATE_LOGGED
    if _DELEGATE_LOGGED:
        interp.allocate_tensors()
        return
    with _DELEGATE_LOCK:
        if _DELEGATE_LOGGED:
            interp.allocate_tensors()
            return
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
            interp.allocate_tensors()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            _DELEGATE_LOGGED = True


class _Entry:
    __slots__ = ("interp", "index", "outputs")

    def __init__(self, interp: Any, index: int, outputs: list[int]) -> None:
        self.interp, self.index, self.outputs = interp, index, outputs


class LiteRTModel:
    """Runs a .tflite flatbuffer held in memory; outputs are returned as copies, in model order.

    Safe to call from several threads at once; results are the same as sequential calls.

    Args:
        content: the model file's bytes.
        threads: CPU threads per interpreter.
        max_idle: most idle interpreters kept (over all shapes).
        max_idle_elements: most input elements (product of the input shape) summed over the idle
            interpreters kept; an interpreter whose input alone is larger is not kept.
    """

    def __init__(self, content: bytes, threads: int = 2, max_idle: int = 8, max_idle_elements: int = 12_000_000) -> None:
        from ai_edge_litert.interpreter import Interpreter  # heavy import stays here

        self._content, self._threads, self._interpreter_class = content, int(threads), Interpreter
        self.max_idle = int(max_idle)
        self.max_idle_elements = int(max_idle_elements)
        self._idle: OrderedDict[tuple[int, ...], list[_Entry]] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False
        probe = self._new_interpreter()
        self.input_shape = tuple(int(s) for s in probe.get_input_details()[0]["shape"])
        self.output_names = [d["name"] for d in probe.get_output_details()]

    def _new_interpreter(self) -> Any:
        return self._interpreter_class(model_content=self._content, num_threads=self._threads)

    def _create(self, shape: tuple[int, ...]) -> _Entry:
        interp = self._new_interpreter()
        index = interp.get_input_details()[0]["index"]
        if shape != self.input_shape:
            interp.resize_tensor_input(index, shape)
        _allocate(interp)
        return _Entry(interp, index, [d["index"] for d in interp.get_output_details()])

    def _take(self, shape: tuple[int, ...]) -> _Entry | None:
        with self._lock:
            if self._closed:
                raise ClosedError("this model was closed; create a new Analyzer")
            entries = self._idle.get(shape)
            if not entries:
                return None
            entry = entries.pop()
            if not entries:
                del self._idle[shape]
            return entry

    def _give_back(self, shape: tuple[int, ...], entry: _Entry) -> None:
        size = int(np.prod(shape))
        with self._lock:
            if self._closed or size > self.max_idle_elements:
                return
            self._idle.setdefault(shape, []).append(entry)
            self._idle.move_to_end(shape)
            self._trim(0)

    def _trim(self, incoming: int) -> None:
        """Drop the least recently used idle interpreters until `incoming` more input elements (and
        one more interpreter, if any are incoming) fit the budget. Holds the lock."""
        extra = 1 if incoming else 0
        while self._idle and (self._idle_count() + extra > self.max_idle
                              or self._idle_elements() + incoming > self.max_idle_elements):
            oldest = next(iter(self._idle))
            self._idle[oldest].pop(0)
            if not self._idle[oldest]:
                del self._idle[oldest]

    def _idle_count(self) -> int:
        return sum(len(v) for v in self._idle.values())

    def _idle_elements(self) -> int:
        return sum(int(np.prod(k)) * len(v) for k, v in self._idle.items())

    def idle_stats(self) -> dict[str, int]:
        """Idle interpreters and their summed input elements (for tests and diagnostics)."""
        with self._lock:
            return {"interpreters": self._idle_count(), "elements": self._idle_elements()}

    def _make_room(self, shape: tuple[int, ...]) -> None:
        """Before building an interpreter for `shape`, drop the least recently used idle ones that it
        will push out of the budget anyway, so that the process never holds both (the budget bounds
        the peak, not only what stays idle)."""
        with self._lock:
            self._trim(min(int(np.prod(shape)), self.max_idle_elements))

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        shape = tuple(int(s) for s in x.shape)
        entry = self._take(shape)
        if entry is None:
            self._make_room(shape)
            entry = self._create(shape)
        entry.interp.set_tensor(entry.index, np.ascontiguousarray(x, dtype=np.float32))
        entry.interp.invoke()
        outputs = [entry.interp.get_tensor(i).copy() for i in entry.outputs]
        self._give_back(shape, entry)
        return outputs

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._idle.clear()
