"""Cost of wider / deeper classifier variants before any of them is trained (issue 14: "a wider or
deeper registry variant that keeps ≤ 2 ms per face on one thread").

Each candidate (a registered architecture with `model_options`) is built with random weights,
exported exactly as `ferx.train.export` exports a run (probabilities, CAM and attention outputs,
opset 17) and timed on onnxruntime with one thread, one 48×48 face per call (the way
`onnx-classifier` runs a frame's faces one by one is the worst case), median of `--calls` calls
after 50 warm-up calls. Parameters and multiply-accumulates (torch's FlopCounterMode) are counted
on the torch module. Run it on an idle machine: the figures are times.

    python benchmarks/bench_classifier_variants.py [--calls 2000] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ferx.train.models import create_model

#: (label, architecture, options): the shipped network first, then wider, deeper and both.
CANDIDATES: list[tuple[str, str, dict]] = [
    ("resnet-fer (shipped)", "resnet-fer", {}),
    ("wider ×1.33", "resnet-fer", {"widths": (32, 48, 96, 160)}),
    ("wider ×1.5", "resnet-fer", {"widths": (32, 48, 96, 192)}),
    ("wider ×2", "resnet-fer", {"widths": (32, 64, 128, 256)}),
    ("deeper 3-3-3", "resnet-fer", {"blocks": (3, 3, 3)}),
    ("wider ×1.5, deeper 2-3-2", "resnet-fer", {"widths": (32, 48, 96, 192), "blocks": (2, 3, 2)}),
]


def macs(model: torch.nn.Module) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, 48, 48))
    return counter.get_total_flops() / 2


def onnx_ms(model: torch.nn.Module, calls: int) -> float:
    import onnxruntime as ort

    from ferx.train.export import _Export

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        torch.onnx.export(_Export(model).eval(), (torch.zeros(1, 1, 48, 48),), str(path), input_names=["image"],
                          output_names=["probs", "cam", "attention"], opset_version=17, dynamo=False)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(-1, 1, (1, 1, 48, 48)).astype(np.float32)
    for _ in range(50):
        sess.run(None, {"image": x})
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        sess.run(None, {"image": x})
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rows = []
    print("| variant | options | parameters | MMACs | ms per face (1 thread) |")
    print("|---|---|---|---|---|")
    for label, arch, options in CANDIDATES:
        model = create_model(arch, **options).eval()
        row = {"variant": label, "architecture": arch, "options": {k: list(v) for k, v in options.items()},
               "parameters": int(sum(p.numel() for p in model.parameters())), "mmacs": macs(model) / 1e6,
               "ms_per_face": onnx_ms(model, args.calls)}
        rows.append(row)
        print(f"| {label} | {row['options'] or '–'} | {row['parameters'] / 1e6:.2f} M | {row['mmacs']:.1f} | "
              f"{row['ms_per_face']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
