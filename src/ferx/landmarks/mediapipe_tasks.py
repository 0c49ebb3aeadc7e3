"""Reference landmarker: MediaPipe's own Tasks API (FaceLandmarker) on a crop around each face.

Slower than `ferx.landmarks.facemesh` (about 20 ms against 4 ms per face here) because the Tasks graph
runs its own detector inside every crop; kept as the official reference the fast path is tested against.
Needs the `mediapipe` package, an optional extra: `pip install 'ferx[mediapipe]'`.

Kartynnik et al., "Real-time Facial Surface Geometry from Monocular Video on Mobile GPUs" (2019);
Grishchenko et al., "Attention Mesh" (2020); blendshapes from MediaPipe's face-landmarker model card.
Model: `face_landmarker.task` (Apache-2.0), verified by sha256 (see `ferx.assets`).

Each face is cut out as a square around its detection box, `crop_scale` times the box side, and
resized to `crop_size`: MediaPipe's own short-range detector then sees a selfie-sized face in every
crop, whatever the face's size in the photo, and the landmarks are mapped back to image pixels. When
a crop holds several faces (crowds), the one whose landmarks overlap the detection box most is kept;
when it holds none, the face's landmark fields are NaN (the pipeline drops such boxes by default).
"""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image

from ferx.assets import face_landmarker_path
from ferx.facs import BLENDSHAPES
from ferx.landmarks.geometry import euler_from_rotation, keypoints_from_mesh
from ferx.stages import LANDMARKERS, StageBase
from ferx.types import N_LANDMARKS, Faces

@LANDMARKERS.register("mediapipe-tasks")
class MediaPipeTasksLandmarker(StageBase):
    """MediaPipe Face Landmarker run on one crop per detected face.

    Args:
        crop_scale: crop side as a multiple of the detection box's longer side.
        crop_size: side in pixels the crop is resized to before the model.
        min_detection: MediaPipe's in-crop face detection confidence.
        min_presence: MediaPipe's face presence confidence.
        min_overlap: least IoU between the landmarks' extent and the detection box for the
            landmarks to be accepted as this face's.
    """

    needs = frozenset({"boxes", "keypoints"})
    provides = frozenset({"landmarks", "blendshapes", "head_pose", "keypoints"})

    def __init__(
        self,
        crop_scale: float = 2.0,
        crop_size: int = 256,
        min_detection: float = 0.3,
        min_presence: float = 0.5,
        min_overlap: float = 0.2,
    ) -> None:
        # mediapipe is an optional extra (ferx[mediapipe]) used only by this reference backend: it is
        # heavy and pulls two OpenCV wheels, which the default pipeline does not need.
        try:
            import mediapipe as mp
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as e:
            raise ImportError(
                f"the 'mediapipe-tasks' landmarker needs the optional package mediapipe ({e}); "
                "install it with `pip install 'ferx[mediapipe]'`, or use the default landmarker 'mediapipe'"
            ) from None

        self._mp = mp
        self._lock = threading.Lock()
        self.crop_scale = float(crop_scale)
        self.crop_size = int(crop_size)
        self.min_overlap = float(min_overlap)
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(face_landmarker_path())),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=3,
            min_face_detection_confidence=min_detection,
            min_face_presence_confidence=min_presence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        self._landmarker = vision.FaceLandmarker.create_from_options(options)
        self._names_checked = False

    def _crop(self, pil: Image.Image, box: np.ndarray) -> tuple[Image.Image, float, float, float]:
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = max(box[2] - box[0], box[3] - box[1]) * self.crop_scale
        x0, y0 = cx - side / 2, cy - side / 2
        # PIL fills outside the image with black, so faces at the border keep their geometry.
        crop = pil.transform(
            (self.crop_size, self.crop_size),
            Image.EXTENT,
            (x0, y0, x0 + side, y0 + side),
            Image.BILINEAR,
        )
        return crop, float(x0), float(y0), float(side)

    def process(self, image: np.ndarray, faces: Faces, notes: list[str] | None = None) -> Faces:
        n = len(faces)
        landmarks = np.full((n, N_LANDMARKS, 3), np.nan, np.float32)
        blendshapes = np.full((n, len(BLENDSHAPES)), np.nan, np.float32)
        pose = np.full((n, 3), np.nan, np.float32)
        keypoints = faces.keypoints.copy()
        pil = Image.fromarray(image)
        for i, box in enumerate(faces.boxes):
            crop, x0, y0, side = self._crop(pil, box)
            mp_image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.asarray(crop))
            with self._lock:  # MediaPipe's task graph serves one call at a time
                result = self._landmarker.detect(mp_image)
            best, best_iou = -1, self.min_overlap
            candidates = []
            for j, lms in enumerate(result.face_landmarks):
                pts = np.array([(p.x, p.y, p.z) for p in lms], np.float32) * side
                pts[:, 0] += x0
                pts[:, 1] += y0
                candidates.append(pts)
                extent = np.array([*pts[:, :2].min(0), *pts[:, :2].max(0)])
                iou = _iou(extent, box)
                if iou >= best_iou:
                    best, best_iou = j, iou
            if best < 0:
                continue
            landmarks[i] = candidates[best]
            cats = result.face_blendshapes[best]
            if not self._names_checked:
                names = tuple(c.category_name for c in cats)
                if names != BLENDSHAPES:
                    raise RuntimeError(f"unexpected blendshape names from the model: {names[:5]}…")
                self._names_checked = True
            blendshapes[i] = [c.score for c in cats]
            pose[i] = euler_from_rotation(np.asarray(result.facial_transformation_matrixes[best])[:3, :3])
            keypoints[i] = keypoints_from_mesh(landmarks[i])
        return faces.with_fields(landmarks=landmarks, blendshapes=blendshapes, head_pose=pose, keypoints=keypoints)

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
