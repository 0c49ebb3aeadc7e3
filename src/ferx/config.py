"""Configuration: dataclasses that round-trip through YAML, where an unknown key is an error.

A misspelt key must never fall back to a default silently, so `from_dict` rejects unknown keys with
the list of valid ones, at every level; backend options are checked by the stage registries.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ferx.errors import ConfigError
from ferx.registry import check_options, check_scalar

C = TypeVar("C")


@dataclass
class StageConfig:
    """Which backend runs a stage, and its options (checked against the backend's constructor)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


#: Pipeline presets: the stage settings a `pipeline:` name stands for. Keys given explicitly next to
#: `pipeline` (in YAML or as Analyzer overrides) win over the preset.
PIPELINES: dict[str, dict[str, Any]] = {
    # detector → landmarks → AUs → expression classifier on aligned crops → explanation
    "two-stage": {
        "detector": {"name": "blazeface", "options": {}},
        "landmarker": {"name": "mediapipe", "options": {}},
        "verifier": {"name": "face-verifier", "options": {}},
        "aus": {"name": "facs", "options": {}},
        "expression": {"name": "onnx-classifier", "options": {}},
        "explain": {"name": "cot", "options": {}},
    },
    # one network finds the faces and scores their expressions (FER-YOLO-Mamba); landmarks, AUs and
    # explanations are off unless asked for (they then run on the detected boxes)
    "onepass": {
        "detector": {"name": "onepass", "options": {}},
        "landmarker": None,
        "verifier": None,
        "aus": None,
        "expression": None,
        "explain": None,
    },
}


#: Add-ons: the stage settings a switch stands for (`ferx analyze --aus`), as data. An add-on fills
#: the stages it names that are off in the current config; it refuses a config in which all of them
#: are already on (nothing to add), so a switch that changes nothing is not silently accepted.
ADDONS: dict[str, dict[str, Any]] = {
    # landmarks, AUs and explanations on the boxes of a detector-only pipeline (e.g. onepass)
    "aus": {
        "landmarker": {"name": "mediapipe", "options": {}},
        "aus": {"name": "facs", "options": {}},
        "explain": {"name": "cot", "options": {}},
    },
}


#: Values of `AnalyzerConfig.whole_image_face`.
WHOLE_IMAGE_FACE: tuple[str, ...] = ("auto", "always", "never")
#: "auto": an image this small (longer side, px) in which the detector finds no face is read as one face.
WHOLE_IMAGE_MAX_SIDE = 512


def apply_pipeline(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with the stage settings of its `pipeline` preset filled in where it gives none."""
    if "pipeline" not in data:
        return data
    name = data["pipeline"]
    if name not in PIPELINES:
        raise ConfigError(f"unknown pipeline {name!r}; choose from {', '.join(PIPELINES)}")
    return {**PIPELINES[name], **data}


@dataclass
class AnalyzerConfig:
    """Everything that defines an Analyzer.

    Attributes:
        pipeline: name of the preset the stages came from ("two-stage" or "onepass"; see
            `PIPELINES`). Given in a mapping (YAML, `from_dict`, `Analyzer(pipeline=...)`) or to
            `AnalyzerConfig.preset`, it sets every stage not given explicitly; passed to the
            dataclass constructor it is only checked and recorded, the stage fields stand as given.
        detector: face detector backend.
        landmarker: landmark / blendshape / head-pose backend; None skips it (and the stages that
            need its output).
        verifier: the check that each face the landmarker confirmed is a face (objects, animals and
            parts of faces are rejected; issue 25), or None.
        aus: AU estimator backend, or None.
        expression: expression classifier backend, or None.
        explain: explainer backend (chain of thought per face, about 1 ms), or None.
        keep_unverified: keep detections in which the landmarker found no face. Off by default: a
            box the landmark model rejects is almost always a false positive, and it would carry no
            AUs or expression.
        max_faces: keep at most this many faces per image (largest first); None keeps all.
        whole_image_face: when an image is read as one face filling it ("a face crop", as datasets
            ship them): "auto" — where the detector finds no face in an image of at most
            `WHOLE_IMAGE_MAX_SIDE` px; "always" — every image is one face crop (no detector is
            run: for dataset crops, faster; on the FACS-coded 48-px crops the AUs read as well on
            the mean, but the calibration was fitted on detector boxes and some AUs shift — AU12
            reads present more often; docs/aus.md); "never". The face's box is then the whole image,
            whose surroundings the landmarker pads with grey; the landmarker still has to confirm
            a face (with "auto", surely: the box comes with score 0).
        tight_crop_boxes: with "auto", where neither the detector's boxes nor the whole image give a
            confirmed face in a small image, also try its central 80 % and then 65 % as the box (film
            stills cut at the brow or chin; `pipeline.CROP_RETRY_SHARES`). Off: the whole image only,
            as the shipped AU calibration's faces were measured (`ferx.train.aus.calibration`).
        min_image_side: smallest accepted image side in pixels.
        max_image_pixels: largest accepted image area in pixels.
    """

    pipeline: str = "two-stage"
    detector: StageConfig = field(default_factory=lambda: StageConfig("blazeface"))
    landmarker: StageConfig | None = field(default_factory=lambda: StageConfig("mediapipe"))
    verifier: StageConfig | None = field(default_factory=lambda: StageConfig("face-verifier"))
    aus: StageConfig | None = field(default_factory=lambda: StageConfig("facs"))
    expression: StageConfig | None = field(default_factory=lambda: StageConfig("onnx-classifier"))
    explain: StageConfig | None = field(default_factory=lambda: StageConfig("cot"))
    keep_unverified: bool = False
    max_faces: int | None = None
    whole_image_face: str = "auto"
    tight_crop_boxes: bool = True
    min_image_side: int = 16
    max_image_pixels: int = 200_000_000

    def __post_init__(self) -> None:
        if self.pipeline not in PIPELINES:
            raise ConfigError(f"unknown pipeline {self.pipeline!r}; choose from {', '.join(PIPELINES)}")
        if self.whole_image_face not in WHOLE_IMAGE_FACE:
            raise ConfigError(f"whole_image_face must be one of {', '.join(WHOLE_IMAGE_FACE)}; got {self.whole_image_face!r}")
        # Types are checked by `from_dict`; these are the values no run can use (a tryout passed
        # `max_faces: 0`, which silently dropped every face, and `min_image_side: -3`).
        if self.max_faces is not None and self.max_faces < 1:
            raise ConfigError(f"max_faces must be at least 1 (or null to keep every face); got {self.max_faces}")
        if self.min_image_side < 1:
            raise ConfigError(f"min_image_side must be at least 1 pixel; got {self.min_image_side}")
        if self.max_image_pixels < self.min_image_side**2:
            raise ConfigError(f"max_image_pixels ({self.max_image_pixels}) is smaller than the smallest accepted image "
                              f"(min_image_side {self.min_image_side} squared)")

    @classmethod
    def of(cls, config: AnalyzerConfig | str | os.PathLike[str] | dict[str, Any] | None) -> AnalyzerConfig:
        """Any form a configuration is given in — None (the default), an AnalyzerConfig, a YAML file's
        path, a mapping — as an AnalyzerConfig; `Analyzer` and the runs take the same forms."""
        if config is None:
            return cls()
        if isinstance(config, AnalyzerConfig):
            return config
        if isinstance(config, (str, os.PathLike)):
            return cls.from_yaml(Path(config))
        if isinstance(config, dict):
            return cls.from_dict(config)
        raise ConfigError(f"a configuration is an AnalyzerConfig, a YAML file's path, a mapping or None; "
                          f"got {type(config).__name__}")

    @classmethod
    def preset(cls, pipeline: str, **overrides: Any) -> AnalyzerConfig:
        """The stages of a named pipeline preset, with top-level fields overridden."""
        return cls.from_dict({"pipeline": pipeline, **overrides})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalyzerConfig:
        return from_dict(cls, apply_pipeline(data))

    @classmethod
    def from_yaml(cls, path_or_text: str | Path) -> AnalyzerConfig:
        """From a YAML file or text. In a file, a stage option naming a file by a relative path (a
        model you exported beside the config: `model: models/mine.onnx`) is read relative to the
        config's folder where that file exists there, as training configs are, and kept as an
        absolute path, so that the config works from any folder and a run's recorded config.yaml
        names the very file; otherwise it is left as written (a shipped model's name, a path from
        the current folder)."""
        data = load_yaml(path_or_text)
        if _is_path(path_or_text):
            data = _paths_beside(data, Path(path_or_text).resolve().parent)
        return cls.from_dict(data)

    def with_overrides(self, overrides: dict[str, Any]) -> AnalyzerConfig:
        """A copy with top-level fields replaced; a new `pipeline` resets the stages it presets,
        except those also given in `overrides`."""
        merged = self.to_dict()
        if "pipeline" in overrides:
            merged = apply_pipeline({**{k: v for k, v in merged.items() if k not in PIPELINES["two-stage"]},
                                     "pipeline": overrides["pipeline"]})
        merged.update(overrides)
        return AnalyzerConfig.from_dict(merged)

    def with_addon(self, name: str) -> AnalyzerConfig:
        """A copy with the stages of add-on `name` (see `ADDONS`) switched on where they are off."""
        if name not in ADDONS:
            raise ConfigError(f"unknown add-on {name!r}; choose from {', '.join(ADDONS)}")
        current = self.to_dict()
        missing = {k: v for k, v in ADDONS[name].items() if current.get(k) is None}
        if not missing:
            raise ConfigError(f"the {self.pipeline} pipeline already runs every stage of --{name} "
                              f"({', '.join(ADDONS[name])})")
        return self.with_overrides(missing)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def load_yaml(path_or_text: str | Path) -> dict[str, Any]:
    """Parse a YAML file (a path) or YAML text into a mapping.

    Raises:
        ConfigError: the file cannot be read (missing, a folder, not UTF-8), is not valid YAML, or
            does not hold a mapping.
    """
    where = "config"
    if _is_path(path_or_text):
        where = f"config file {path_or_text}"
        try:
            text = Path(path_or_text).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot read config file {path_or_text}: {e.strerror or e}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"config file {path_or_text} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    else:
        text = str(path_or_text)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{where} is not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping of keys to values, got {type(data).__name__}")
    return data


#: Suffixes of the files stage options name (models, calibrations, sidecars).
_FILE_SUFFIXES = (".onnx", ".json", ".tflite", ".yaml", ".yml", ".pt")


def _paths_beside(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """`data` with each stage option that is a relative path to an existing file under `base` made absolute."""
    out = dict(data)
    for slot, stage in data.items():
        options = stage.get("options") if isinstance(stage, dict) else None
        if not isinstance(options, dict):
            continue
        fixed = {}
        for key, value in options.items():
            looks_like_file = isinstance(value, str) and ("/" in value or value.endswith(_FILE_SUFFIXES))
            if looks_like_file and not Path(value).expanduser().is_absolute() and (base / value).is_file():
                value = str((base / value).resolve())
            fixed[key] = value
        out[slot] = {**stage, "options": fixed}
    return out


def _is_path(x: str | Path) -> bool:
    if isinstance(x, Path):
        return True
    return "\n" not in x and x.endswith((".yaml", ".yml"))


def from_dict(cls: type[C], data: dict[str, Any], *, where: str = "") -> C:
    """Build dataclass `cls` from a mapping; unknown keys and wrong types raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    check_options("config", [where + k for k in data], [where + n for n in names], noun="config key")
    kwargs = {k: _coerce(hints[k], v, f"{where}{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where) if len(inner) == 1 else value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, str) and tp is StageConfig:
            return StageConfig(name=value)  # shorthand: `detector: blazeface`
        return from_dict(tp, value, where=where + ".")
    if origin is dict and not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {value!r}")
    return check_scalar(tp, value, where)
