"""Tracking faces through a video with stable IDs, following each face by its mesh between detections.

Design (docs/video.md has the measurements):

- **Following, as MediaPipe's video mode does.** A face tracked in the previous frame is cropped
  from its previous mesh (the landmarker's ROI from landmarks) and the mesh model's face-presence
  score confirms it is still there. No detector runs for it: that is where the speed comes from.
- **The detector runs** every `detect_every` frames (faces that entered), on every frame while a
  face is lost (to find it again), after a scene cut, and when the picture changes away from the
  tracked faces ("a new face may have entered").
- **Association is ByteTrack's** (Zhang et al., 2022) on boxes: a constant-velocity Kalman filter
  per track predicts its box; detections are matched to tracks by IoU, high-score detections first,
  then low-score ones only to tracks already there (low scores never start a track). Lost tracks
  are kept for `track_buffer_s` and re-identified by IoU with their prediction, or, away from it,
  by appearance (a normalised grey crop aligned on the mesh's eye corners), which is also what a
  track must match after a scene cut — so a cut between two people never merges them.
- **Crossing faces**: when two followed meshes slide onto the same face, the one that jumped
  further from its own prediction is declared lost, and the detector finds the other face again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ferx.boxes import box_iou
from ferx.facecrop import aligned_crop
from ferx.types import N_LANDMARKS, Faces, Frame, FrameResult
from ferx.video.result import TrackedFrame

if TYPE_CHECKING:
    from ferx.pipeline import Analyzer


@dataclass
class TrackingConfig:
    """How faces are followed and re-identified.

    Attributes:
        follow: follow faces by their mesh between detections. False runs the detector on every
            frame (the still-image pipeline per frame, with IDs) — slower, for comparison.
        detect_every: run the detector at least every N analysed frames, to find faces that entered.
        motion_threshold: also detect when, away from the tracked faces, the picture changed by this
            many grey levels (mean over a block of a 64-px-wide thumbnail) since the last detection;
            0 switches it off.
        motion_every: at most one motion-triggered detection every N frames (a moving camera).
        high_score: detections at or above this score are matched first and may start tracks;
            lower ones only continue tracks (ByteTrack's two stages).
        match_iou: smallest IoU between a detection and a track's predicted box to match them.
        track_buffer_s: how long a lost track can be re-identified (seconds of video time).
        lost_detect_s: for this long after a face is lost, the detector runs on every frame (then
            every detect_every // 4 frames while the track can be re-identified).
        min_frames: a track seen on fewer frames is dropped when lost instead of being kept for
            re-identification (a brief false detection must not make the detector run every frame).
        reid_similarity: appearance similarity (correlation of aligned grey crops, -1..1) above
            which a face re-identifies a lost track away from its predicted box, or after a cut.
        match_similarity: smallest similarity for an IoU match with a lost track.
        cut_threshold: mean absolute grey-level change of the thumbnail between consecutive
            frames that counts as a scene cut; 0 switches cut detection off.
    """

    follow: bool = True
    detect_every: int = 12
    motion_threshold: float = 25.0
    motion_every: int = 3
    high_score: float = 0.6
    match_iou: float = 0.2  # ByteTrack: match_thresh 0.8 on 1 - IoU
    track_buffer_s: float = 2.0
    lost_detect_s: float = 0.5
    min_frames: int = 5
    reid_similarity: float = 0.8
    match_similarity: float = 0.4
    cut_threshold: float = 30.0

    def __post_init__(self) -> None:
        if self.detect_every < 1 or self.motion_every < 1:
            raise ValueError("detect_every and motion_every must be at least 1")
        if not 0 < self.match_iou <= 1:
            raise ValueError(f"match_iou must be in (0, 1], got {self.match_iou}")
        if self.track_buffer_s < 0:
            raise ValueError(f"track_buffer_s must be >= 0, got {self.track_buffer_s}")


# -- Kalman filter on boxes (ByteTrack's: centre x, centre y, aspect ratio, height) -------------------


class KalmanBoxFilter:
    """Constant-velocity Kalman filter on (cx, cy, w/h, h), noise scaled by the box height."""

    _POS, _VEL = 1.0 / 20, 1.0 / 160

    def __init__(self, box: np.ndarray) -> None:
        z = _xyah(box)
        self.mean = np.concatenate([z, np.zeros(4)])
        h = z[3]
        std = [2 * self._POS * h, 2 * self._POS * h, 1e-2, 2 * self._POS * h,
               10 * self._VEL * h, 10 * self._VEL * h, 1e-5, 10 * self._VEL * h]
        self.cov = np.diag(np.square(std))
        self._F = np.eye(8)
        self._F[:4, 4:] = np.eye(4)
        self._H = np.eye(4, 8)

    def predict(self) -> None:
        h = self.mean[3]
        q = np.square([self._POS * h, self._POS * h, 1e-2, self._POS * h,
                       self._VEL * h, self._VEL * h, 1e-5, self._VEL * h])
        self.mean = self._F @ self.mean
        self.cov = self._F @ self.cov @ self._F.T + np.diag(q)

    def update(self, box: np.ndarray) -> None:
        h = self.mean[3]
        r = np.diag(np.square([self._POS * h, self._POS * h, 1e-1, self._POS * h]))
        s = self._H @ self.cov @ self._H.T + r
        k = np.linalg.solve(s, (self.cov @ self._H.T).T).T
        self.mean = self.mean + k @ (_xyah(box) - self._H @ self.mean)
        self.cov = self.cov - k @ s @ k.T

    def stop(self) -> None:
        """Forget the velocity (a track that was lost stays where it was last seen)."""
        self.mean[4:] = 0.0

    @property
    def box(self) -> np.ndarray:
        cx, cy, a, h = self.mean[:4]
        h = max(h, 1.0)
        w = max(a, 1e-3) * h
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


def _xyah(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    h = max(y2 - y1, 1.0)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / h, h])


# -- helpers ---------------------------------------------------------------------------------------


def mesh_box(landmarks: np.ndarray) -> np.ndarray:
    """(4,) extent of a (478, 3) mesh in x, y."""
    xy = landmarks[:, :2]
    return np.concatenate([xy.min(0), xy.max(0)]).astype(np.float32)


def _box_from_mesh(landmarks: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """A detector-like box from a mesh, with the track's box-to-mesh relation `rel`."""
    m = mesh_box(landmarks)
    w, h = m[2] - m[0], m[3] - m[1]
    cx, cy = (m[0] + m[2]) / 2 + rel[0] * w, (m[1] + m[3]) / 2 + rel[1] * h
    bw, bh = rel[2] * w, rel[3] * h
    return np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], np.float32)


