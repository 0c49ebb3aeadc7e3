"""Freezes the public API: a change here is a deliberate, documented change."""

import ferx


def test_public_names():
    assert sorted(ferx.__all__) == sorted(
        [
            "AU_CODES", "AU_TABLE", "EXPRESSIONS", "Analyzer", "AnalyzerConfig", "ConfigError", "Explanation", "Faces",
            "Failure", "FerxError", "Frame", "FrameResult", "ImageReadError", "ImageSizeError",
            "ImageTooLarge", "ImageTooSmall", "ModelFileError", "NoImagesError", "StageConfig", "UnsupportedFormatError", "__version__",
            "find_images", "load_image",
        ]
    )
    for name in ferx.__all__:
        assert hasattr(ferx, name), name


def test_faces_fields():
    import dataclasses

    assert [f.name for f in dataclasses.fields(ferx.Faces)] == [
        "boxes", "scores", "keypoints", "landmarks", "blendshapes", "head_pose", "aus", "expression",
        "expression_maps", "au_codes", "expression_labels", "explanations", "au_profile",
    ]


def test_model_file_is_verified(tmp_path, monkeypatch):
    import pytest

    from ferx import assets

    fake = tmp_path / "face_landmarker.task"
    fake.write_bytes(b"not the model")
    monkeypatch.setenv(assets.FACE_LANDMARKER_ENV, str(fake))
    with pytest.raises(ferx.ModelFileError, match="does not match"):
        assets.face_landmarker_path()
    monkeypatch.setenv(assets.FACE_LANDMARKER_ENV, str(tmp_path / "absent.task"))
    with pytest.raises(ferx.ModelFileError, match="not found"):
        assets.face_landmarker_path()
