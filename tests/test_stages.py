"""Contract tests over every registered backend of every stage registry."""

import importlib.util

import numpy as np
import pytest

import ferx.backends  # noqa: F401  (registers the built-in backends)
from ferx.errors import ConfigError
from ferx.stages import AU_ESTIMATORS, DETECTORS, EXPLAINERS, EXPRESSION_CLASSIFIERS, FIELDS, LANDMARKERS
from ferx.types import Faces

REGISTRIES = (DETECTORS, LANDMARKERS, AU_ESTIMATORS, EXPRESSION_CLASSIFIERS, EXPLAINERS)
BACKENDS = [(r, name) for r in REGISTRIES for name in r.names()]
NEEDS_MEDIAPIPE = {"mediapipe-tasks"}


def _skip_missing(name):
    if name in NEEDS_MEDIAPIPE and importlib.util.find_spec("mediapipe") is None:
        pytest.skip("the mediapipe extra is not installed")


@pytest.mark.parametrize("registry,name", BACKENDS, ids=[f"{r.stage}:{n}" for r, n in BACKENDS])
def test_every_backend_builds_with_defaults_and_declares_known_fields(registry, name):
    _skip_missing(name)
    cls = registry.get(name)
    assert set(cls.needs) <= FIELDS and set(cls.provides) <= FIELDS and cls.provides
    with registry.create(name) as stage:
        assert callable(stage.process)
    if registry is DETECTORS:
        assert not cls.needs and {"boxes", "scores", "keypoints"} <= set(cls.provides)  # a source


@pytest.mark.parametrize("registry,name", BACKENDS, ids=[f"{r.stage}:{n}" for r, n in BACKENDS])
def test_every_backend_rejects_unknown_options(registry, name):
    with pytest.raises(ConfigError, match="unknown option"):
        registry.create(name, no_such_option=1)


def test_every_detector_fills_what_it_provides(happy_photo):
    from ferx import load_image

    image = load_image(happy_photo)
    for name in DETECTORS.names():
        with DETECTORS.create(name) as stage:
            faces = stage.process(image, Faces.empty(), [])
        assert len(faces) >= 1
        for field in stage.provides:
            assert getattr(faces, field) is not None, (name, field)


def test_every_downstream_backend_fills_what_it_provides(analyzer, happy_photo):
    """Each non-source backend, given the faces of the full pipeline minus its own fields, fills them."""
    from ferx import load_image

    image = load_image(happy_photo)
    full = analyzer.analyze(image).faces
    for registry in (LANDMARKERS, AU_ESTIMATORS, EXPRESSION_CLASSIFIERS, EXPLAINERS):
        for name in registry.names():
            _skip_missing(name)
            with registry.create(name) as stage:
                cleared = {f: None for f in stage.provides if f not in stage.needs and f not in ("keypoints",)}
                if "expression" in cleared:
                    cleared["expression_maps"] = None
                out = stage.process(image, full.with_fields(**cleared), [])
            for field in stage.provides:
                value = getattr(out, field)
                assert value is not None, (name, field)
                if isinstance(value, np.ndarray):
                    assert value.shape[0] == len(full)
