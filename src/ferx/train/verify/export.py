"""ONNX export of a trained verifier run: NAME.onnx + NAME.json (what the `face-verifier` stage reads).

The sidecar records the threshold (`threshold`: the face probability below which a face is rejected):
the run's own, chosen on the validation crops for its `recall`, or one given to `export` after a
validation measure (`benchmarks/bench_verifier.py`), with the run's validation record."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import torch

from ferx.facecrop import SIZE, TEMPLATE
from ferx.fsutil import atomic_write_text
from ferx.train.harness import INPUT_NORMALISATION
from ferx.train.onnx_export import export_onnx
from ferx.train.verify.task import load_run_model


class _Export(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(image))


def export_verifier(run: Path, name: str, out_dir: Path, threshold: float | None = None) -> Path:
    """NAME.onnx (input image (B, 1, 48, 48) in [-1, 1], output face probability (B,)) and NAME.json;
    `threshold` replaces the run's (chosen on validation data: say where in the run record)."""
    model, config, val = load_run_model(run)
    if threshold is not None and not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path, tmp = out_dir / f"{name}.onnx", out_dir / f".{name}.onnx.tmp"
    export_onnx(_Export(model).eval(), (torch.zeros(1, 1, SIZE, SIZE),), tmp, input_names=["image"],
                output_names=["face"], dynamic_axes={"image": {0: "batch"}, "face": {0: "batch"}}, opset_version=17)
    tmp.replace(onnx_path)  # a half-written model never stands under the real name
    meta = {"name": name, "kind": "face-verifier", "threshold": round(float(val["threshold"] if threshold is None else threshold), 4),
            "input": {"size": SIZE, "channels": 1, "grey": True, "normalise": INPUT_NORMALISATION,
                      "template_outer_eye_corners": TEMPLATE.tolist()},
            "outputs": ["face"], "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
            "parameters": int(sum(p.numel() for p in model.parameters())), "validation": val,
            "train_config": asdict(config)}
    atomic_write_text(out_dir / f"{name}.json", json.dumps(meta, indent=1) + "\n")
    return onnx_path
