"""Per-track summary and expression segments, accumulated as the video is read (constant memory).

- Time per expression: each frame's faces are credited with the time until the next analysed
  frame (so `--every`/`--fps` sampling and variable frame rates count real seconds).
- AU activation rate: the share of a track's frames with the AU at or above FACS band A.
- Peaks: the highest value of each AU and each expression probability, with its timestamp.
- Segments: runs of one expression label per track; a new label must last `min_segment_s` to
  open a segment (shorter flickers stay in the current one). Each closed segment is explained once,
  by the analyzer's explain stage on the segment's mean AUs and probabilities — explanations per
  segment rather than per frame — and appended to `segments.jsonl` as soon as it closes. Its
  `label` is the explanation's conclusion (the decision rule on those means, as for a face), so a
  segment explains its own label; where that differs from the label most of its frames carry (by
  time), the latter is kept as `frames_label`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferx.facs import OCCURRENCE_THRESHOLD
from ferx.fsutil import append_bytes, is_fatal_write, write_error_reason
from ferx.types import Explanation, Faces
from ferx.video.result import TrackedFrame


def _r(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 4)


@dataclass
class _Acc:
    """Sums over frames: n, seconds, probabilities, AUs, and seconds per frame label."""

    n: int = 0
    seconds: float = 0.0
    probs: np.ndarray | None = None
    aus: np.ndarray | None = None
    labels: dict[str, float] = field(default_factory=dict)

    def add(self, probs: np.ndarray | None, aus: np.ndarray | None, dt: float, label: str | None = None) -> None:
        self.n += 1
        self.seconds += dt
        if label is not None:
            self.labels[label] = self.labels.get(label, 0.0) + dt
        if probs is not None:
            p = np.nan_to_num(probs, nan=0.0)
            self.probs = p if self.probs is None else self.probs + p
        if aus is not None:
            a = np.nan_to_num(aus, nan=0.0)
            self.aus = a if self.aus is None else self.aus + a

    def merge(self, other: _Acc) -> None:
        self.n += other.n
        self.seconds += other.seconds
        for label, t in other.labels.items():
            self.labels[label] = self.labels.get(label, 0.0) + t
        for name in ("probs", "aus"):
            a, b = getattr(self, name), getattr(other, name)
            setattr(self, name, b if a is None else (a if b is None else a + b))


@dataclass
class _Segment:
    label: str | None
    start: float
    end: float
    acc: _Acc = field(default_factory=_Acc)


@dataclass
class _Track:
    id: int
    first: float
    last: float
    frames: int = 0
    detected: int = 0
    seconds: float = 0.0
    label_seconds: dict[str, float] = field(default_factory=dict)
    total: _Acc = field(default_factory=_Acc)
    active: np.ndarray | None = None
    active_rel: np.ndarray | None = None
    au_peak: np.ndarray | None = None
    au_peak_t: np.ndarray | None = None
    p_peak: np.ndarray | None = None
    p_peak_t: np.ndarray | None = None
    segment: _Segment | None = None
    candidate: _Segment | None = None
    segments: int = 0
    baseline: np.ndarray | None = None


class SummaryBuilder:
    """Accumulates per-track statistics from TrackedFrames; writes segments as they close.

    Args:
        segments_path: JSONL file for segments (None: segments are counted, not written).
        explain: fills `explanations` of faces that carry AUs and probabilities (run once per
            segment; `Analyzer.refine` restricted to the explain stage); None: segments are not
            explained.
        min_segment_s: shortest expression run that opens a new segment.
        gap_s: a track absent this long closes its open segment.
    """

    def __init__(self, segments_path: str | os.PathLike[str] | None = None,
                 explain: Callable[[Faces], Faces] | None = None, min_segment_s: float = 0.5, gap_s: float = 1.0
                 ) -> None:
        self.explain = explain
        self.min_segment_s = float(min_segment_s)
        self.gap_s = float(gap_s)
        self.tracks: dict[int, _Track] = {}
        self.unwritten: str | None = None  # why segments.jsonl could not be written to the end (a full disk)
        self.frames = 0
        self.frames_with_faces = 0
        self.first_t: float | None = None
        self.last_t: float | None = None
        self.au_codes: tuple[str, ...] | None = None
        self.au_profile = None  # the estimator's facs.AUProfile, for explaining segments with its grades
        self.labels: tuple[str, ...] | None = None
        self._prev: TrackedFrame | None = None
        self._dts: list[float] = []
        self._fd = -1
        self.segments_path = None if segments_path is None else Path(segments_path)
        if self.segments_path is not None:
            self._fd = os.open(self.segments_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o666)

    # -- accumulation ----------------------------------------------------------------------------
    def add(self, tf: TrackedFrame) -> None:
        """Add a frame (in time order). Its faces are counted when the next frame's time is known."""
        slim = tf.with_faces(tf.faces.with_fields(landmarks=None, expression_maps=None, blendshapes=None), frame=None)
        if self._prev is not None:
            dt = max(0.0, slim.timestamp - self._prev.timestamp)
            if len(self._dts) < 1000:
                self._dts.append(dt)
            self._count(self._prev, dt)
        self._prev = slim
        self.frames += 1
        self.first_t = slim.timestamp if self.first_t is None else self.first_t
        self.last_t = slim.timestamp
        self.frames_with_faces += bool(len(slim.faces))
        self._close_absent(slim.timestamp)

    def _count(self, tf: TrackedFrame, dt: float) -> None:
        f = tf.faces
        if len(f):
            self.au_codes = f.au_codes if f.aus is not None else self.au_codes
            self.au_profile = f.au_profile if f.aus is not None else self.au_profile
            self.labels = f.expression_labels if f.expression is not None else self.labels
        labels = f.labels
        for i, tid in enumerate(tf.track_ids.tolist()):
            tr = self.tracks.get(tid)
            if tr is None:
                tr = self.tracks[tid] = _Track(tid, tf.timestamp, tf.timestamp)
            tr.last = tf.timestamp
            tr.frames += 1
            tr.detected += bool(tf.detected[i])
            tr.seconds += dt
            probs = None if f.expression is None else f.expression[i]
            aus = None if f.aus is None else f.aus[i]
            tr.total.add(probs, aus, dt)
            label = labels[i]
            if label is not None:
                tr.label_seconds[label] = tr.label_seconds.get(label, 0.0) + dt
            if aus is not None:
                on = np.nan_to_num(aus, nan=0.0) >= OCCURRENCE_THRESHOLD
                tr.active = on.astype(np.int64) if tr.active is None else tr.active + on
                tr.au_peak, tr.au_peak_t = _peak(tr.au_peak, tr.au_peak_t, aus, tf.timestamp)
            if tf.aus_relative is not None:
                on = np.nan_to_num(tf.aus_relative[i], nan=0.0) >= OCCURRENCE_THRESHOLD
                tr.active_rel = on.astype(np.int64) if tr.active_rel is None else tr.active_rel + on
            if probs is not None:
                tr.p_peak, tr.p_peak_t = _peak(tr.p_peak, tr.p_peak_t, probs, tf.timestamp)
            self._segment(tr, label, probs, aus, tf.timestamp, dt)

    def _segment(self, tr: _Track, label: str | None, probs: np.ndarray | None, aus: np.ndarray | None,
                 t: float, dt: float) -> None:
        seg = tr.segment
        if seg is None:
            tr.segment = seg = _Segment(label, t, t)
        if label == seg.label:
            if tr.candidate is not None:  # a flicker: it stays in the current segment
                seg.acc.merge(tr.candidate.acc)
                tr.candidate = None
            seg.acc.add(probs, aus, dt, label)
            seg.end = t + dt
            return
        cand = tr.candidate
        if cand is None or cand.label != label:
            if cand is not None:
                seg.acc.merge(cand.acc)
            tr.candidate = cand = _Segment(label, t, t)
        cand.acc.add(probs, aus, dt, label)
        cand.end = t + dt
        if cand.end - cand.start >= self.min_segment_s:
            seg.end = cand.start
            self._emit(tr, seg)
            tr.segment, tr.candidate = cand, None

    def _close_absent(self, t: float) -> None:
        for tr in self.tracks.values():
            if tr.segment is not None and t - tr.last > self.gap_s:
                self._flush_track(tr)

    def _flush_track(self, tr: _Track) -> None:
        seg = tr.segment
        if seg is None:
            return
        if tr.candidate is not None:
            if tr.candidate.end - tr.candidate.start >= self.min_segment_s / 2:
                seg.end = tr.candidate.start
                self._emit(tr, seg)
                seg = tr.candidate
            else:
                seg.acc.merge(tr.candidate.acc)
                seg.end = tr.candidate.end
        self._emit(tr, seg)
        tr.segment = tr.candidate = None

    def _emit(self, tr: _Track, seg: _Segment) -> None:
        if seg.acc.n == 0:
            return
        tr.segments += 1
        if self._fd < 0:
            return
        # the frames' label: the one most of the segment's time carries (flickers shorter than
        # `min_segment_s` stay inside a segment, so it need not be the label that opened it)
        majority = max(seg.acc.labels, key=lambda k: (seg.acc.labels[k], k == seg.label), default=seg.label)
        rec: dict[str, Any] = {"track": tr.id, "start": round(seg.start, 3), "end": round(seg.end, 3),
                               "frames": seg.acc.n, "label": majority}
        probs = None if seg.acc.probs is None else seg.acc.probs / seg.acc.n
        aus = None if seg.acc.aus is None else seg.acc.aus / seg.acc.n
        if probs is not None and self.labels is not None:
            rec["probabilities"] = {lab: _r(p) for lab, p in zip(self.labels, probs)}
        if aus is not None and self.au_codes is not None:
            rec["aus"] = {c: _r(v) for c, v in zip(self.au_codes, aus) if v >= OCCURRENCE_THRESHOLD}
            e = self._explain(probs, aus)
            rec["explanation"] = None if e is None else e.text
            if e is not None and e.probability is not None:
                rec["final_probability"] = _r(e.probability)  # the % the explanation's conclusion gives
            if e is not None and e.label != majority:
                # A segment explains its own label: the decision rule on its mean readings, as for a face;
                # the label most of its frames carry is kept beside it.
                rec["label"], rec["frames_label"] = e.label, majority
        try:
            append_bytes(self._fd, (json.dumps(rec, allow_nan=False) + "\n").encode())
        except OSError as e:
            if not is_fatal_write(e):
                raise
            # a full disk: the run stops at its next row (aborted); the summary is still computed
            self.unwritten = write_error_reason(e)
            self.close()

    def _explain(self, probs: np.ndarray | None, aus: np.ndarray) -> Explanation | None:
        if self.explain is None:
            return None
        faces = Faces(
            boxes=np.zeros((1, 4)), scores=np.ones(1), keypoints=np.zeros((1, 5, 2)), aus=aus[None],
            # frames without probabilities (a one-pass detector labels only the frames it ran on) add
            # nothing; a segment with none at all is explained from its AUs alone
            expression=None if probs is None or not float(probs.sum()) > 0 else (probs / float(probs.sum()))[None],
            au_codes=self.au_codes or (), expression_labels=self.labels or (), au_profile=self.au_profile,
        )
        faces = self.explain(faces)
        return faces.explanations[0] if faces.explanations else None

    # -- result ----------------------------------------------------------------------------------
    def finish(self, baselines: dict[int, np.ndarray | None] | None = None) -> dict[str, Any]:
        """Count the last frame, close every segment and return the summary (JSON-ready)."""
        if self._prev is not None:
            dt = float(np.median(self._dts)) if self._dts else 0.0
            self._count(self._prev, dt)
            self._prev = None
        for tr in self.tracks.values():
            self._flush_track(tr)
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
            except OSError as e:
                if not is_fatal_write(e):
                    raise
                self.unwritten = write_error_reason(e)
            self.close()
        baselines = baselines or {}
        tracks = [self._track_dict(tr, baselines.get(tr.id)) for tr in sorted(self.tracks.values(), key=lambda x: x.id)]
        return {
            "frames": self.frames,
            "frames_with_faces": self.frames_with_faces,
            "first_timestamp": self.first_t,
            "last_timestamp": self.last_t,
            "tracks": tracks,
            **({"segments_unwritten": self.unwritten} if self.unwritten else {}),
        }

    def _track_dict(self, tr: _Track, baseline: np.ndarray | None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "track": tr.id,
            "start": round(tr.first, 3),
            "end": round(tr.last, 3),
            "frames": tr.frames,
            "seconds": round(tr.seconds, 3),
            "detected_fraction": round(tr.detected / max(tr.frames, 1), 4),
            "segments": tr.segments,
        }
        if tr.label_seconds:
            by_time = sorted(tr.label_seconds.items(), key=lambda kv: -kv[1])
            d["expression_seconds"] = {k: round(v, 3) for k, v in by_time}
            d["dominant"] = max(tr.label_seconds.items(), key=lambda kv: kv[1])[0]
        if tr.total.probs is not None and self.labels is not None:
            d["mean_probabilities"] = {lab: _r(p) for lab, p in zip(self.labels, tr.total.probs / tr.total.n)}
            d["expression_peaks"] = {lab: {"probability": _r(p), "timestamp": _r(t)}
                                     for lab, p, t in zip(self.labels, tr.p_peak, tr.p_peak_t)}  # type: ignore
        if tr.total.aus is not None and self.au_codes is not None:
            d["au_mean"] = {c: _r(v) for c, v in zip(self.au_codes, tr.total.aus / tr.total.n)}
            rate = tr.active / tr.frames  # type: ignore[operator]
            d["au_activation_rate"] = {c: _r(v) for c, v in zip(self.au_codes, rate)}
            d["au_peaks"] = {c: {"intensity": _r(v), "timestamp": _r(t)}
                             for c, v, t in zip(self.au_codes, tr.au_peak, tr.au_peak_t)}  # type: ignore[arg-type]
            if tr.active_rel is not None:
                d["au_activation_rate_relative"] = {c: _r(v) for c, v in zip(self.au_codes, tr.active_rel / tr.frames)}
            if baseline is not None:
                d["neutral_baseline"] = {c: _r(v) for c, v in zip(self.au_codes, baseline)}
        return d

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _peak(peak: np.ndarray | None, peak_t: np.ndarray | None, values: np.ndarray,
          t: float) -> tuple[np.ndarray, np.ndarray]:
    v = np.nan_to_num(np.asarray(values, np.float64), nan=-np.inf)
    if peak is None or peak_t is None:
        return v.copy(), np.where(np.isfinite(v), t, np.nan)
    better = v > peak
    return np.where(better, v, peak), np.where(better, t, peak_t)


__all__ = ["SummaryBuilder"]
