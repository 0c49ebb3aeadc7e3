"""A LiteRT (TFLite) model whose input shape may change from call to call.

LiteRT re-plans memory whenever an input is resized, which costs more than a small inference
(measured ~15 ms per switch for the face detector at 608x800). Pyramid levels and face batches
change shape constantly, so this keeps one interpreter per input shape (a few, least recently used
dropped first) and re-uses it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np


class LiteRTModel:
    """Runs a .tflite flatbuffer held in memory; outputs are returned as copies, in model order.

    Args:
        content: the model file's bytes.
        threads: CPU threads per interpreter.
        max_shapes: how many input shapes keep an interpreter ready.
    """

    def __init__(self, content: bytes, threads: int = 2, max_shapes: int = 8) -> None:
        from ai_edge_litert.interpreter import Interpreter  # heavy import stays here

        self._factory = lambda: Interpreter(model_content=content, num_threads=threads)
        self.max_shapes = max_shapes
        self._by_shape: OrderedDict[tuple[int, ...], tuple[Any, int, list[int]]] = OrderedDict()
        probe = self._factory()
        self.input_shape = tuple(int(s) for s in probe.get_input_details()[0]["shape"])
        self.output_names = [d["name"] for d in probe.get_output_details()]

    def _get(self, shape: tuple[int, ...]) -> tuple[Any, int, list[int]]:
        entry = self._by_shape.get(shape)
        if entry is not None:
            self._by_shape.move_to_end(shape)
            return entry
        interp = self._factory()
        index = interp.get_input_details()[0]["index"]
        if shape != self.input_shape:
            interp.resize_tensor_input(index, shape)
        interp.allocate_tensors()
        entry = (interp, index, [d["index"] for d in interp.get_output_details()])
        self._by_shape[shape] = entry
        if len(self._by_shape) > self.max_shapes:
            self._by_shape.popitem(last=False)
        return entry

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        interp, index, outputs = self._get(tuple(int(s) for s in x.shape))
        interp.set_tensor(index, np.ascontiguousarray(x, dtype=np.float32))
        interp.invoke()
        return [interp.get_tensor(i).copy() for i in outputs]

    def close(self) -> None:
        self._by_shape.clear()
