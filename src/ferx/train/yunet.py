"""Make the YuNet file ferx ships from OpenCV Zoo's: the same graph and weights, with the declared
input and output shapes made symbolic so that onnxruntime runs it at any image size.

    python -m ferx.train.yunet face_detection_yunet_2023mar.onnx src/ferx/assets/yunet/face_detection_yunet_2023mar.onnx

The upstream file declares a 1×3×640×640 input and 640-px output sizes; onnxruntime refuses any
other input against those declarations, while the graph itself (its reshapes keep only batch and
channels) computes any size, which is how OpenCV's `FaceDetectorYN` runs it. Only the four numbers
of each declaration change; the nodes and initialisers are checked to be byte-identical, and the
rewritten model's outputs at 640×640 to equal the original's. Needs `onnx` (the `train` extra).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from ferx.fsutil import atomic_write_bytes

UPSTREAM_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"


def make_dynamic(source: Path, out: Path) -> str:
    """Writes the symbolic-shape copy of `source` (which must be the upstream file) to `out`; returns
    the copy's sha256."""
    import onnx
    import onnxruntime as ort

    data = source.read_bytes()
    if hashlib.sha256(data).hexdigest() != UPSTREAM_SHA256:
        raise SystemExit(f"{source}: not OpenCV Zoo's face_detection_yunet_2023mar.onnx (sha256 differs)")
    model = onnx.load_from_string(data)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in model.graph.output:
        output.type.tensor_type.shape.dim[1].dim_param = "cells"
    del model.graph.value_info[:]  # intermediate shapes were inferred at 640 px
    original = onnx.load_from_string(data)
    if ([n.SerializeToString() for n in model.graph.node] != [n.SerializeToString() for n in original.graph.node]
            or [t.SerializeToString() for t in model.graph.initializer]
            != [t.SerializeToString() for t in original.graph.initializer]):
        raise SystemExit("the rewrite changed the graph's nodes or weights")
    new = model.SerializeToString()
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 640, 640)).astype(np.float32)
    a = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"input": x})
    rewritten = ort.InferenceSession(new, providers=["CPUExecutionProvider"])
    if not all(np.array_equal(p, q) for p, q in zip(a, rewritten.run(None, {"input": x}))):
        raise SystemExit("the rewritten model's outputs differ from the original's at 640×640")
    rewritten.run(None, {"input": x[:, :, :480]})  # the point of the rewrite: another size runs
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, new)
    return hashlib.sha256(new).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", type=Path, help="OpenCV Zoo's face_detection_yunet_2023mar.onnx")
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    print(make_dynamic(args.source, args.out))


if __name__ == "__main__":
    main()
