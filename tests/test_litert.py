"""The LiteRT interpreter pool: shared by threads, idle memory bounded by a budget."""

import threading

import numpy as np
import pytest

from ferx.assets import face_landmarker_member
from ferx.errors import ClosedError
from ferx.litert import LiteRTModel


@pytest.fixture()
def model():
    m = LiteRTModel(face_landmarker_member("face_detector.tflite"), threads=1, max_idle=4,
                    max_idle_elements=3 * 256 * 256 * 3)
    yield m
    m.close()


def test_idle_interpreters_stay_within_the_budget_whatever_the_shapes(model):
    rng = np.random.default_rng(0)
    for k in range(40):  # 40 distinct shapes, most larger than the whole budget allows twice
        h, w = 16 * int(rng.integers(8, 40)), 16 * int(rng.integers(8, 40))
        model(np.zeros((1, h, w, 3), np.float32))
        stats = model.idle_stats()
        assert stats["interpreters"] <= 4 and stats["elements"] <= 3 * 256 * 256 * 3
    assert model.idle_stats()["interpreters"] >= 1  # small shapes are kept for reuse


def test_threads_get_their_own_interpreters_and_sequential_results(model):
    rng = np.random.default_rng(1)
    inputs = [rng.uniform(-1, 1, (1, 128, 128 + 16 * (k % 3), 3)).astype(np.float32) for k in range(12)]
    expected = [model(x) for x in inputs]
    errors, mismatches = [], []

    def work(offset):
        for j in range(30):
            k = (j + offset) % len(inputs)
            try:
                out = model(inputs[k])
                if not all(np.array_equal(a, b) for a, b in zip(out, expected[k])):
                    mismatches.append(k)
            except Exception as e:  # pragma: no cover - the failure this test guards against
                errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(t * 5,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and mismatches == []


def test_a_closed_model_raises(model):
    model.close()
    with pytest.raises(ClosedError):
        model(np.zeros((1, 128, 128, 3), np.float32))


def test_the_delegate_line_of_tflite_stays_off_stderr(tmp_path):
    """TFLite printed "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on every run, -q or
    not; stderr works as before once the first interpreter is made."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT, lfw_paths

    code = ("import sys; from ferx import Analyzer\n"
            "with Analyzer() as a: a.analyze(sys.argv[1])\n"
            "print('still here', file=sys.stderr)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", code, str(lfw_paths("happiness", 1)[0])], capture_output=True,
                          text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "XNNPACK" not in done.stderr and done.stderr.strip() == "still here"