def _rel(box: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    m = mesh_box(landmarks)
    w, h = max(m[2] - m[0], 1.0), max(m[3] - m[1], 1.0)
    return np.array([
        ((box[0] + box[2]) - (m[0] + m[2])) / 2 / w,
        ((box[1] + box[3]) - (m[1] + m[3])) / 2 / h,
        (box[2] - box[0]) / w,
        (box[3] - box[1]) / h,
    ])


_APPEARANCE_SIZE = 32


def appearance(grey: Image.Image, landmarks: np.ndarray) -> np.ndarray:
    """Unit vector of a face's grey crop aligned on its eye corners, mean removed (a cheap
    identity cue: its dot product with another is their correlation)."""
    crop = aligned_crop(grey, landmarks, _APPEARANCE_SIZE).astype(np.float32)
    # The central part: hair and background at the crop's edges change with the scene, not the person.
    m = _APPEARANCE_SIZE // 8
    v = crop[m:-m, m:-m].ravel()
    v = v - v.mean()
    return v / max(float(np.linalg.norm(v)), 1e-6)


def thumbnail(image: np.ndarray, width: int = 64) -> tuple[np.ndarray, int]:
    """A small grey float32 image (strided sampling: cheap on full-HD frames) and its stride."""
    h, w = image.shape[:2]
    step = max(1, w // width)
    return image[::step, ::step].mean(axis=2, dtype=np.float32), step


def _greedy(score: np.ndarray, minimum: float) -> list[tuple[int, int]]:
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


# -- tracks ----------------------------------------------------------------------------------------


@dataclass(eq=False)
class Track:
    """One person's track. `landmarks` is the last confirmed mesh (followed in the next frame)."""

    id: int
    kalman: KalmanBoxFilter
    landmarks: np.ndarray
    rel: np.ndarray
    score: float
    appearance: np.ndarray | None
    first_seen: float
    last_seen: float
    state: str = "tracked"  # or "lost"
    after_cut: bool = False  # lost by a scene cut: only appearance may bring it back
    frames: int = 1
    new: bool = True  # born this frame

    @property
    def box(self) -> np.ndarray:
        return _box_from_mesh(self.landmarks, self.rel)


class FaceTracker:
    """Runs an Analyzer's stages on a video's frames with tracking; one instance per video.

    Args:
        analyzer: the Analyzer: `detect` finds faces, `refine` runs the other stages on them.
        config: TrackingConfig.
        skip: fields whose stages do not run per frame (default: explanations, made per segment).
    """

    def __init__(self, analyzer: Analyzer, config: TrackingConfig | None = None,
                 skip: frozenset[str] = frozenset({"explanations"})) -> None:
        self.config = config or TrackingConfig()
        self.analyzer = analyzer
        self.skip = skip
        # following crops each face from its previous mesh: it needs a stage that makes meshes
        self.follow = self.config.follow and "landmarks" in analyzer.provides
        self._refine: Callable[..., tuple[FrameResult, np.ndarray]] = analyzer.refine
        self.tracks: list[Track] = []
        self._next_id = 1
        self._since_detect = math.inf
        self._since_motion = math.inf
        self._prev_thumb: np.ndarray | None = None
        self._prev_size: tuple[int, int] | None = None
        self._detect_thumb: np.ndarray | None = None
        self.frames = 0
        self.detections = 0  # frames on which the detector ran

    # -- public ------------------------------------------------------------------------------------
    def step(self, frame: Frame) -> TrackedFrame:
        """Analyse one frame (in order); returns its faces with track IDs (not smoothed)."""
        cfg = self.config
        t = float(frame.timestamp or 0.0)
        self.frames += 1
        thumb, step = thumbnail(frame.image)
        # A frame of another size (image sequences may mix sizes) is another picture: the tracks'
        # boxes and meshes no longer apply, so it counts as a scene cut (faces come back by looks).
        size = (frame.height, frame.width)
        cut = (self._prev_size is not None and size != self._prev_size) or self._is_cut(thumb)
        self._prev_thumb, self._prev_size = thumb, size
        for tr in self.tracks:
            tr.new = False
            tr.kalman.predict()
        if cut:
            for tr in self.tracks:
                if tr.state == "tracked":
                    tr.state, tr.after_cut = "lost", True
                    tr.kalman.stop()
        self._expire(t)

        active = [tr for tr in self.tracks if tr.state == "tracked"]
        # Right after a face is lost the detector runs on every frame, then on every few frames
        # while the track can still be re-identified (a face behind another, one that stepped out).
        recent = [t - tr.last_seen for tr in self.tracks if tr.state == "lost" and not tr.after_cut]
        lost_before = any(age <= cfg.lost_detect_s for age in recent) or (
            bool(recent) and self._since_detect + 1 >= max(1, cfg.detect_every // 4))
        detect = (
            not self.follow
            or cut
            or not active and self._since_detect >= 1  # nobody followed: look every frame
            or self._since_detect + 1 >= cfg.detect_every
            or lost_before
            or self._motion(thumb, step, active)
        )
        notes: list[str] = []
        timings: dict[str, float] = {}
        dets = self._detect(frame, notes, timings) if detect else None

        candidates = Faces.empty()
        matched: list[tuple[Track, int]] = []
        if dets is not None:
            candidates, matched = self._match_active(dets, active)
            candidates = self._limit(candidates, len(active))
        detected_ids = {tr.id for tr, _ in matched}
        if self.follow:  # followed tracks are cropped from their mesh, whether detected or not
            follow, follow_faces = active, self._follow_faces(active)
        else:  # the detector's boxes, every frame
            follow = [tr for tr, _ in matched]
            follow_faces = dets[np.array([d for _, d in matched], int)] if dets is not None else Faces.empty()
            for tr in active:
                if tr.id not in detected_ids:
                    self._lose(tr)
        # One landmarker batch: followed faces + new detections (cropped from their boxes).
        faces_in = Faces.concat([follow_faces, candidates])
        res: FrameResult | None = None
        kept = np.zeros(0, int)
        if len(faces_in):
            res, kept = self._refine(frame, faces_in, skip=self.skip)
            timings_add(timings, res.timings_ms)
            notes.extend(n for n in res.notes if n != "no face found")
        row_of = {int(k): i for i, k in enumerate(kept)}
        followed: list[tuple[Track, Faces]] = []
        for j, tr in enumerate(follow):
            if j in row_of:
                followed.append((tr, res.faces[row_of[j]]))  # type: ignore[union-attr]
            else:
                self._lose(tr)
        followed = self._drop_duplicates(followed)
        n_follow = len(follow)
        new_faces = [res.faces[row_of[n_follow + j]] for j in range(len(candidates))  # type: ignore[union-attr]
                     if n_follow + j in row_of]

        lost_now = [tr for tr in follow if tr.state == "lost" or tr not in self.tracks]
        if lost_now and self.follow:
            # A followed face was lost: look for it (and for anyone else) on this very frame. A
            # detection that had been matched to it gets its own crop now (the face jumped).
            if not detect:
                dets = self._detect(frame, notes, timings)
                detect = True
                retry = self._unclaimed(dets, [_box_from_mesh(f.landmarks[0], tr.rel) for tr, f in followed])
            else:
                retry = dets[np.array([d for tr, d in matched if tr in lost_now], int)]  # type: ignore[index]
            candidates = self._limit(retry, len(followed))
            if len(candidates):
                res2, _ = self._refine(frame, candidates, skip=self.skip)
                timings_add(timings, res2.timings_ms)
                new_faces.extend(res2.faces[i] for i in range(len(res2.faces)))
        if detect:
            self._since_detect = 0
            self._detect_thumb = thumb
            self.detections += 1
        else:
            self._since_detect += 1
        self._since_motion += 1

        grey: list[Image.Image] = []

        def grey_image() -> Image.Image:
            if not grey:
                grey.append(Image.fromarray(frame.image).convert("L"))
            return grey[0]

        confirmed: list[tuple[Track, Faces, bool]] = []
        alone = _alone([mesh_box(f.landmarks[0]) for _, f in followed] if followed and followed[0][1].landmarks
                       is not None else [])
        for k, (tr, face) in enumerate(followed):
            detected = tr.id in detected_ids
            # Appearance is learnt on detection frames, and only from faces that overlap no other
            # face: a half-hidden face would teach the track someone else's looks.
            self._update(tr, face, t, grey_image if detected and alone[k] else None)
            confirmed.append((tr, face, detected))
        claimed = [tr.box for tr, _, _ in confirmed]
        for face in new_faces:
            if claimed and box_iou(face.boxes, np.array(claimed)).max() > 0.5:
                continue  # the detector found a face that is already followed
            tr = self._reidentify(face, grey_image)
            if tr is None:
                tr = self._new_track(face, t, grey_image)
            else:
                self._revive(tr, face, t, grey_image)
            claimed.append(tr.box)
            confirmed.append((tr, face, True))
        confirmed.sort(key=lambda c: c[0].id)
        faces = Faces.concat([face.with_fields(boxes=tr.box[None], scores=[tr.score]) for tr, face, _ in confirmed])
        if cut:
            notes.append("scene cut")
        if not len(faces):
            notes.append("no face found")
        result = FrameResult(
            source=frame.source, width=frame.width, height=frame.height, faces=faces, index=frame.index,
            timestamp=frame.timestamp, timings_ms=timings, notes=tuple(dict.fromkeys(notes)),
        )
        return TrackedFrame(result, np.array([c[0].id for c in confirmed], np.int64),
                            np.array([c[2] for c in confirmed], bool), scene_cut=cut, detector_ran=detect, frame=frame)

    def _limit(self, candidates: Faces, present: int) -> Faces:
        """Apply the analyzer's max_faces to new faces (largest first)."""
        limit = self.analyzer.config.max_faces
        if limit is None or len(candidates) <= max(0, limit - present):
            return candidates
        return candidates.largest(max(0, limit - present))

    # -- detection and matching ------------------------------------------------------------------
    def _detect(self, frame: Frame, notes: list[str], timings: dict[str, float]) -> Faces:
        import time

        t0 = time.perf_counter()
        faces = self.analyzer.detect(frame, notes)
        timings["detect"] = timings.get("detect", 0.0) + (time.perf_counter() - t0) * 1e3
        return faces

    def _match_active(self, dets: Faces, active: list[Track]) -> tuple[Faces, list[tuple[Track, int]]]:
        """ByteTrack's two stages against the tracks followed so far; returns the unmatched
        high-score detections (candidates for lost or new tracks) and the (track, detection) pairs."""
        cfg = self.config
        if not len(dets):
            return dets, []
        high = dets.scores >= cfg.high_score
        pairs: list[tuple[Track, int]] = []
        used = np.zeros(len(dets), bool)
        free = list(active)
        for mask in (high, ~high):
            idx = np.flatnonzero(mask & ~used)
            if not len(idx) or not free:
                continue
            iou = box_iou(np.array([tr.kalman.box for tr in free]), dets.boxes[idx])
            taken = set()
            for r, c in _greedy(iou, cfg.match_iou):
                pairs.append((free[r], int(idx[c])))
                free[r].score = float(dets.scores[idx[c]])
                used[idx[c]] = True
                taken.add(r)
            free = [tr for r, tr in enumerate(free) if r not in taken]
        return dets[~used & high], pairs

    def _unclaimed(self, dets: Faces, claimed: list[np.ndarray]) -> Faces:
        keep = dets.scores >= self.config.high_score
        if claimed and len(dets):
            keep &= box_iou(dets.boxes, np.array(claimed)).max(axis=1) < self.config.match_iou
        return dets[keep]

    def _follow_faces(self, tracks: list[Track]) -> Faces:
        if not tracks:
            return Faces.empty()
        boxes = np.array([tr.kalman.box for tr in tracks])
        lms = np.array([tr.landmarks for tr in tracks])
        from ferx.landmarks.geometry import keypoints_from_mesh

        return Faces(boxes=boxes, scores=np.array([tr.score for tr in tracks]),
                     keypoints=np.stack([keypoints_from_mesh(m) for m in lms]), landmarks=lms)

    def _drop_duplicates(self, followed: list[tuple[Track, Faces]]) -> list[tuple[Track, Faces]]:
        """Two meshes on one face (faces crossing): keep the one that moved less from its last place."""
        if len(followed) < 2 or followed[0][1].landmarks is None:
            return followed
        boxes = np.array([mesh_box(f.landmarks[0]) for _, f in followed])
        iou = box_iou(boxes, boxes)
        drift = []
        for (tr, _), b in zip(followed, boxes):
            last = mesh_box(tr.landmarks)
            drift.append(float(np.abs(b - last).sum() / max(last[2] - last[0], 1.0)))
        dropped: set[int] = set()
        for i in range(len(followed)):
            for j in range(i + 1, len(followed)):
                if iou[i, j] > 0.5 and i not in dropped and j not in dropped:
                    dropped.add(i if drift[i] > drift[j] else j)
        for i in dropped:
            self._lose(followed[i][0])
        return [f for i, f in enumerate(followed) if i not in dropped]

    def _reidentify(self, face: Faces, grey: Callable[[], Image.Image]) -> Track | None:
        cfg = self.config
        lost = [tr for tr in self.tracks if tr.state == "lost"]
        if not lost or face.landmarks is None:
            return None
        app = appearance(grey(), face.landmarks[0])
        box = mesh_box(face.landmarks[0])
        best, best_score = None, -math.inf
        for tr in lost:
            sim = -1.0 if tr.appearance is None else float(tr.appearance @ app)
            iou = float(box_iou(box[None], mesh_box_pred(tr)[None])[0, 0])
            if tr.after_cut:
                ok = sim >= cfg.reid_similarity
            else:
                ok = (iou >= cfg.match_iou and sim >= cfg.match_similarity) or sim >= cfg.reid_similarity
            score = sim + iou
            if ok and score > best_score:
                best, best_score = tr, score
        return best

    # -- track life ------------------------------------------------------------------------------
    def _new_track(self, face: Faces, t: float, grey: Callable[[], Image.Image]) -> Track:
        lm = face.landmarks[0] if face.landmarks is not None else None
        if lm is None:  # a pipeline without a landmarker: a box-only track
            lm = _box_mesh(face.boxes[0])
        tr = Track(
            id=self._next_id, kalman=KalmanBoxFilter(face.boxes[0]), landmarks=lm, rel=_rel(face.boxes[0], lm),
            score=float(face.scores[0]), appearance=appearance(grey(), lm) if face.landmarks is not None else None,
            first_seen=t, last_seen=t,
        )
        self._next_id += 1
        self.tracks.append(tr)
        return tr

    def _revive(self, tr: Track, face: Faces, t: float, grey: Callable[[], Image.Image]) -> None:
        lm = face.landmarks[0]
        tr.state, tr.after_cut, tr.new = "tracked", False, True
        tr.rel = _rel(face.boxes[0], lm)
        tr.kalman = KalmanBoxFilter(face.boxes[0])
        tr.landmarks, tr.score, tr.last_seen = lm, float(face.scores[0]), t
        tr.appearance = _blend(tr.appearance, appearance(grey(), lm))
        tr.frames += 1

    def _update(self, tr: Track, face: Faces, t: float, grey: Callable[[], Image.Image] | None) -> None:
        if face.landmarks is None:
            tr.kalman.update(face.boxes[0])
            tr.landmarks = _box_mesh(face.boxes[0])
        else:
            lm = face.landmarks[0]
            if grey is not None:
                tr.appearance = _blend(tr.appearance, appearance(grey(), lm))
            tr.landmarks = lm
            tr.kalman.update(tr.box)
        tr.last_seen = t
        tr.frames += 1

    def _lose(self, tr: Track) -> None:
        if tr.frames < self.config.min_frames:
            # Tentative (ByteTrack's unconfirmed track): a face seen for a frame or two and gone is
            # most likely a false detection; it is not kept for re-identification.
            self.tracks.remove(tr)
            return
        tr.state = "lost"  # its Kalman prediction keeps moving (ByteTrack): a face behind another reappears ahead

    def _expire(self, t: float) -> None:
        buffer = self.config.track_buffer_s
        self.tracks = [tr for tr in self.tracks if tr.state == "tracked" or t - tr.last_seen <= buffer]

    # -- picture changes -------------------------------------------------------------------------
    def _is_cut(self, thumb: np.ndarray) -> bool:
        prev = self._prev_thumb
        if prev is None or prev.shape != thumb.shape or self.config.cut_threshold <= 0:
            return False
        return float(np.abs(thumb - prev).mean()) >= self.config.cut_threshold

    def _motion(self, thumb: np.ndarray, step: int, active: list[Track]) -> bool:
        cfg = self.config
        ref = self._detect_thumb
        if cfg.motion_threshold <= 0 or ref is None or ref.shape != thumb.shape:
            return False
        if self._since_motion < cfg.motion_every:
            return False
        diff = np.abs(thumb - ref)
        for tr in active:  # changes on and around tracked faces are theirs
            x1, y1, x2, y2 = tr.kalman.box / step
            w, h = x2 - x1, y2 - y1
            diff[max(0, int(y1 - h)) : max(0, int(y2 + h) + 1), max(0, int(x1 - w)) : max(0, int(x2 + w) + 1)] = 0
        b = 4
        hh, ww = (diff.shape[0] // b) * b, (diff.shape[1] // b) * b
        blocks = diff[:hh, :ww].reshape(hh // b, b, ww // b, b).mean(axis=(1, 3))
        if blocks.size and float(blocks.max()) >= cfg.motion_threshold:
            self._since_motion = 0
            return True
        return False


def _alone(boxes: list[np.ndarray]) -> list[bool]:
    """For each box: it overlaps none of the others."""
    if len(boxes) < 2:
        return [True] * len(boxes)
    iou = box_iou(np.array(boxes), np.array(boxes))
    np.fill_diagonal(iou, 0.0)
    return (iou.max(axis=1) <= 0.0).tolist()


def mesh_box_pred(tr: Track) -> np.ndarray:
    """Where a lost track's mesh would be now: its last mesh box moved with the Kalman prediction."""
    m = mesh_box(tr.landmarks)
    pred, last = tr.kalman.box, tr.box
    shift = (pred[:2] + pred[2:]) / 2 - (last[:2] + last[2:]) / 2
    return m + np.concatenate([shift, shift])


def _blend(old: np.ndarray | None, new: np.ndarray, keep: float = 0.8) -> np.ndarray:
    if old is None:
        return new
    v = keep * old + (1 - keep) * new
    return v / max(float(np.linalg.norm(v)), 1e-6)


def _box_mesh(box: np.ndarray) -> np.ndarray:
    """A stand-in 'mesh' (the box corners repeated) for pipelines without a landmarker."""
    lm = np.zeros((N_LANDMARKS, 3), np.float32)
    lm[::2, :2] = box[:2]
    lm[1::2, :2] = box[2:]
    return lm


def timings_add(into: dict[str, float], more: dict[str, float]) -> None:
    for k, v in more.items():
        if k not in ("decode", "total"):
            into[k] = into.get(k, 0.0) + v


__all__ = ["FaceTracker", "KalmanBoxFilter", "Track", "TrackingConfig", "appearance", "mesh_box"]
