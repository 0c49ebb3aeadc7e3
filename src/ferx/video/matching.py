"""Associating detections with tracks, ByteTrack's way (Zhang et al., 2022), on boxes: pure functions of
boxes and scores, no state."""

from __future__ import annotations

import numpy as np

from ferx.boxes import box_iou
from ferx.types import Faces


def greedy(score: np.ndarray, minimum: float) -> list[tuple[int, int]]:
    """Pairs (row, col) by decreasing score, each row and column used once, score >= minimum.
    (Faces per frame are few, so greedy matching equals an optimal one in practice.)"""
    pairs: list[tuple[int, int]] = []
    if score.size == 0:
        return pairs
    used_r: set[int] = set()
    used_c: set[int] = set()
    for flat in np.argsort(-score, axis=None, kind="stable"):
        r, c = divmod(int(flat), score.shape[1])
        if score[r, c] < minimum:
            break
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
    return pairs


def match_detections(dets: Faces, predicted: list[np.ndarray], high_score: float, match_iou: float
                     ) -> tuple[Faces, list[tuple[int, int]]]:
    """ByteTrack's two stages: high-score detections are matched to the tracks' predicted boxes
    first, then low-score ones to the tracks left (low scores never start a track).

    Returns:
        the unmatched high-score detections (candidates for lost or new tracks), and the pairs
        (track index in `predicted`, detection index).
    """
    if not len(dets):
        return dets, []
    high = dets.scores >= high_score
    pairs: list[tuple[int, int]] = []
    used = np.zeros(len(dets), bool)
    free = list(range(len(predicted)))
    for mask in (high, ~high):
        idx = np.flatnonzero(mask & ~used)
        if not len(idx) or not free:
            continue
        iou = box_iou(np.array([predicted[r] for r in free]), dets.boxes[idx])
        taken = set()
        for r, c in greedy(iou, match_iou):
            pairs.append((free[r], int(idx[c])))
            used[idx[c]] = True
            taken.add(r)
        free = [t for r, t in enumerate(free) if r not in taken]
    return dets[~used & high], pairs


def unclaimed(dets: Faces, claimed: list[np.ndarray], high_score: float, match_iou: float) -> Faces:
    """High-score detections that overlap none of the `claimed` boxes."""
    keep = dets.scores >= high_score
    if claimed and len(dets):
        keep &= box_iou(dets.boxes, np.array(claimed)).max(axis=1) < match_iou
    return dets[keep]


def crossing(boxes: np.ndarray, drift: list[float], overlap: float = 0.5) -> set[int]:
    """Two followed meshes on one face (faces crossing): of each overlapping pair, the index of the
    one that moved further from its last place (`drift`)."""
    iou = box_iou(boxes, boxes)
    dropped: set[int] = set()
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            if iou[i, j] > overlap and i not in dropped and j not in dropped:
                dropped.add(i if drift[i] > drift[j] else j)
    return dropped


def alone(boxes: list[np.ndarray]) -> list[bool]:
    """For each box: it overlaps none of the others."""
    if len(boxes) < 2:
        return [True] * len(boxes)
    iou = box_iou(np.array(boxes), np.array(boxes))
    np.fill_diagonal(iou, 0.0)
    return (iou.max(axis=1) <= 0.0).tolist()


__all__ = ["alone", "crossing", "greedy", "match_detections", "unclaimed"]
