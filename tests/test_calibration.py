"""Temperature scaling and calibration measures (ferx.calibration)."""

import numpy as np
import pytest

from ferx.calibration import (apply_temperature, expected_calibration_error, fit_temperature, log_probs, nll,
                              reliability_diagram, softmax)


def _draw(rng, p):
    u = rng.random((len(p), 1))
    return np.minimum((u > p.cumsum(1)).sum(1), p.shape[1] - 1)


def test_fit_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 4, (20000, 8))
    labels = _draw(rng, softmax(z, 2.5))
    t = fit_temperature(z, labels)
    assert abs(t - 2.5) < 0.1, t
    assert nll(softmax(z, t), labels) < nll(softmax(z), labels)


def test_fit_on_log_probs_equals_fit_on_logits():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 3, (3000, 5))
    labels = _draw(rng, softmax(z, 0.7))
    t_logits, t_logp = fit_temperature(z, labels), fit_temperature(log_probs(softmax(z)), labels)
    assert t_logits == pytest.approx(t_logp, rel=1e-3)
    np.testing.assert_allclose(apply_temperature(softmax(z), t_logits), softmax(z, t_logits), atol=1e-9)


def test_temperature_keeps_argmax_and_rows_sum_to_one():
    rng = np.random.default_rng(2)
    p = softmax(rng.normal(0, 3, (500, 8)))
    q = apply_temperature(p, 1.8)
    np.testing.assert_array_equal(q.argmax(1), p.argmax(1))
    np.testing.assert_allclose(q.sum(1), 1, atol=1e-12)
    assert (q.max(1) <= p.max(1) + 1e-12).all()  # T > 1 softens


def test_ece_of_calibrated_data_is_near_zero():
    rng = np.random.default_rng(3)
    p = softmax(rng.normal(0, 2, (50000, 4)))
    labels = _draw(rng, p)  # labels drawn from the predicted distribution: calibrated by construction
    assert expected_calibration_error(p, labels) < 0.01
    over = apply_temperature(p, 0.5)  # sharpened: over-confident
    assert expected_calibration_error(over, labels) > 0.05


def test_ece_by_hand():
    # top-label confidences 0.9 (right), 0.9 (right), 0.6 (wrong), 0.55 (right).
    # 2 bins: (0, 0.5] empty; (0.5, 1] holds all four: mean confidence 0.7375, accuracy 3/4 → 0.0125
    p = np.array([[0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.45, 0.55]])
    y = np.array([0, 1, 1, 1])
    assert expected_calibration_error(p, y, bins=2) == pytest.approx(abs(0.75 - 0.7375))
    # 10 bins: {0.9, 0.9}: accuracy 1, |1 − 0.9| · 2/4; {0.6 wrong, 0.55 right} in (0.5, 0.6]:
    # confidence 0.575, accuracy 0.5, |0.5 − 0.575| · 2/4
    assert expected_calibration_error(p, y, bins=10) == pytest.approx(0.1 * 0.5 + 0.075 * 0.5)
    assert nll(p, y) == pytest.approx(-np.mean(np.log([0.9, 0.9, 0.4, 0.55])))


def test_reliability_diagram_writes_a_png(tmp_path):
    rng = np.random.default_rng(4)
    p = softmax(rng.normal(0, 3, (400, 8)))
    y = _draw(rng, p)
    out = reliability_diagram(p, y, tmp_path / "r.png", title="t", others={"T=2": apply_temperature(p, 2)})
    assert out.stat().st_size > 1000 and out.read_bytes()[:4] == b"\x89PNG"
