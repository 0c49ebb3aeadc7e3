"""The AU layer's training side, one module per job:

- `config` — `AUTrainConfig` (no torch);
- `data` — FER+ faces as the analyzer reads them, with movement or expression-prior targets (no torch);
- `model` — `AUHeadNet`, the region-restricted heads (architecture "au-heads");
- `task` — the harness task, `train`, `load_run_model`;
- `export` — ONNX + sidecar;
- `calibration` — the per-AU readings fitted and graded on FACS-coded faces (numpy, no torch);
- `__main__` — `python -m ferx.train.aus train | export | calibrate`.

Names are re-exported lazily, so importing the package (or its numpy-only modules) needs no torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "AUTrainConfig": "config", "split_tensors": "data", "prepare": "data", "AUHeadNet": "model",
    "AUTask": "task", "train": "task", "load_run_model": "task", "predict": "task",
    "write_onnx": "export", "sidecar": "export", "export_aus": "export",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"ferx.train.aus.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'ferx.train.aus' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
