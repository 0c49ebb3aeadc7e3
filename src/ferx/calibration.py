"""Probability calibration: temperature scaling (Guo et al., ICML 2017) and its measures.

A classifier's scores `z` (logits, or log-probabilities: softmax is unchanged by a per-row shift,
so `softmax(log p / T)` equals `softmax(z / T)`) become `softmax(z / T)` with one scalar `T > 0`
fitted to minimise the negative log-likelihood of held-out labels. `T` does not change the argmax,
so accuracy is unchanged; `T > 1` softens over-confident outputs. numpy only (matplotlib for the
reliability diagram).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: log-probabilities of 0 are clipped here so that log p stays finite.
LOG_EPS = 1e-12


def softmax(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of `z / temperature` (float64)."""
    z = np.asarray(z, np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_probs(probs: np.ndarray) -> np.ndarray:
    """log p, clipped at LOG_EPS: usable as logits for temperature scaling."""
    return np.log(np.clip(np.asarray(probs, np.float64), LOG_EPS, None))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature-scaled probabilities from probabilities: softmax(log p / T)."""
    return softmax(log_probs(probs), temperature)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of integer labels under row-stochastic `probs`."""
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels, np.int64)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], LOG_EPS, None))))


def _nll_logits(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    logz = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(logz - z[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0),
                    tol: float = 1e-5) -> float:
    """The temperature T minimising the NLL of `labels` under softmax(logits / T).

    A golden-section search over log T in `bounds` (the NLL is unimodal in T for fixed logits).

    Args:
        logits: (N, C) logits or log-probabilities.
        labels: (N,) integer class indices.
        bounds: search interval for T.
        tol: stop when the interval in log T is narrower than this.
    """
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.int64)
    if logits.ndim != 2 or len(logits) != len(labels) or not len(labels):
        raise ValueError(f"need (N, C) logits and N labels; got {logits.shape} and {labels.shape}")
    f = lambda u: _nll_logits(logits, labels, float(np.exp(u)))  # noqa: E731
    a, b = np.log(bounds[0]), np.log(bounds[1])
    g = (np.sqrt(5.0) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return float(np.exp((a + b) / 2))


def _bins(probs: np.ndarray, labels: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per confidence bin (equal width on [0, 1]): count, mean confidence, accuracy."""
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels, np.int64)
    conf, correct = probs.max(axis=1), (probs.argmax(axis=1) == labels).astype(np.float64)
    idx = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)  # bin k holds (k/B, (k+1)/B]
    count = np.bincount(idx, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, conf, bins) / count
        acc = np.bincount(idx, correct, bins) / count
    return count, mean_conf, acc


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-label confidence: Σ_bins (n_b / N) · |accuracy_b − confidence_b|, with
    `bins` equal-width bins on [0, 1] (bin k holds confidences in (k/B, (k+1)/B])."""
    count, mean_conf, acc = _bins(probs, labels, bins)
    m = count > 0
    return float(np.sum(count[m] / count.sum() * np.abs(acc[m] - mean_conf[m])))


def reliability_diagram(probs: np.ndarray, labels: np.ndarray, path: Path | str, bins: int = 15,
                        title: str = "", others: dict[str, np.ndarray] | None = None) -> Path:
    """Plot accuracy against confidence per bin (and the bin counts) to a PNG.

    Args:
        probs, labels: the probabilities to plot and the true labels.
        path: output PNG.
        title: plot title.
        others: more named probability arrays for the same labels, drawn as extra curves (e.g.
            {"calibrated": p_cal}); `probs` is drawn as "raw" when given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {"raw" if others else "model": probs, **(others or {})}
    fig, (ax, axh) = plt.subplots(2, 1, figsize=(5.2, 6.4), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect")
    centres = (np.arange(bins) + 0.5) / bins
    for i, (name, p) in enumerate(series.items()):
        count, mean_conf, acc = _bins(p, labels, bins)
        m = count > 0
        ece = expected_calibration_error(p, labels, bins)
        ax.plot(mean_conf[m], acc[m], marker="o", ms=4, label=f"{name} (ECE {ece:.3f}, NLL {nll(p, labels):.3f})")
        axh.bar(centres + (i - (len(series) - 1) / 2) * 0.8 / bins / len(series), count, width=0.8 / bins / len(series),
                label=name)
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title, fontsize=9)
    axh.set_xlabel("confidence (top-label probability)")
    axh.set_ylabel("faces")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
