"""Export a one-pass detector run to ONNX with its JSON sidecar, and check it against PyTorch.

    ferx export-detector RUN_DIR --name onepass-nano-vss [--out models] [--size 640] [--conf 0.5]

NAME.onnx: input `image` (1, 1, S, S) float, grey scaled to [-1, 1] (x / 127.5 − 1), letterboxed
top-left onto a 114-grey square; outputs `p8`, `p16`, `p32`: raw maps (1, 5 + C, S/s, S/s) decoded
by `ferx.detect.onepass_decode` (numpy). NAME.json: kind, labels, input convention, strides, outputs,
keypoint template, model config, parameters, MACs, sha256, training config, test metrics.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ferx.detect.onepass_decode import PAD_VALUE
from ferx.train.onepass.train import load_run_model
from ferx.train.harness import INPUT_NORMALISATION
from ferx.train.onnx_export import export_onnx

OUTPUTS = ["p8", "p16", "p32"]


class _Export(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model(image))


def count_macs(model: torch.nn.Module, size: int) -> int:
    """Multiply–accumulates of one (1, C, size, size) forward pass: convolutions, linear layers and
    the scan's matrix products (torch's FlopCounterMode counts 2 FLOPs per MAC); element-wise
    operations are not counted, as is customary."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, model.in_channels, size, size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops() // 2)


def export_model(model: torch.nn.Module, path: Path, size: int) -> None:
    dummy = torch.zeros(1, model.in_channels, size, size)
    export_onnx(_Export(model).eval(), (dummy,), path, input_names=["image"], output_names=OUTPUTS, opset_version=17)


def export(run: Path, name: str, out_dir: Path, size: int = 640, box_cache: str | None = None,
           conf: float = 0.5) -> Path:
    model, state = load_run_model(run)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{name}.onnx"
    export_model(model, onnx_path, size)
    cache_path = Path(box_cache or state["config"]["data"]["box_cache"])
    template = json.loads(cache_path.read_text())["keypoint_template"]
    report_path = Path(run) / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    meta: dict[str, Any] = {
        "kind": "onepass-detector",
        "name": name,
        "architecture": state["model_name"],
        "paper": "Ma et al., FER-YOLO-Mamba, arXiv:2405.01828 (2024); YOLOX, arXiv:2107.08430",
        "labels": list(state["labels"]),
        "input": {"size": size, "channels": model.in_channels, "grey": model.in_channels == 1,
                  "normalise": INPUT_NORMALISATION, "letterbox": f"top-left, shrink to fit (smaller images keep their size), pad {PAD_VALUE}",
                  "batch": 1},
        "strides": [8, 16, 32],
        "outputs": OUTPUTS,
        "output_layout": "(1, 5 + C, S/stride, S/stride): dx, dy, log w, log h (stride units), objectness logit, class logits",
        "defaults": {"conf": conf, "nms_iou": 0.3},
        "defaults_note": f"NMS 0.3 (the paper's); conf {conf}: the paper's 0.5 unless a threshold chosen on "
                         "validation data is given (benchmarks/bench_onepass.py --choose --split val)",
        "keypoint_template": template,
        "keypoint_note": "keypoints are a mean template placed in each box (from the pipeline's lfw-expressions faces), not measured",
        "model_config": state["model_config"],
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "macs_at_input": count_macs(model, size),
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "train_config": state["config"],
        "best_epoch": state["epoch"] + 1,
        "val_metrics": {k: state["val"].get(k) for k in ("face_ap50", "face_ap50_95", "expression_map50")},
        "test_metrics": {k: report.get(k) for k in ("face_ap50", "face_ap50_95", "expression_map50",
                                                    "expression_map50_95", "at_conf", "mosaics")},
        "model_card": "docs/model-card-onepass.md",
        "licence": "weights: trained by ferx on FER+ (MIT labels; FER2013 pixels, research use) and "
                   "lfw-expressions photos (research collection) — see the model card",
    }
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=1))
    return onnx_path


def parity(model: torch.nn.Module, onnx_path: Path, x: np.ndarray) -> float:
    """Largest |difference| between PyTorch's and onnxruntime's raw maps on input x (1, C, S, S)."""
    import onnxruntime as ort

    with torch.no_grad():
        ref = [m.numpy() for m in model.eval()(torch.from_numpy(x))]
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(OUTPUTS, {"image": x})
    return float(max(np.abs(r - g).max() for r, g in zip(ref, got)))
