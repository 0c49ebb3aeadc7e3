"""Export a trained run to ONNX with a model card, and check it against PyTorch.

    python -m ferx.train.export RUN_DIR --name ferplus-resnet-guided [--out models]

Writes NAME.onnx (inputs: `image` (B, 1, 48, 48) float in [-1, 1]; outputs: `probs` (B, C),
`cam` (B, C, h, w), `attention` (B, h', w')) and NAME.json (labels, input convention, crop template,
training config and metrics, sha256 of the .onnx), the metadata ferx's `onnx-classifier` reads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ferx.facecrop import SIZE, TEMPLATE
from ferx.train.classifier import load_run_model
from ferx.train.harness import INPUT_NORMALISATION
from ferx.train.onnx_export import export_onnx


class _Export(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.model(image)
        return torch.softmax(out["logits"], dim=1), out["cam"], out["attention"]


def export(run: Path, name: str, out_dir: Path) -> Path:
    model, config, labels = load_run_model(run)
    # the label prior the model learnt, saved by training (runs from before it have none)
    train_prior = torch.load(Path(run) / "best.pt", map_location="cpu", weights_only=False).get("train_prior")
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{name}.onnx"
    dummy = torch.zeros(1, model.in_channels, SIZE, SIZE)
    export_onnx(
        _Export(model).eval(), (dummy,), onnx_path, input_names=["image"],
        output_names=["probs", "cam", "attention"],
        dynamic_axes={"image": {0: "batch"}, "probs": {0: "batch"}, "cam": {0: "batch"}, "attention": {0: "batch"}},
        opset_version=17,
    )
    report_path = Path(run) / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    meta = {
        "name": name,
        "labels": list(labels),
        "input": {"size": SIZE, "channels": model.in_channels, "grey": model.in_channels == 1,
                  "normalise": INPUT_NORMALISATION, "template_outer_eye_corners": TEMPLATE.tolist()},
        "outputs": ["probs", "cam", "attention"],
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "train_config": asdict(config),
        # the label prior the model learnt (target frequencies × class weights), for `prior: uniform`
        **({"train_prior": train_prior} if train_prior else {}),
        # n of n_split: a report written right after a run with max_eval covers part of the test split
        "test_metrics": {k: report.get(k) for k in ("dataset", "accuracy", "macro_f1", "cam_cos", "att_cos", "n",
                                                    "n_split", "per_class_recall")},
    }
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=1))
    return onnx_path


def parity(run: Path, onnx_path: Path, images: np.ndarray) -> float:
    """Largest |probability difference| between PyTorch and onnxruntime on (B, 1, 48, 48) float images."""
    import onnxruntime as ort

    model, _, _ = load_run_model(run)
    with torch.no_grad():
        ref = torch.softmax(model(torch.from_numpy(images))["logits"], 1).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(["probs"], {"image": images})[0]
    return float(np.abs(ref - got).max())


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m ferx.train.export")
    ap.add_argument("run", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", type=Path, default=Path("models"), help="folder for NAME.onnx and NAME.json "
                    "(default ./models; ferx's shipped model lives in src/ferx/assets/models)")
    args = ap.parse_args()
    path = export(args.run, args.name, args.out)
    test = json.loads(path.with_suffix(".json").read_text())["test_metrics"]
    if test.get("n_split") and test["n"] != test["n_split"]:
        print(f"note: test_metrics cover {test['n']} of {test['n_split']} test images (the run's max_eval); "
              f"`ferx eval {args.run}` evaluates them all into report.json, then export again")
    rng = np.random.default_rng(0)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); max |Δp| vs PyTorch on noise: "
          f"{parity(args.run, path, rng.uniform(-1, 1, (8, 1, SIZE, SIZE)).astype(np.float32)):.2e}")


if __name__ == "__main__":
    main()
