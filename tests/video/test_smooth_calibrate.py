"""Smoothing lowers jitter on the real talking-face clip without lagging onsets; per-person baselines."""

from __future__ import annotations

import numpy as np
import pytest

from ferx.video import CalibrationConfig, OneEuro, Sampling, SmoothingConfig
from ferx.video.smooth import OneEuroFilter, landmark_jitter
from tests.video.conftest import TALKING, clip, run_tracks


def _track1(frames, field):
    return np.array([getattr(tf.faces, field)[list(tf.track_ids).index(1)] for tf in frames if 1 in tf.track_ids])


@pytest.mark.slow  # measured 15–45 s on the loaded 2-core machine: CI runs it (make test-slow)
def test_smoothing_lowers_landmark_jitter_on_the_talking_clip(analyzer):
    raw = run_tracks(analyzer, clip(TALKING.name), smoothing=SmoothingConfig(enabled=False))
    smooth = run_tracks(analyzer, TALKING)
    j_raw, j_smooth = landmark_jitter(_track1(raw, "landmarks")), landmark_jitter(_track1(smooth, "landmarks"))
    assert j_raw / j_smooth > 2.0  # measured 2.6 (docs/video.md)
    # ...while staying on the face: smoothed points within 3 % of the eye-corner distance on average
    a, b = _track1(raw, "landmarks"), _track1(smooth, "landmarks")
    iod = np.linalg.norm(a[:, 33, :2] - a[:, 263, :2], axis=1).mean()
    assert np.linalg.norm(a[..., :2] - b[..., :2], axis=2).mean() / iod < 0.03
    probs = _track1(smooth, "expression")
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-3)
    au_jitter = [np.abs(np.diff(_track1(f, "aus"), 2, axis=0)).mean() for f in (smooth, raw)]
    assert au_jitter[0] < au_jitter[1]


def test_one_euro_follows_an_onset_within_a_frame():
    """A sudden AU onset (0 → 3 at 30 fps) with the default AU settings reaches more than half its
    height on the first frame and 90 % within three; at rest, noise is damped."""
    f = OneEuroFilter(SmoothingConfig().aus)
    t = np.arange(20) / 30
    out = [float(f(np.array([0.0 if i < 10 else 3.0]), ti)[0]) for i, ti in enumerate(t)]
    assert out[10] > 1.5 and out[12] > 2.7
    rng = np.random.default_rng(0)
    g = OneEuroFilter(OneEuro(min_cutoff=1.0, beta=0.0))
    noisy = 2 + 0.1 * rng.standard_normal(200)
    smoothed = np.array([g(np.array([v]), i / 30)[0] for i, v in enumerate(noisy)])
    assert smoothed[50:].std() < noisy[50:].std() / 2


def test_neutral_baseline_per_person(analyzer):
    """single_face.mp4: a neutral face, then a smile. Relative AUs are NaN until the baseline has
    its frames, then measured against the person's neutral frames: the smile's AU12 stays, resting
    AUs go to zero."""
    frames = run_tracks(analyzer, clip("single_face.mp4"), calibration=CalibrationConfig(enabled=True, min_frames=10))
    rel = np.array([tf.aus_relative[0] for tf in frames])
    raw = np.array([tf.faces.aus[0] for tf in frames])
    labels = [tf.faces.labels[0] for tf in frames]
    assert np.isnan(rel[:9]).all() and np.isfinite(rel[10:]).all()
    codes = list(frames[0].faces.au_codes)
    neutral = [i for i, lab in enumerate(labels) if lab == "neutral" and i >= 10]
    smiling = [i for i, lab in enumerate(labels) if lab == "happiness"]
    assert neutral and smiling
    assert np.nanmean(rel[neutral]) < np.nanmean(raw[neutral])  # resting AUs are taken out
    au12 = codes.index("AU12")
    # the smile reads band B (1.9 measured; C is the median of CK+'s posed peaks) and keeps it
    assert rel[smiling, au12].mean() > 1.5 and abs(rel[smiling, au12].mean() - raw[smiling, au12].mean()) < 0.5
    off = run_tracks(analyzer, clip("single_face.mp4"), sampling=Sampling(every=10))
    assert all(tf.aus_relative is None for tf in off)
