import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")


def test_onnx_matches_pytorch_on_real_faces(tmp_path):
    import yaml

    from ferx.data.readers import open_dataset
    from ferx.train.data import grey48
    from ferx.train.export import export, parity
    from ferx.train.classifier import ClassifierTrainConfig
    from ferx.train.models import create_model
    from tests.conftest import SHARED

    if not (SHARED / "ferplus").exists():
        pytest.skip("no FER+ data")
    run = tmp_path / "run"
    run.mkdir()
    torch.manual_seed(0)
    model = create_model("resnet-fer", num_classes=8).eval()
    from dataclasses import asdict

    torch.save({"model": model.state_dict(), "config": asdict(ClassifierTrainConfig()), "label_set": tuple("abcdefgh")}, run / "best.pt")
    (run / "config.yaml").write_text(yaml.safe_dump(asdict(ClassifierTrainConfig())))
    # a report written right after a run with max_eval covers part of the test split: the card says so
    (run / "report.json").write_text('{"dataset": "ferplus:majority/test", "accuracy": 0.5, "n": 16, "n_split": 3137}')
    path = export(run, "tmp-model", tmp_path / "models")
    import json

    test = json.loads(path.with_suffix(".json").read_text())["test_metrics"]
    assert (test["n"], test["n_split"]) == (16, 3137)
    samples = open_dataset(SHARED / "ferplus", "test").samples[:16]
    images = np.stack([grey48(s.path) for s in samples])[:, None].astype(np.float32) / 127.5 - 1
    assert parity(run, path, images) < 1e-4

    from ferx.expression.onnx_classifier import model_files

    onnx_path, meta = model_files(str(path))
    assert meta["labels"] == list("abcdefgh") and meta["input"]["size"] == 48
    path.write_bytes(path.read_bytes() + b"tampered")
    from ferx.errors import ModelFileError

    with pytest.raises(ModelFileError, match="does not match"):
        model_files(str(path))


def test_the_export_prints_no_exporter_deprecation_notice_and_keeps_other_warnings(tmp_path):
    """`python -m ferx.train.export` printed PyTorch's DeprecationWarning about its TorchScript-based
    exporter, which ferx uses on purpose; only that notice is silenced, and the parity check still runs."""
    import subprocess
    import sys
    import warnings
    from dataclasses import asdict

    from ferx.train.classifier import ClassifierTrainConfig
    from ferx.train.models import create_model
    from ferx.train.onnx_export import export_onnx
    from tests.conftest import ROOT

    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model": create_model("resnet-fer", num_classes=8).state_dict(), "config": asdict(ClassifierTrainConfig()),
                "label_set": tuple("abcdefgh")}, run / "best.pt")
    # -W default: DeprecationWarnings shown wherever they come from, as a developer's session shows them
    done = subprocess.run([sys.executable, "-W", "default", "-m", "ferx.train.export", str(run), "--name", "m", "--out",
                           str(tmp_path / "models")], capture_output=True, text=True, cwd=ROOT,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT / "src")}, check=True)
    assert "legacy TorchScript-based ONNX export" not in done.stderr, done.stderr
    assert "max |Δp| vs PyTorch on noise" in done.stdout  # the export's own check

    class Warns(torch.nn.Module):
        def forward(self, x):
            warnings.warn("another deprecation", DeprecationWarning)
            return x + 1

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_onnx(Warns(), (torch.zeros(1, 2),), tmp_path / "w.onnx", opset_version=17)
    said = [str(w.message) for w in caught]
    assert "another deprecation" in said and not any("legacy TorchScript-based" in s for s in said), said
