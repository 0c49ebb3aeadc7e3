"""ONNX export of a trained AU-head run: NAME.onnx + NAME.json (the sidecar `ferx.aus.image_heads` reads).

Which AU reads the heads, and how, is not decided here: `python -m ferx.train.aus calibrate --heads
NAME.onnx` chooses it on FACS-coded faces (`ferx.train.aus.calibration`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ferx.aus.heads import GRID, HEAD_CODES
from ferx.facecrop import SIZE, TEMPLATE
from ferx.fsutil import atomic_write_text
from ferx.train.aus.data import K
from ferx.train.aus.task import load_run_model
from ferx.train.harness import INPUT_NORMALISATION
from ferx.train.onnx_export import export_onnx


class _Export(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(image, masks))


def write_onnx(model: nn.Module, onnx_path: Path) -> Path:
    """The model as ONNX: inputs image (B, 1, 48, 48) in [-1, 1] and masks (B, K, 12, 12); output probs (B, K)."""
    export_onnx(_Export(model).eval(), (torch.zeros(1, 1, SIZE, SIZE), torch.ones(1, K, GRID, GRID)),
                onnx_path, input_names=["image", "masks"], output_names=["probs"],
                dynamic_axes={"image": {0: "batch"}, "masks": {0: "batch"}, "probs": {0: "batch"}}, opset_version=17)
    return onnx_path


def sidecar(model: nn.Module, onnx_path: Path, **extra: Any) -> dict[str, Any]:
    """The sidecar keys every AU model has."""
    return {"name": onnx_path.stem, "kind": "au-heads", "aus": list(HEAD_CODES),
            "input": {"size": SIZE, "channels": 1, "grey": True, "normalise": INPUT_NORMALISATION,
                      "template_outer_eye_corners": TEMPLATE.tolist(), "mask_grid": GRID},
            "outputs": ["probs"], "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
            "parameters": int(sum(p.numel() for p in model.parameters())), **extra}


def export_aus(run: Path, name: str, out_dir: Path) -> Path:
    """NAME.onnx and NAME.json from RUN/best.pt."""
    model, config = load_run_model(run)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{name}.onnx"
    tmp = write_onnx(model, out_dir / f".{name}.onnx.tmp")
    tmp.replace(onnx_path)  # a half-written model never stands under the real name
    meta = sidecar(model, onnx_path, train_config=asdict(config))
    atomic_write_text(out_dir / f"{name}.json", json.dumps(meta, indent=1) + "\n")
    return onnx_path
