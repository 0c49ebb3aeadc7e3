"""Tracking faces through a video with stable IDs, following each face by its mesh between detections.

One module per job: `kalman` (box prediction), `matching` (association), `appearance` (identity cue),
`schedule` (when the detector runs), and here the tracks' life-cycle and `FaceTracker.step`, which is
a short sequence of those steps. Design (docs/video.md has the measurements):

- **Following, as MediaPipe's video mode does.** A face tracked in the previous frame is cropped
  from its previous mesh (the landmarker's ROI from landmarks) and the mesh model's face-presence
  score confirms it is still there. No detector runs for it: that is where the speed comes from.
- **The detector runs** on the whole frame every `detect_every` frames (faces that entered), after
  a scene cut, and when the picture changes away from the tracked faces ("a new face may have
  entered"); while a face is lost it runs only around the place where the face was (a square of
  three times its box, scaled so the face is ~64 px): a lost face is found again where it went out
  of sight, for a few ms instead of a whole-frame pyramid.
- **Association is ByteTrack's** (Zhang et al., 2022) on boxes: a constant-velocity Kalman filter
  per track predicts its box; detections are matched to tracks by IoU, high-score detections first,
  then low-score ones only to tracks already there (low scores never start a track). Lost tracks
  are kept for `track_buffer_s` and re-identified by IoU with their prediction, or, away from it,
  by appearance (a normalised grey crop aligned on the mesh's eye corners), which is also what a
  track must match after a scene cut — so a cut between two people never merges them.
- **Crossing faces**: when two followed meshes slide onto the same face, the one that jumped
  further from its own prediction is declared lost, and the detector finds the other face again.
- **Geometry now, readings later.** Only the stages that decide which faces there are (the
  landmarker, the verifier: those providing landmarks) steer the tracking; the reading stages (AUs,
  expression) fill fields on the faces the frame ends with. `step_split` returns the tracked frame and
  a call that adds the readings, so a caller may run that call for frame N on another thread while
  frame N+1 is followed (`VideoAnalysis` does, on two or more cores): the readings' models then run
  beside the mesh's instead of after it. The results are the same as `step`'s.
"""

from __future__ import annotations

import contextvars
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from ferx.boxes import box_iou, nms
from ferx.facecrop import frame_crops
from ferx.types import N_LANDMARKS, Faces, Frame, FrameResult
from ferx.video.appearance import appearance, blend
from ferx.video.kalman import KalmanBoxFilter
from ferx.video.matching import alone, crossing, match_detections, unclaimed
from ferx.video.result import TrackedFrame
from ferx.video.schedule import DetectionSchedule

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


# -- tracks ----------------------------------------------------------------------------------------


#: A lost face is looked for in a square of this many times its box side around its predicted place
#: (it may have moved or turned meanwhile), resampled to `_SEARCH_SIDE` px: the face becomes ~64 px,
#: in the detector's range from ~0.4× to ~2× the size it had.
_SEARCH_SPAN = 3.0
_SEARCH_SIDE = 192
_MAX_SEARCHES = 4  # more lost faces at once, or regions costing more than the frame: the whole frame


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


def _box_mesh(box: np.ndarray) -> np.ndarray:
    """A stand-in 'mesh' (the box corners repeated) for pipelines without a landmarker."""
    lm = np.zeros((N_LANDMARKS, 3), np.float32)
    lm[::2, :2] = box[:2]
    lm[1::2, :2] = box[2:]
    return lm


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

    def predicted_mesh_box(self) -> np.ndarray:
        """Where a lost track's mesh would be now: its last mesh box moved with the Kalman prediction."""
        m = mesh_box(self.landmarks)
        pred, last = self.kalman.box, self.box
        shift = (pred[:2] + pred[2:]) / 2 - (last[:2] + last[2:]) / 2
        return m + np.concatenate([shift, shift])


