"""Face mesh (478 points), blendshapes (52) and head pose, from the face-landmarker bundle on LiteRT.

Kartynnik et al., "Real-time Facial Surface Geometry from Monocular Video on Mobile GPUs" (2019);
Grishchenko et al., "Attention Mesh" (2020); the blendshape model from MediaPipe's face-landmarker
model card. The models come from the verified bundle (see `ferx.assets`).

This runs the bundle's mesh and blendshape models directly, the way MediaPipe's graph does, but
batched across all faces of a frame and without a second detector inside each crop:
  1. ROI per face: the detection box scaled by 1.5 about its centre (MediaPipe's
     RectTransformation), square, rotated so the eye line is horizontal;
  2. the ROI is warped to 256×256 RGB in [0, 1] and the mesh model returns 478 points in crop
     pixels plus a face-presence logit; points are mapped back through the inverse warp
     (z scaled like x);
  3. the 146-point subset MediaPipe feeds its blendshape model (kLandmarksSubsetIdxs of
     face_blendshapes_graph.cc), as (x, y) in image pixels, gives the 52 blendshape scores;
  4. head pose by Procrustes against the canonical face (ferx.landmarks.geometry).
Optionally a second pass re-crops from the first pass's landmarks (`passes=2`), as MediaPipe does
when tracking, which helps when the detection box is loose. Faces that arrive with landmarks (from
a video's previous frame, `ferx.video`) are cropped from those instead of their box.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ferx.assets import face_landmarker_member
from ferx.facecrop import frame_image
from ferx.facs import BLENDSHAPES
from ferx.landmarks.geometry import head_pose, keypoints_from_mesh
from ferx.litert import LiteRTModel
from ferx.stages import LANDMARKERS, StageBase
from ferx.types import N_LANDMARKS, Faces

_CROP = 256
#: Landmark subset of MediaPipe's blendshape model input, in its order (146 points).
BLENDSHAPE_INPUT_LANDMARKS: tuple[int, ...] = (
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66,
    67, 70, 78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136, 144, 145,
    146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163, 168, 172, 173, 176, 178,
    181, 185, 191, 195, 197, 234, 246, 249, 251, 263, 267, 269, 270, 276, 282, 283, 284, 285, 288, 291,
    293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317, 318, 321, 323, 324, 332, 334, 336, 338, 356,
    361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382, 384, 385, 386, 387, 388, 389, 390, 397,
    398, 400, 402, 405, 409, 415, 454, 466, 468, 469, 470, 471, 472, 473, 474, 475, 476, 477,
)
# Outer eye corners and the mesh extent used to re-crop from landmarks (second pass).
_EYE_OUTER_A, _EYE_OUTER_B = 33, 263
#: ROI side as a multiple of the mesh's extent when a face arrives with landmarks from the previous
#: video frame: MediaPipe's own value (face_landmark_landmarks_to_roi). Measured on the talking-face
#: clip, it gives landmarks closer to those cropped from each frame's detection than 1.25 does
#: (1.6 % against 2.3 % of the eye-corner distance), with less jitter (docs/video.md).
TRACK_ROI_SCALE = 1.5
#: What the crop shows where the ROI reaches past the image: mid-grey, not black. A face filling its
#: image (a dataset crop, a close-up) has most of its ROI outside the image; on FACS-coded 48-px crops
#: the AUs read from a grey-padded ROI were closer to the coders' (docs/aus.md) — MediaPipe's model
#: saw faces in scenes, not on black.
PAD_GREY = (128, 128, 128)


def batches(n: int, largest: int) -> list[tuple[int, int]]:
    """(start, size) of the model calls for n faces: sizes are powers of two of at most `largest`, so
    that the mesh model sees a few fixed input shapes (an interpreter per shape, built once) whatever
    the number of faces in a photo (13 faces: 8 + 4 + 1)."""
    out, start = [], 0
    while start < n:
        size = min(1 << ((n - start).bit_length() - 1), 1 << (largest.bit_length() - 1))
        out.append((start, size))
        start += size
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80, 80)))


@LANDMARKERS.register("mediapipe")
class FaceMeshLandmarker(StageBase):
    """478 landmarks, 52 blendshapes and head pose for every face, batched.

    Args:
        roi_scale: ROI side as a multiple of the detection box's longer side (MediaPipe: 1.5).
        min_presence, sure_presence, min_score_unsure: a face is confirmed when the mesh model's
            face-presence probability is >= sure_presence, or >= min_presence (MediaPipe's own
            threshold) with a detection score >= min_score_unsure. Unconfirmed faces get NaN
            fields (the pipeline then drops them as false detections by default). Measured on
            composed group images: true faces scored presence >= 0.9999 at the 5th percentile, false
            detections ~0; but a false box on a space suit's neck ring reached presence 0.75 with
            detection score 0.52, while real faces cut off by a tight photo crop reached 0.6–0.8
            with detection scores 0.66–0.89.
        passes: 1 = crop from the detection; 2 = crop again from the first pass's landmarks.
        batch_size: most faces per model call (bounds memory on crowded frames); calls hold a power of
            two of faces (`batches`).
        threads: CPU threads for LiteRT.
    """

    needs = frozenset({"boxes", "keypoints"})
    provides = frozenset({"landmarks", "blendshapes", "head_pose", "keypoints"})
    threads_option = "threads"

    def __init__(
        self,
        roi_scale: float = 1.5,
        min_presence: float = 0.5,
        sure_presence: float = 0.9,
        min_score_unsure: float = 0.6,
        passes: int = 1,
        batch_size: int = 16,
        threads: int = 2,
    ) -> None:
        if passes not in (1, 2):
            raise ValueError(f"passes must be 1 or 2, got {passes}")
        self.roi_scale = float(roi_scale)
        self.min_presence = float(min_presence)
        self.sure_presence = float(sure_presence)
        self.min_score_unsure = float(min_score_unsure)
        self.passes = int(passes)
        self.batch_size = int(batch_size)
        self._mesh = LiteRTModel(face_landmarker_member("face_landmarks_detector.tflite"), threads=threads)
        self._blend = LiteRTModel(face_landmarker_member("face_blendshapes.tflite"), threads=threads)
        self._subset = np.array(BLENDSHAPE_INPUT_LANDMARKS)

    @staticmethod
    def _roi_from_faces(faces: Faces, scale: float) -> np.ndarray:
        """(N, 4) ROIs: centre x, centre y, side, angle (radians) of the eye line."""
        b, k = faces.boxes, faces.keypoints
        centre = (b[:, :2] + b[:, 2:]) / 2
        side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * scale
        eye_vec = k[:, 1] - k[:, 0]
        angle = np.arctan2(eye_vec[:, 1], eye_vec[:, 0])
        return np.column_stack([centre, side, angle]).astype(np.float64)

    @staticmethod
    def _roi_from_mesh(mesh: np.ndarray, scale: float) -> np.ndarray:
        """ROIs from landmarks: rotation from the outer eye corners, extent of the rotated mesh."""
        out = np.zeros((mesh.shape[0], 4))
        for i, lm in enumerate(mesh):
            v = lm[_EYE_OUTER_B, :2] - lm[_EYE_OUTER_A, :2]
            angle = math.atan2(v[1], v[0])
            if v[0] < 0:  # mirrored subject-left/right: keep the eye line pointing right
                angle = math.atan2(-v[1], -v[0])
            c, s = math.cos(-angle), math.sin(-angle)
            pts = lm[:, :2] @ np.array([[c, s], [-s, c]])
            lo, hi = pts.min(0), pts.max(0)
            mid = (lo + hi) / 2
            centre = mid @ np.array([[c, -s], [s, c]])
            out[i] = [centre[0], centre[1], (hi - lo).max() * scale, angle]
        return out

    def _warp(self, pil: Image.Image, roi: np.ndarray) -> np.ndarray:
        cx, cy, side, angle = roi
        k = side / _CROP
        c, s = math.cos(angle), math.sin(angle)
        # output pixel (u, v) samples input centre + k * R(angle) @ ((u, v) - CROP/2)
        a, b_, d, e = k * c, -k * s, k * s, k * c
        off = _CROP / 2
        coeffs = (a, b_, cx - a * off - b_ * off, d, e, cy - d * off - e * off)
        crop = pil.transform((_CROP, _CROP), Image.AFFINE, coeffs, Image.BILINEAR, fillcolor=PAD_GREY)
        return np.asarray(crop, np.float32) / 255.0

    @staticmethod
    def _unwarp(points: np.ndarray, roi: np.ndarray) -> np.ndarray:
        cx, cy, side, angle = roi
        k = side / _CROP
        c, s = math.cos(angle), math.sin(angle)
        uv = points[:, :2] - _CROP / 2
        x = cx + k * (c * uv[:, 0] - s * uv[:, 1])
        y = cy + k * (s * uv[:, 0] + c * uv[:, 1])
        return np.column_stack([x, y, points[:, 2] * k]).astype(np.float32)

    def _mesh_pass(self, pil: Image.Image, rois: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(rois)
        mesh = np.zeros((n, N_LANDMARKS, 3), np.float32)
        presence = np.zeros(n, np.float32)
        for start, size in batches(n, self.batch_size):
            chunk = rois[start : start + size]
            batch = np.stack([self._warp(pil, r) for r in chunk])
            raw, logit, *_ = self._mesh(batch)
            raw = raw.reshape(len(chunk), N_LANDMARKS, 3)
            for j, r in enumerate(chunk):
                mesh[start + j] = self._unwarp(raw[j], r)
            presence[start : start + len(chunk)] = _sigmoid(logit.reshape(len(chunk)))
        return mesh, presence

    def blendshapes(self, mesh: np.ndarray) -> np.ndarray:
        """(N, 478, 3) landmarks in image pixels → (N, 52) blendshape scores."""
        out = np.zeros((len(mesh), len(BLENDSHAPES)), np.float32)
        for i, lm in enumerate(mesh):  # the model takes one face at a time (input 1×146×2)
            out[i] = self._blend(lm[self._subset, :2][None].astype(np.float32))[0].reshape(-1)
        return out

    def mesh(self, image: np.ndarray, faces: Faces) -> tuple[np.ndarray, np.ndarray]:
        """(N, 478, 3) landmarks in image pixels and (N,) face-presence probabilities for every face,
        confirmed or not (`process` keeps the confirmed ones; the verifier's training data reads all)."""
        pil = frame_image(image)
        rois = self._roi_from_faces(faces, self.roi_scale)
        if faces.landmarks is not None:
            # Faces that arrive with a mesh (a video's previous frame) are cropped from it, as
            # MediaPipe's video mode does: no detector is needed to follow a face, and the crop
            # fits the whole face better than a detection box does.
            prior = faces.has_landmarks
            if prior.any():
                rois[prior] = self._roi_from_mesh(faces.landmarks[prior], TRACK_ROI_SCALE)
        mesh, presence = self._mesh_pass(pil, rois)
        if self.passes == 2:
            mesh, presence = self._mesh_pass(pil, self._roi_from_mesh(mesh, 1.25))
        return mesh, presence

    def confirmed(self, presence: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """(N,) True where the mesh confirms a face: presence >= sure_presence, or >= min_presence
        with a detection score >= min_score_unsure."""
        return (presence >= self.sure_presence) | ((presence >= self.min_presence) & (scores >= self.min_score_unsure))

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:
        n = len(faces)
        mesh, presence = self.mesh(image, faces)
        ok = self.confirmed(presence, faces.scores)
        landmarks = np.full((n, N_LANDMARKS, 3), np.nan, np.float32)
        blend = np.full((n, len(BLENDSHAPES)), np.nan, np.float32)
        keypoints = faces.keypoints.copy()
        landmarks[ok] = mesh[ok]
        if ok.any():
            blend[ok] = self.blendshapes(mesh[ok])
            keypoints[ok] = np.stack([keypoints_from_mesh(m) for m in mesh[ok]])
        return faces.with_fields(
            landmarks=landmarks, blendshapes=blend, head_pose=head_pose(landmarks), keypoints=keypoints
        )

    def close(self) -> None:
        self._mesh.close()
        self._blend.close()
