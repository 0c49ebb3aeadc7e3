"""Face-mesh geometry shared by the landmark backends: head pose, keypoints, the canonical face.

Head pose is the rotation of MediaPipe's canonical face mesh (shipped in the face-landmarker bundle as
`geometry_pipeline_metadata_landmarks.binarypb`) onto the measured landmarks, found by weighted
orthogonal Procrustes (Kabsch) with MediaPipe's own Procrustes landmark weights. It assumes weak
perspective (the face's depth is small next to its distance from the camera), which holds for photos.
"""

from __future__ import annotations

import math

import numpy as np

from ferx.canonical import canonical_face

# ferx's 5 keypoints from the mesh: iris centres (468, 473), nose tip (1), mouth corners (61, 291).
# The mesh indices are in the subject's frame, so image-left/right are assigned by x.
_IRIS_A, _IRIS_B, _NOSE_TIP, _MOUTH_A, _MOUTH_B = 468, 473, 1, 61, 291


def keypoints_from_mesh(mesh: np.ndarray) -> np.ndarray:
    """(478, 3) mesh → (5, 2) keypoints in ferx's order (eye L, eye R, nose, mouth L, mouth R)."""
    a, b = mesh[_IRIS_A, :2], mesh[_IRIS_B, :2]
    ma, mb = mesh[_MOUTH_A, :2], mesh[_MOUTH_B, :2]
    eyes = (a, b) if a[0] <= b[0] else (b, a)
    mouth = (ma, mb) if ma[0] <= mb[0] else (mb, ma)
    return np.stack([eyes[0], eyes[1], mesh[_NOSE_TIP, :2], mouth[0], mouth[1]]).astype(np.float32)


def euler_from_rotation(rotation: np.ndarray) -> np.ndarray:
    """Yaw, pitch, roll in degrees from a 3×3 rotation of the canonical face into the camera frame.

    Frames: the canonical face as MediaPipe defines it (y up, z out of the face, frontal = identity);
    camera x right, y up, z towards the viewer. R = Ry(yaw) Rx(pitch) Rz(roll), reported with signs
    chosen so that: yaw > 0 when the face turns towards the image's right, pitch > 0 when the face
    tilts up (chin raised), roll > 0 when the head tilts clockwise in the image (top of the head
    towards the image's right). tests/landmarks checks them on a rotated canonical face and on real
    photos and their mirror images.
    """
    r = np.asarray(rotation, np.float64)
    r = r / np.linalg.norm(r, axis=0, keepdims=True)  # the matrix may carry a uniform scale
    pitch = math.asin(max(-1.0, min(1.0, -r[1, 2])))
    yaw = math.atan2(r[0, 2], r[2, 2])
    roll = math.atan2(r[1, 0], r[1, 1])
    return np.degrees([yaw, -pitch, -roll]).astype(np.float32)


def head_pose(landmarks: np.ndarray) -> np.ndarray:
    """(N, 478, 3) landmarks in image pixels → (N, 3) yaw, pitch, roll in degrees (NaN rows stay NaN)."""
    verts, ids, weights = canonical_face()
    src = verts[ids]
    w = weights / weights.sum()
    src_c = src - (w[:, None] * src).sum(0)
    out = np.full((landmarks.shape[0], 3), np.nan, np.float32)
    for i, lm in enumerate(landmarks):
        if not np.isfinite(lm).all():
            continue
        # image frame (x right, y down, z away from the viewer) → camera frame (y up, z towards viewer)
        dst = lm[ids].astype(np.float64) * np.array([1.0, -1.0, -1.0])
        dst_c = dst - (w[:, None] * dst).sum(0)
        h = (w[:, None] * src_c).T @ dst_c
        u, _, vt = np.linalg.svd(h)
        d = np.sign(np.linalg.det(vt.T @ u.T))
        rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
        out[i] = euler_from_rotation(rot)
    return out
