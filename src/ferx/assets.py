"""Model files: where they come from and the checksum each must match.

ferx downloads nothing. The MediaPipe Face Landmarker bundle (`face_landmarker.task`, float16
version 1, Apache-2.0, Google) ships inside ferx at `ferx/assets/mediapipe/`, with its licence and a
NOTICE saying where the copy came from; it holds the short-range BlazeFace detector, the
478-point face mesh model and the 52-blendshape model. OpenCV Zoo's YuNet detector (MIT) ships at
`ferx/assets/yunet/` the same way. Each file is verified by sha256 before use, so a different file
under the same name is refused rather than silently used.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ferx.errors import ModelFileError

FACE_LANDMARKER_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
#: Environment variable naming another copy of the same file (still checked against the sha256).
FACE_LANDMARKER_ENV = "FERX_FACE_LANDMARKER_TASK"


def face_landmarker_path() -> Path:
    """Path of the verified `face_landmarker.task`: the copy shipped with ferx, or the file named
    by the environment variable FERX_FACE_LANDMARKER_TASK (which must have the same sha256)."""
    override = os.environ.get(FACE_LANDMARKER_ENV)
    if override:
        return _verified(Path(override))
    return _verified(Path(str(resources.files("ferx") / "assets" / "mediapipe" / "face_landmarker.task")))


def _verified(path: Path) -> Path:
    hint = (
        f" (named by {FACE_LANDMARKER_ENV})"
        if os.environ.get(FACE_LANDMARKER_ENV)
        else "; it ships with ferx, so reinstall ferx"
    )
    return _checked(path, FACE_LANDMARKER_SHA256, hint)


#: The YuNet detector ferx ships (`detector: yunet`): OpenCV Zoo's face_detection_yunet_2023mar.onnx
#: (MIT; sha256 8f2383e4…, `ferx.train.yunet.UPSTREAM_SHA256`) with its declared 640-px shapes made
#: symbolic by `python -m ferx.train.yunet`; nodes and weights unchanged (assets/yunet/NOTICE).
YUNET_SHA256 = "8e3291d99930eb770af62e20417889796c288851194cc5293d078cdbc2d1b68d"


def yunet_path() -> Path:
    """Path of the verified YuNet ONNX file shipped with ferx."""
    path = Path(str(resources.files("ferx") / "assets" / "yunet" / "face_detection_yunet_2023mar.onnx"))
    return _checked(path, YUNET_SHA256, "; it ships with ferx, so reinstall ferx")


@lru_cache(maxsize=None)
def _checked(path: Path, sha256: str, hint: str) -> Path:
    """`path` if it is a file with this sha256 (read once per path); else ModelFileError, with `hint`
    after "not found"."""
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}{hint}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise ModelFileError(
            f"{path}: sha256 {digest[:12]}… does not match the expected {sha256[:12]}…; "
            "the file is corrupt or a different model version"
        )
    return path


@lru_cache(maxsize=None)
def face_landmarker_member(name: str) -> bytes:
    """One model inside the verified bundle, e.g. 'face_detector.tflite'."""
    with zipfile.ZipFile(face_landmarker_path()) as z:
        try:
            return z.read(name)
        except KeyError:
            raise ModelFileError(f"{name} is not in the face landmarker bundle ({', '.join(z.namelist())})") from None


def demo_image() -> Path:
    """The bundled example: NASA's portrait of astronaut Eileen Collins (public domain), as
    distributed by scikit-image."""
    return Path(str(resources.files("ferx") / "assets" / "astronaut.jpg"))


def packaged_model(model: str, what: str) -> tuple[Path, dict]:
    """A model ferx trained: a shipped name (ferx/assets/models/NAME.onnx) or a path to NAME.onnx,
    with its JSON sidecar NAME.json; the file's sha256 must match the sidecar's.

    Args:
        model: name or path.
        what: what the model is, for error messages ("expression model", "one-pass model").
    Returns:
        (path of the .onnx file, sidecar contents).
    """
    import json

    path = Path(model)
    if path.suffix != ".onnx":
        path = Path(str(resources.files("ferx") / "assets" / "models" / f"{model}.onnx"))
    meta_path = path.with_suffix(".json")
    if not path.is_file() or not meta_path.is_file():
        raise ModelFileError(f"{what} {model!r} not found (need {path} and {meta_path.name} beside it)")
    meta = json.loads(meta_path.read_text())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != meta.get("sha256"):
        raise ModelFileError(f"{path}: sha256 {digest[:12]}… does not match its model card ({str(meta.get('sha256'))[:12]}…)")
    return path, meta
