"""COCO-style average precision for face detection and per-expression detection (numpy only).

AP follows the COCO definition: detections of all images sorted by score; each is a true positive
when it overlaps a not-yet-matched ground-truth box of its class with IoU ≥ t (the best such box),
else a false positive; precision is made monotone (running maximum from the right) and read at
101 recall points 0, 0.01, …, 1 (0 beyond the last recall reached). mAP@0.5:0.95 averages
t = 0.50, 0.55, …, 0.95.

  * faces: class-agnostic; score = the detector's face score.
  * expressions: each detection carries its top label; score = face score × that label's
    probability; AP per label over images, "expression mAP" = mean over the labels that occur in
    the ground truth (so a label with no test faces neither helps nor hurts).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ferx.boxes import box_iou

IOU_THRESHOLDS = np.round(np.arange(0.5, 0.951, 0.05), 2)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


@dataclass
class Prediction:
    """One image's detections: boxes (K, 4) xyxy, face scores (K,), class probabilities (K, C)."""

    boxes: np.ndarray
    scores: np.ndarray
    probs: np.ndarray


def _match(pred_boxes: list[np.ndarray], pred_scores: list[np.ndarray], gt_boxes: list[np.ndarray],
           thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(D,) scores and (T, D) true-positive flags of all detections, and the number of ground truths."""
    scores, tps = [], []
    n_gt = 0
    for boxes, sc, gt in zip(pred_boxes, pred_scores, gt_boxes):
        n_gt += len(gt)
        order = np.argsort(-sc, kind="stable")
        boxes, sc = boxes[order], sc[order]
        tp = np.zeros((len(thresholds), len(sc)), bool)
        if len(gt) and len(sc):
            iou = box_iou(boxes.astype(np.float64), gt.astype(np.float64))
            for ti, t in enumerate(thresholds):
                used = np.zeros(len(gt), bool)
                for d in range(len(sc)):
                    cand = np.where(used, -1.0, iou[d])
                    g = int(np.argmax(cand))
                    if cand[g] >= t:
                        used[g] = True
                        tp[ti, d] = True
        scores.append(sc)
        tps.append(tp)
    if not scores:
        return np.zeros(0), np.zeros((len(thresholds), 0), bool), n_gt
    return np.concatenate(scores), np.concatenate(tps, axis=1), n_gt


def average_precision(scores: np.ndarray, tp: np.ndarray, n_gt: int) -> tuple[float, np.ndarray, np.ndarray]:
    """AP (101-point) of one threshold, and the raw precision and recall curves."""
    if n_gt == 0:
        return float("nan"), np.zeros(0), np.zeros(0)
    order = np.argsort(-scores, kind="mergesort")
    hits = tp[order].astype(np.float64)
    ctp = np.cumsum(hits)
    cfp = np.cumsum(1.0 - hits)
    recall = ctp / n_gt
    precision = ctp / np.maximum(ctp + cfp, 1e-12)
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    interp = np.array([envelope[i] if i < len(envelope) else 0.0 for i in idx])
    return float(interp.mean()), precision, recall


def _ap_set(pred_boxes, pred_scores, gt_boxes) -> dict[str, Any]:
    scores, tp, n_gt = _match(pred_boxes, pred_scores, gt_boxes, IOU_THRESHOLDS)
    aps = []
    curve = None
    for ti, t in enumerate(IOU_THRESHOLDS):
        ap, p, r = average_precision(scores, tp[ti], n_gt)
        aps.append(ap)
        if t == 0.5:
            curve = (p, r)
    assert curve is not None
    return {"ap50": aps[0], "ap75": aps[5], "ap50_95": float(np.mean(aps)) if n_gt else float("nan"),
            "n_gt": n_gt, "n_det": int(len(scores)), "precision": curve[0], "recall": curve[1]}


def evaluate(predictions: list[Prediction], gt_boxes: list[np.ndarray], gt_labels: list[np.ndarray],
             labels: tuple[str, ...], conf: float = 0.5) -> dict[str, Any]:
    """Face and per-expression AP over a set of images.

    Args:
        predictions: per image.
        gt_boxes: per image (G, 4); gt_labels: per image (G,) label indices.
        labels: label names (columns of `probs`).
        conf: operating point at which precision / recall are also reported (face score ≥ conf).
    """
    if len(predictions) != len(gt_boxes) or len(gt_boxes) != len(gt_labels):
        raise ValueError("predictions, gt_boxes and gt_labels must have one entry per image")
    face = _ap_set([p.boxes for p in predictions], [p.scores for p in predictions], gt_boxes)
    per: dict[str, Any] = {}
    for c, name in enumerate(labels):
        pb, ps, gb = [], [], []
        for p, g, gl in zip(predictions, gt_boxes, gt_labels):
            top = p.probs.argmax(1) if len(p.probs) else np.zeros(0, int)
            sel = top == c
            pb.append(p.boxes[sel])
            ps.append(p.scores[sel] * p.probs[sel, c])
            gb.append(g[gl == c])
        res = _ap_set(pb, ps, gb)
        if res["n_gt"]:
            per[name] = res
    # operating point
    scores, tp, n_gt = _match([p.boxes for p in predictions], [p.scores for p in predictions], gt_boxes,
                              np.array([0.5]))
    kept = scores >= conf
    n_tp = int(tp[0][kept].sum())
    correct_label = _label_accuracy(predictions, gt_boxes, gt_labels, conf)
    return {
        "images": len(predictions),
        "faces": face,
        "expressions": per,
        "face_ap50": face["ap50"],
        "face_ap50_95": face["ap50_95"],
        "expression_map50": float(np.mean([v["ap50"] for v in per.values()])) if per else float("nan"),
        "expression_map50_95": float(np.mean([v["ap50_95"] for v in per.values()])) if per else float("nan"),
        "at_conf": {"conf": conf, "precision": n_tp / max(int(kept.sum()), 1), "recall": n_tp / max(n_gt, 1),
                    "label_accuracy_of_found_faces": correct_label},
    }


def found_labels(predictions, gt_boxes, gt_labels, conf: float, unfound: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth faces found at IoU ≥ 0.5 (face score ≥ conf): their true labels and the top label
    of the detection that found each (the best-overlapping one), as two (F,) int arrays. With
    `unfound` (e.g. -1), every ground-truth face is in them, a face not found with that label."""
    true, pred = [], []
    for p, g, gl in zip(predictions, gt_boxes, gt_labels):
        if not len(g):
            continue
        keep = p.scores >= conf
        label = np.full(len(g), -1, np.int64)  # -1: not found
        if keep.any():
            iou = box_iou(g.astype(np.float64), p.boxes[keep].astype(np.float64))
            best = iou.argmax(1)
            ok = iou[np.arange(len(g)), best] >= 0.5
            label[ok] = p.probs[keep][best[ok]].argmax(1)
        found = label >= 0
        if unfound is None:
            true.append(np.asarray(gl)[found])
            pred.append(label[found])
        else:
            true.append(np.asarray(gl))
            pred.append(np.where(found, label, unfound))
    if not true:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(true).astype(np.int64), np.concatenate(pred).astype(np.int64)


def _label_accuracy(predictions, gt_boxes, gt_labels, conf: float) -> float:
    """Share of ground-truth faces found at IoU ≥ 0.5 (face score ≥ conf) whose top label is right."""
    true, pred = found_labels(predictions, gt_boxes, gt_labels, conf)
    return float((true == pred).sum()) / max(len(true), 1)


#: The labels whose recalls the macro-recall of real photos averages: the five that lfw-expressions'
#: validation and test identities hold at least 6 faces of (fear, disgust and contempt: 1–3 faces per
#: split, too few to weigh a fifth of a mean). Issue 26's 240-photo check used the same five.
MACRO_LABELS = ("neutral", "happiness", "surprise", "sadness", "anger")


def label_figures(true: np.ndarray, pred: np.ndarray, labels: tuple[str, ...],
                  macro: tuple[str, ...] = MACRO_LABELS) -> dict[str, Any]:
    """Accuracy, per-label recall (with its face count) and macro-recall of labelled faces.

    `macro_recall` averages the recalls of the `macro` labels that have faces; `macro_recall_all`
    those of every label that has faces."""
    per = {}
    for c, name in enumerate(labels):
        n = int((true == c).sum())
        if n:
            per[name] = {"faces": n, "recall": float((pred[true == c] == c).mean())}
    in_macro = [v["recall"] for k, v in per.items() if k in macro]
    return {"faces": int(len(true)), "accuracy": float((true == pred).mean()) if len(true) else float("nan"),
            "macro_recall": float(np.mean(in_macro)) if in_macro else float("nan"),
            "macro_recall_all": float(np.mean([v["recall"] for v in per.values()])) if per else float("nan"),
            "per_label": per}


def operating_points(predictions: list[Prediction], gt_boxes: list[np.ndarray], gt_labels: list[np.ndarray],
                     confs: list[float] | np.ndarray) -> list[dict[str, float]]:
    """Detection figures at each face-score threshold in `confs`, for choosing the threshold.

    Faces are matched at IoU ≥ 0.5 as in AP (detections by descending score, each to the best
    still-unmatched face), so `predictions` made at a low threshold (e.g. 0.01) give the figures of
    every higher one without running the model again. Per threshold: conf, precision, recall, f1,
    false_per_image (unmatched detections per image: duplicates and non-faces), and
    label_accuracy_of_found_faces.
    """
    scores, tp, n_gt = _match([p.boxes for p in predictions], [p.scores for p in predictions], gt_boxes,
                              np.array([0.5]))
    out = []
    for conf in confs:
        kept = scores >= conf
        n_tp = int(tp[0][kept].sum())
        n_fp = int(kept.sum()) - n_tp
        precision, recall = n_tp / max(n_tp + n_fp, 1), n_tp / max(n_gt, 1)
        out.append({
            "conf": float(conf), "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "false_per_image": n_fp / max(len(predictions), 1),
            "label_accuracy_of_found_faces": _label_accuracy(predictions, gt_boxes, gt_labels, float(conf)),
        })
    return out


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The report without the curves (JSON-ready)."""
    def strip(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if k not in ("precision", "recall")}

    out = {k: v for k, v in report.items() if k not in ("faces", "expressions")}
    out["faces"] = strip(report["faces"])
    out["expressions"] = {k: strip(v) for k, v in report["expressions"].items()}
    return out


def pr_plot(report: dict[str, Any], path: str | Path, title: str = "") -> None:
    """Precision–recall curves at IoU 0.5: faces and each expression."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    f = report["faces"]
    axes[0].plot(f["recall"], f["precision"], color="k")
    axes[0].set_title(f"faces: AP50 {f['ap50']:.3f}, AP50:95 {f['ap50_95']:.3f}")
    for name, v in report["expressions"].items():
        axes[1].plot(v["recall"], v["precision"], label=f"{name} {v['ap50']:.2f} (n={v['n_gt']})")
    axes[1].set_title(f"expressions: mAP50 {report['expression_map50']:.3f}")
    axes[1].legend(fontsize=7, loc="upper right")
    for ax in axes:
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
