"""COCO-style AP on hand-made detections."""

import numpy as np
import pytest

from ferx.train.onepass.evaluate import Prediction, average_precision, evaluate, operating_points

LABELS = ("neutral", "happiness")


def _pred(boxes, scores, probs):
    return Prediction(np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32),
                      np.array(probs, np.float32).reshape(-1, 2))


def test_perfect_detections_score_one_and_a_miss_lowers_recall():
    gt = [np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32)]
    labels = [np.array([0, 1])]
    r = evaluate([_pred(gt[0], [0.9, 0.8], [[0.9, 0.1], [0.2, 0.8]])], gt, labels, LABELS)
    assert r["face_ap50"] == pytest.approx(1.0) and r["face_ap50_95"] == pytest.approx(1.0)
    assert r["expression_map50"] == pytest.approx(1.0)
    r = evaluate([_pred(gt[0][:1], [0.9], [[0.9, 0.1]])], gt, labels, LABELS)
    # recall reaches 0.5 at precision 1: 51 of 101 recall points
    assert r["face_ap50"] == pytest.approx(51 / 101)
    assert r["expressions"]["happiness"]["ap50"] == 0.0


def test_false_positive_ranked_first():
    # scores: FP 0.9, TP 0.8 → precision 0, 0.5; envelope 0.5 up to recall 1
    ap, p, rec = average_precision(np.array([0.9, 0.8]), np.array([False, True]), 1)
    assert ap == pytest.approx(0.5)
    assert rec.tolist() == [0.0, 1.0]


def test_iou_thresholds_and_wrong_label():
    gt = [np.array([[0, 0, 100, 100]], np.float32)]
    # IoU 0.81: a hit at 0.5–0.8, a miss at 0.85–0.95 → AP50:95 = 7/10
    pred = _pred([[0, 0, 100, 81]], [0.9], [[0.3, 0.7]])
    r = evaluate([pred], gt, [np.array([0])], LABELS)
    assert r["face_ap50"] == pytest.approx(1.0)
    assert r["face_ap50_95"] == pytest.approx(0.7)
    # the face's label is neutral but the detection says happiness: no neutral detection at all
    assert r["expressions"]["neutral"]["ap50"] == 0.0
    assert "happiness" not in r["expressions"]  # no happy ground truth: not in the mean
    assert r["at_conf"]["label_accuracy_of_found_faces"] == 0.0


def test_duplicate_detection_is_a_false_positive():
    gt = [np.array([[0, 0, 10, 10]], np.float32)]
    pred = _pred([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8], [[1, 0], [1, 0]])
    r = evaluate([pred], gt, [np.array([0])], LABELS)
    assert r["face_ap50"] == pytest.approx(1.0)  # the duplicate comes after full recall
    assert r["at_conf"]["precision"] == pytest.approx(0.5)


def test_operating_points_by_hand():
    """Two images, three faces: one found with the right label, one found with the wrong label and a
    duplicate, one missed; a false box in the second image. Figures at two thresholds."""
    gt = [np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32), np.array([[0, 0, 50, 50]], np.float32)]
    labels = [np.array([0, 1]), np.array([1])]
    preds = [_pred([[0, 0, 10, 10], [20, 20, 40, 40], [21, 21, 40, 40]], [0.9, 0.6, 0.3],
                   [[0.8, 0.2], [0.7, 0.3], [0.1, 0.9]]),
             _pred([[60, 60, 90, 90]], [0.4], [[0.5, 0.5]])]
    high, low = operating_points(preds, gt, labels, [0.5, 0.2])
    assert high["conf"] == 0.5 and high["precision"] == pytest.approx(1.0) and high["recall"] == pytest.approx(2 / 3)
    assert high["f1"] == pytest.approx(0.8) and high["false_per_image"] == 0.0
    assert high["label_accuracy_of_found_faces"] == pytest.approx(0.5)  # the second face is called neutral
    # at 0.2 the duplicate (0.3) and the false box (0.4) count against precision, not for recall
    assert low["precision"] == pytest.approx(2 / 4) and low["recall"] == pytest.approx(2 / 3)
    assert low["false_per_image"] == pytest.approx(1.0)
    # the same figures as evaluate()'s operating point
    at = evaluate(preds, gt, labels, LABELS, conf=0.2)["at_conf"]
    assert at["precision"] == pytest.approx(low["precision"]) and at["recall"] == pytest.approx(low["recall"])


