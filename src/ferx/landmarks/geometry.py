"""Face-mesh geometry shared by the landmark backends: head pose, keypoints, the canonical face.

Head pose is the rotation of MediaPipe's canonical face mesh (shipped in the face-landmarker bundle as
`geometry_pipeline_metadata_landmarks.binarypb`) onto the measured landmarks, found by weighted
orthogonal Procrustes (Kabsch) with MediaPipe's own Procrustes landmark weights. It assumes weak
perspective (the face's depth is small next to its distance from the camera), which holds for photos.
"""

from __future__ import annotations

import math
import struct
from functools import lru_cache

import numpy as np

from ferx.assets import face_landmarker_member

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


def _fields(buf: bytes) -> list[tuple[int, int, object]]:
    """Minimal protobuf wire-format reader: (field number, wire type, value) triples."""
    out, i = [], 0

    def varint(i: int) -> tuple[int, int]:
        shift = value = 0
        while True:
            b = buf[i]
            value |= (b & 0x7F) << shift
            i += 1
            if b < 0x80:
                return value, i
            shift += 7

    while i < len(buf):
        key, i = varint(i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            length, i = varint(i)
            value, i = buf[i : i + length], i + length
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((field, wire, value))
    return out


@lru_cache(maxsize=1)
def canonical_face() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's canonical face: (468, 3) vertices (cm), Procrustes landmark ids and weights."""
    meta = face_landmarker_member("geometry_pipeline_metadata_landmarks.binarypb")
    vertices: list[float] = []
    ids: list[int] = []
    weights: list[float] = []
    for field, _, value in _fields(meta):
        if field == 1:  # canonical_mesh: Mesh3d
            for f, wire, v in _fields(value):  # type: ignore[arg-type]
                if f == 3:  # vertex_buffer: packed (wire 2) or single (wire 5) floats
                    data = bytes(v) if wire == 2 else v  # type: ignore[arg-type]
                    vertices.extend(struct.unpack(f"<{len(data) // 4}f", data))
        elif field == 2:  # procrustes_landmark_basis: WeightedLandmarkRef
            lid, w = 0, 0.0
            for f, _, v in _fields(value):  # type: ignore[arg-type]
                if f == 1:
                    lid = int(v)  # type: ignore[arg-type]
                elif f == 2:
                    w = struct.unpack("<f", v)[0]  # type: ignore[arg-type]
            ids.append(lid)
            weights.append(w)
    verts = np.array(vertices, np.float64).reshape(-1, 5)[:, :3]  # VERTEX_PT: x y z u v
    return verts, np.array(ids, np.int64), np.array(weights, np.float64)


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
