"""MediaPipe's canonical face, read from the face-landmarker bundle: the face every mesh is compared
with (head pose in `landmarks.geometry`, the pose-free AU geometry in `aus.measures`).

The bundle ships it as `geometry_pipeline_metadata_landmarks.binarypb`; a 40-line protobuf reader
stands in for a protobuf dependency.
"""

from __future__ import annotations

import struct
from functools import lru_cache

import numpy as np

from ferx.assets import face_landmarker_member


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
