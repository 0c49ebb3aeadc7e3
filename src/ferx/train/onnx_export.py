"""`torch.onnx.export` as every ferx exporter calls it: the TorchScript-based exporter (`dynamo=False`),
without PyTorch's notice that this exporter is deprecated.

Why silence that one notice: ferx chooses this exporter on purpose and checks what it writes (each
exporter compares the ONNX model with PyTorch on inputs, and the sidecar records its sha256); the
notice names nothing the person exporting can change, so printed on every export it was noise. Every
other warning (a tracer warning about a shape, another deprecation) still reaches the user. Torch is
pinned (constraints/cpu.txt); a torch without this exporter fails the export tests, not silently.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

#: The start of PyTorch's DeprecationWarning for the TorchScript-based exporter (torch ≥ 2.9).
LEGACY_EXPORTER_NOTICE = r"You are using the legacy TorchScript-based ONNX export"


def export_onnx(model: torch.nn.Module, args: tuple[Any, ...], path: str | Path, **options: Any) -> None:
    """`torch.onnx.export(model, args, path, dynamo=False, **options)` with `LEGACY_EXPORTER_NOTICE`
    (only that warning) silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=LEGACY_EXPORTER_NOTICE, category=DeprecationWarning)
        torch.onnx.export(model, args, str(path), dynamo=False, **options)