@dataclass
class _Now:
    """What one step knows about its frame: notes, timings, the detector's output and matches."""

    frame: Frame
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    detected: bool = False  # the detector ran on this frame (on the whole of it, or around lost faces)
    whole: bool = False  # the detector ran on the whole frame
    dets: Faces | None = None
    matched: list[tuple[Track, int]] = field(default_factory=list)

    @property
    def t(self) -> float:
        return float(self.frame.timestamp or 0.0)

    @property
    def detected_ids(self) -> set[int]:
        return {tr.id for tr, _ in self.matched}

    def image(self) -> np.ndarray:
        return self.frame.image


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
        self._geometry, self._readings = _split_fields(analyzer)
        self.schedule = DetectionSchedule(self.config, self.follow)
        self.tracks: list[Track] = []
        self._next_id = 1
        self.frames = 0

    @property
    def detections(self) -> int:
        """Frames on which the detector ran."""
        return self.schedule.detections

    # -- one frame ---------------------------------------------------------------------------------
    def step(self, frame: Frame) -> TrackedFrame:
        """Analyse one frame (in order); returns its faces with track IDs (not smoothed)."""
        with frame_crops(frame.image):  # the stages and the appearance cue share each face's crop
            return self.readings(self._step(_Now(frame)))

    def step_split(self, frame: Frame) -> tuple[TrackedFrame, Callable[[], TrackedFrame]]:
        """Follow one frame (in order): its faces with track IDs and geometry, and a call that returns
        the frame with the reading stages' fields added (the same as `step`'s result). The call may
        run on another thread, after later frames were followed; it shares this frame's crops."""
        with frame_crops(frame.image):
            tracked = self._step(_Now(frame))
            context = contextvars.copy_context()  # carries this frame's crop cache to the caller's thread
        return tracked, functools.partial(context.run, self.readings, tracked)

    def readings(self, tracked: TrackedFrame) -> TrackedFrame:
        """`tracked` with the reading stages (AUs, expression; not those in `skip`) run on its faces."""
        faces = tracked.result.faces
        if not len(faces) or not self._readings - self.skip:
            return tracked
        res, kept = self._refine(tracked.frame, faces, skip=self.skip | self._geometry)
        if len(kept) != len(faces):  # reading stages fill fields; they never drop a face
            raise RuntimeError(f"the reading stages kept {len(kept)} of {len(faces)} faces")
        timings = dict(tracked.result.timings_ms)
        timings_add(timings, res.timings_ms)
        notes = tuple(dict.fromkeys((*tracked.result.notes, *(n for n in res.notes if n != "no face found"))))
        return replace(tracked, result=replace(tracked.result, faces=res.faces, timings_ms=timings, notes=notes))

    def _step(self, now: _Now) -> TrackedFrame:
        frame = now.frame
        self.frames += 1
        cut = self.schedule.observe(frame)
        self._advance(now.t, cut)
        active = [tr for tr in self.tracks if tr.state == "tracked"]
        lost_ages = [now.t - tr.last_seen for tr in self.tracks if tr.state == "lost" and not tr.after_cut]
        if self.schedule.due(cut=cut, tracked=[tr.kalman.box for tr in active]):
            self._detect(now)
        elif (age := self.schedule.search_lost(lost_ages)) is not None:
            self._detect_near(now, [tr for tr in self.tracks
                                    if tr.state == "lost" and not tr.after_cut and now.t - tr.last_seen <= age])
        follow, follow_faces, candidates = self._to_measure(now, active)
        followed, new_faces = self._measure(now, follow, follow_faces, candidates)
        if self.follow and any(tr.state == "lost" or tr not in self.tracks for tr in follow):
            new_faces += self._look_again(now, follow, followed)
        self.schedule.finished(now.whole, now.detected)
        confirmed = self._confirm(now, followed, new_faces)
        return self._tracked_frame(now, confirmed, cut)

    def _advance(self, t: float, cut: bool) -> None:
        """Predict every track to this frame; a cut loses the followed ones; old lost ones expire."""
        for tr in self.tracks:
            tr.new = False
            tr.kalman.predict()
        if cut:
            for tr in self.tracks:
                if tr.state == "tracked":
                    tr.state, tr.after_cut = "lost", True
                    tr.kalman.stop()
        buffer = self.config.track_buffer_s
        self.tracks = [tr for tr in self.tracks if tr.state == "tracked" or t - tr.last_seen <= buffer]

    def _detect(self, now: _Now) -> Faces:
        t0 = time.perf_counter()
        now.dets = self.analyzer.detect(now.frame, now.notes)
        now.detected = now.whole = True
        now.timings["detect"] = now.timings.get("detect", 0.0) + (time.perf_counter() - t0) * 1e3
        return now.dets

    def _detect_near(self, now: _Now, lost: list[Track]) -> Faces:
        """Run the detector around where `lost` faces are predicted to be (`_SEARCH_SPAN` times their
        box, resampled to `_SEARCH_SIDE` px); the whole frame where that would not be cheaper."""
        frame = now.frame
        regions = []
        for tr in lost:
            x1, y1, x2, y2 = tr.kalman.box
            half = _SEARCH_SPAN * max(x2 - x1, y2 - y1) / 2
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            r = (max(0, int(cx - half)), max(0, int(cy - half)),
                 min(frame.width, int(math.ceil(cx + half))), min(frame.height, int(math.ceil(cy + half))))
            if r[2] - r[0] >= 8 and r[3] - r[1] >= 8:
                regions.append(r)
        # a region costs the detector about 1.5–1.8 × _SEARCH_SIDE² pixels (its levels), the
        # whole frame at least its own pixels
        if len(regions) > _MAX_SEARCHES or len(regions) * 1.5 * _SEARCH_SIDE**2 > frame.width * frame.height:
            return self._detect(now)
        t0 = time.perf_counter()
        parts = [self._detect_region(frame, r) for r in regions]
        dets = Faces.concat(parts) if parts else Faces.empty()
        if len(dets) > 1:  # regions overlap: a face found twice is kept once, its surer box
            dets = dets[nms(dets.boxes, dets.scores, 0.5)]
        now.dets = dets
        now.detected = True
        now.timings["detect"] = now.timings.get("detect", 0.0) + (time.perf_counter() - t0) * 1e3
        return dets

    def _detect_region(self, frame: Frame, region: tuple[int, int, int, int]) -> Faces:
        from PIL import Image

        x0, y0, x1, y1 = region
        crop = frame.image[y0:y1, x0:x1]
        k = _SEARCH_SIDE / max(x1 - x0, y1 - y0)
        if abs(k - 1.0) > 0.05:
            size = (max(1, round((x1 - x0) * k)), max(1, round((y1 - y0) * k)))
            crop = np.asarray(Image.fromarray(crop).resize(size, Image.BILINEAR, reducing_gap=3.0))
        else:
            k = 1.0
        found = self.analyzer.detect(Frame(crop, frame.source, frame.index, frame.timestamp), [])
        if not len(found):
            return found
        offset = np.array([x0, y0], np.float32)
        changes: dict[str, np.ndarray] = {
            "boxes": found.boxes / k + np.tile(offset, 2),
            "keypoints": found.keypoints / k + offset,
        }
        if found.landmarks is not None:
            lm = found.landmarks / k
            lm[..., :2] += offset
            changes["landmarks"] = lm
        return found.with_fields(**changes)

    def _to_measure(self, now: _Now, active: list[Track]) -> tuple[list[Track], Faces, Faces]:
        """The tracks to measure on this frame with their faces, and the new detections."""
        candidates = Faces.empty()
        if now.dets is not None:
            cfg = self.config
            candidates, pairs = match_detections(now.dets, [tr.kalman.box for tr in active], cfg.high_score,
                                                 cfg.match_iou)
            now.matched = [(active[r], d) for r, d in pairs]
            for tr, d in now.matched:
                tr.score = float(now.dets.scores[d])
            candidates = self._limit(candidates, len(active))
        if self.follow:  # followed tracks are cropped from their mesh, whether detected or not
            return active, self._follow_faces(active), candidates
        # the detector's boxes, every frame
        detected = now.detected_ids
        for tr in active:
            if tr.id not in detected:
                self._lose(tr)
        rows = np.array([d for _, d in now.matched], int)
        return [tr for tr, _ in now.matched], now.dets[rows] if now.dets is not None else Faces.empty(), candidates

    def _measure(self, now: _Now, follow: list[Track], follow_faces: Faces, candidates: Faces
                 ) -> tuple[list[tuple[Track, Faces]], list[Faces]]:
        """One landmarker batch: followed faces + new detections (cropped from their boxes). Returns
        the tracks confirmed with their faces, and the new faces."""
        faces_in = Faces.concat([follow_faces, candidates])
        res, kept = self._refined(now, faces_in)
        row_of = {int(k): i for i, k in enumerate(kept)}
        followed: list[tuple[Track, Faces]] = []
        for j, tr in enumerate(follow):
            if j in row_of:
                followed.append((tr, res.faces[row_of[j]]))
            else:
                self._lose(tr)
        followed = self._drop_duplicates(followed)
        n = len(follow)
        return followed, [res.faces[row_of[n + j]] for j in range(len(candidates)) if n + j in row_of]

    def _refined(self, now: _Now, faces: Faces, *, notes: bool = True) -> tuple[FrameResult, np.ndarray]:
        """The stages after the detector on `faces` (none: nothing runs); their timings and, with
        `notes`, their notes join the frame's."""
        if not len(faces):
            return FrameResult(now.frame.source, now.frame.width, now.frame.height, Faces.empty()), np.zeros(0, int)
        res, kept = self._refine(now.frame, faces, skip=self.skip | self._readings)
        timings_add(now.timings, res.timings_ms)
        if notes:
            now.notes.extend(n for n in res.notes if n != "no face found")
        return res, kept

    def _look_again(self, now: _Now, follow: list[Track], followed: list[tuple[Track, Faces]]) -> list[Faces]:
        """A followed face was lost: look for it around its place on this very frame. A detection
        that had been matched to it gets its own crop now (the face jumped)."""
        lost_now = [tr for tr in follow if tr.state == "lost" or tr not in self.tracks]
        if not now.detected:
            claimed = [_box_from_mesh(f.landmarks[0], tr.rel) for tr, f in followed]
            retry = unclaimed(self._detect_near(now, lost_now), claimed, self.config.high_score, self.config.match_iou)
        else:
            retry = now.dets[np.array([d for tr, d in now.matched if tr in lost_now], int)]  # type: ignore[index]
        res, _ = self._refined(now, self._limit(retry, len(followed)), notes=False)
        return [res.faces[i] for i in range(len(res.faces))]

    def _confirm(self, now: _Now, followed: list[tuple[Track, Faces]], new_faces: list[Faces]
                 ) -> list[tuple[Track, Faces, bool]]:
        """Update the followed tracks, give the new faces a track (re-identified or new); returns
        (track, face, found by the detector) sorted by track ID."""
        confirmed: list[tuple[Track, Faces, bool]] = []
        with_mesh = bool(followed) and followed[0][1].landmarks is not None
        # without meshes (no landmarker) there is no appearance to learn: every face counts as alone
        single = alone([mesh_box(f.landmarks[0]) for _, f in followed]) if with_mesh else [True] * len(followed)
        detected = now.detected_ids
        for k, (tr, face) in enumerate(followed):
            # Appearance is learnt on detection frames, and only from faces that overlap no other
            # face: a half-hidden face would teach the track someone else's looks.
            self._update(tr, face, now.t, now.image if tr.id in detected and single[k] else None)
            confirmed.append((tr, face, tr.id in detected))
        claimed = [tr.box for tr, _, _ in confirmed]
        for face in new_faces:
            if claimed and box_iou(face.boxes, np.array(claimed)).max() > 0.5:
                continue  # the detector found a face that is already followed
            tr = self._reidentify(face, now.image)
            if tr is None:
                tr = self._new_track(face, now.t, now.image)
            else:
                self._revive(tr, face, now.t, now.image)
            claimed.append(tr.box)
            confirmed.append((tr, face, True))
        return sorted(confirmed, key=lambda c: c[0].id)

    def _tracked_frame(self, now: _Now, confirmed: list[tuple[Track, Faces, bool]], cut: bool) -> TrackedFrame:
        frame = now.frame
        faces = Faces.concat([face.with_fields(boxes=tr.box[None], scores=[tr.score]) for tr, face, _ in confirmed])
        if cut:
            now.notes.append("scene cut")
        if not len(faces):
            now.notes.append("no face found")
        result = FrameResult(
            source=frame.source, width=frame.width, height=frame.height, faces=faces, index=frame.index,
            timestamp=frame.timestamp, timings_ms=now.timings, notes=tuple(dict.fromkeys(now.notes)),
        )
        return TrackedFrame(result, np.array([c[0].id for c in confirmed], np.int64),
                            np.array([c[2] for c in confirmed], bool), scene_cut=cut, detector_ran=now.detected,
                            frame=frame)

    def _limit(self, candidates: Faces, present: int) -> Faces:
        """Apply the analyzer's max_faces to new faces (largest first)."""
        limit = self.analyzer.config.max_faces
        if limit is None or len(candidates) <= max(0, limit - present):
            return candidates
        return candidates.largest(max(0, limit - present))

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
        drift = []
        for (tr, _), b in zip(followed, boxes):
            last = mesh_box(tr.landmarks)
            drift.append(float(np.abs(b - last).sum() / max(last[2] - last[0], 1.0)))
        dropped = crossing(boxes, drift)
        for i in dropped:
            self._lose(followed[i][0])
        return [f for i, f in enumerate(followed) if i not in dropped]

    def _reidentify(self, face: Faces, image: Callable[[], np.ndarray]) -> Track | None:
        cfg = self.config
        lost = [tr for tr in self.tracks if tr.state == "lost"]
        if not lost or face.landmarks is None:
            return None
        app = appearance(image(), face.landmarks[0])
        box = mesh_box(face.landmarks[0])
        best, best_score = None, -math.inf
        for tr in lost:
            sim = -1.0 if tr.appearance is None else float(tr.appearance @ app)
            iou = float(box_iou(box[None], tr.predicted_mesh_box()[None])[0, 0])
            if tr.after_cut:
                ok = sim >= cfg.reid_similarity
            else:
                ok = (iou >= cfg.match_iou and sim >= cfg.match_similarity) or sim >= cfg.reid_similarity
            score = sim + iou
            if ok and score > best_score:
                best, best_score = tr, score
        return best

    # -- track life ------------------------------------------------------------------------------
    def _new_track(self, face: Faces, t: float, image: Callable[[], np.ndarray]) -> Track:
        lm = face.landmarks[0] if face.landmarks is not None else None
        if lm is None:  # a pipeline without a landmarker: a box-only track
            lm = _box_mesh(face.boxes[0])
        tr = Track(
            id=self._next_id, kalman=KalmanBoxFilter(face.boxes[0]), landmarks=lm, rel=_rel(face.boxes[0], lm),
            score=float(face.scores[0]), appearance=appearance(image(), lm) if face.landmarks is not None else None,
            first_seen=t, last_seen=t,
        )
        self._next_id += 1
        self.tracks.append(tr)
        return tr

    def _revive(self, tr: Track, face: Faces, t: float, image: Callable[[], np.ndarray]) -> None:
        lm = face.landmarks[0]
        tr.state, tr.after_cut, tr.new = "tracked", False, True
        tr.rel = _rel(face.boxes[0], lm)
        tr.kalman = KalmanBoxFilter(face.boxes[0])
        tr.landmarks, tr.score, tr.last_seen = lm, float(face.scores[0]), t
        tr.appearance = blend(tr.appearance, appearance(image(), lm))
        tr.frames += 1

    def _update(self, tr: Track, face: Faces, t: float, image: Callable[[], np.ndarray] | None) -> None:
        if face.landmarks is None:
            tr.kalman.update(face.boxes[0])
            tr.landmarks = _box_mesh(face.boxes[0])
        else:
            lm = face.landmarks[0]
            if image is not None:
                tr.appearance = blend(tr.appearance, appearance(image(), lm))
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


def _split_fields(analyzer: Analyzer) -> tuple[frozenset[str], frozenset[str]]:
    """The `Faces` fields of the stages after the detector that decide which faces there are (they
    provide landmarks or boxes: the landmarker, the verifier), and those of the stages that only read
    the faces (AUs, expression, explanations)."""
    geometry: frozenset[str] = frozenset()
    readings: frozenset[str] = frozenset()
    for stage in analyzer.describe().stages:
        if not stage.needs:
            continue  # a source: refine never runs it
        if stage.provides & {"boxes", "landmarks"}:
            geometry |= stage.provides
        else:
            readings |= stage.provides
    return geometry, readings - geometry


def timings_add(into: dict[str, float], more: dict[str, float]) -> None:
    for k, v in more.items():
        if k not in ("decode", "total"):
            into[k] = into.get(k, 0.0) + v


__all__ = ["FaceTracker", "KalmanBoxFilter", "Track", "TrackingConfig", "appearance", "mesh_box"]