def test_labels_of_found_faces_and_their_macro_recall():
    """A missed face and a face found only below the threshold add nothing; the found faces' labels give
    accuracy 2/3, recalls neutral 1/2, happiness 1/1; macro-recall averages the chosen labels present."""
    from ferx.train.onepass.evaluate import found_labels, label_figures

    gt = [np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32), np.array([[0, 0, 30, 30], [50, 50, 60, 60]], np.float32)]
    labels = [np.array([0, 0]), np.array([1, 0])]
    preds = [_pred([[0, 0, 10, 10], [21, 21, 40, 40]], [0.9, 0.8], [[0.9, 0.1], [0.3, 0.7]]),
             _pred([[1, 1, 30, 30], [50, 50, 60, 60]], [0.95, 0.2], [[0.1, 0.9], [0.9, 0.1]])]
    true, pred = found_labels(preds, gt, labels, conf=0.5)
    assert true.tolist() == [0, 0, 1] and pred.tolist() == [0, 1, 1]
    fig = label_figures(true, pred, LABELS, macro=("neutral", "happiness"))
    assert fig["accuracy"] == pytest.approx(2 / 3) and fig["faces"] == 3
    assert fig["per_label"] == {"neutral": {"faces": 2, "recall": 0.5}, "happiness": {"faces": 1, "recall": 1.0}}
    assert fig["macro_recall"] == pytest.approx(0.75) == fig["macro_recall_all"]
    assert label_figures(true, pred, LABELS, macro=("neutral",))["macro_recall"] == pytest.approx(0.5)
    empty = label_figures(*found_labels(preds, gt, labels, conf=0.99), LABELS)
    assert empty["faces"] == 0 and np.isnan(empty["accuracy"]) and np.isnan(empty["macro_recall"])


def test_labels_of_all_faces_count_a_face_not_found_as_wrong():
    """The selection column of issue 26's runs let a checkpoint that found 4 of 224 photo faces win on
    their labels; of all faces, the same detections give neutral 1/3 (one missed face, one found only
    below the threshold), happiness 1/1 — and a photo with no detection at all still counts."""
    from ferx.train.onepass.evaluate import found_labels, label_figures

    gt = [np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32),
          np.array([[0, 0, 30, 30], [50, 50, 60, 60]], np.float32), np.array([[0, 0, 20, 20]], np.float32)]
    labels = [np.array([0, 0]), np.array([1, 0]), np.array([1])]
    preds = [_pred([[0, 0, 10, 10], [21, 21, 40, 40]], [0.9, 0.8], [[0.9, 0.1], [0.3, 0.7]]),
             _pred([[1, 1, 30, 30], [50, 50, 60, 60]], [0.95, 0.2], [[0.1, 0.9], [0.9, 0.1]]),
             _pred([], [], [])]
    true, pred = found_labels(preds, gt, labels, conf=0.5, unfound=-1)
    assert true.tolist() == [0, 0, 1, 0, 1] and pred.tolist() == [0, 1, 1, -1, -1]
    fig = label_figures(true, pred, LABELS, macro=("neutral", "happiness"))
    assert fig["per_label"] == {"neutral": {"faces": 3, "recall": pytest.approx(1 / 3)},
                                "happiness": {"faces": 2, "recall": 0.5}}
    assert fig["macro_recall"] == pytest.approx((1 / 3 + 0.5) / 2)
    found_only = label_figures(*found_labels(preds, gt, labels, conf=0.5), LABELS, macro=("neutral", "happiness"))
    assert found_only["macro_recall"] == pytest.approx(0.75) and found_only["macro_recall"] > fig["macro_recall"]
