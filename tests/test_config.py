from pathlib import Path

import pytest

from ferx.config import AnalyzerConfig, StageConfig
from ferx.errors import ConfigError
from ferx.registry import Registry


def test_yaml_round_trip():
    cfg = AnalyzerConfig(detector=StageConfig("blazeface", {"min_face": 40}), expression=None, max_faces=3)
    back = AnalyzerConfig.from_yaml(cfg.to_yaml())
    assert back == cfg


def test_unknown_keys_raise_with_the_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) 'detecter'.*valid config keys.*detector"):
        AnalyzerConfig.from_dict({"detecter": "blazeface"})
    with pytest.raises(ConfigError, match=r"'detector\.nmae'"):
        AnalyzerConfig.from_dict({"detector": {"nmae": "blazeface"}})


def test_types_are_checked():
    with pytest.raises(ConfigError, match="max_faces: expected an integer"):
        AnalyzerConfig.from_dict({"max_faces": "many"})
    with pytest.raises(ConfigError, match="keep_unverified: expected true/false"):
        AnalyzerConfig.from_dict({"keep_unverified": "yes"})


def test_values_no_run_can_use_are_refused(tmp_path):
    """A tryout's `max_faces: 0` was accepted and dropped every face; `min_image_side: -3` was accepted too."""
    for data, message in [({"max_faces": 0}, "max_faces must be at least 1"),
                          ({"max_faces": -2}, "max_faces must be at least 1"),
                          ({"min_image_side": -3}, "min_image_side must be at least 1 pixel"),
                          ({"min_image_side": 64, "max_image_pixels": 100}, "max_image_pixels .100. is smaller")]:
        with pytest.raises(ConfigError, match=message):
            AnalyzerConfig.from_dict(data)
    assert AnalyzerConfig.from_dict({"max_faces": 1, "min_image_side": 1}).max_faces == 1
    assert AnalyzerConfig.from_dict({"max_faces": None}).max_faces is None


def test_yaml_errors_name_the_file(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("detector: {name: blazeface\n")
    with pytest.raises(ConfigError, match=r"config file .*broken\.yaml is not valid YAML"):
        AnalyzerConfig.from_yaml(p)
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"config file .*broken\.yaml must be a mapping"):
        AnalyzerConfig.from_yaml(str(p))


def test_shorthand_and_null_stage(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("detector: blazeface\nexpression: null\n")
    cfg = AnalyzerConfig.from_yaml(p)
    assert cfg.detector == StageConfig("blazeface") and cfg.expression is None


def test_bad_yaml_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid YAML"):
        AnalyzerConfig.from_yaml("detector: [unclosed\n")
    with pytest.raises(ConfigError, match="mapping"):
        AnalyzerConfig.from_yaml("- a\n- b\n")


def test_registry_rejects_unknown_names_and_options():
    reg: Registry[object] = Registry("widget")

    @reg.register("plain")
    class Plain:
        def __init__(self, size: int = 1) -> None:
            self.size = size

    assert reg.create("plain", size=3).size == 3
    with pytest.raises(ConfigError, match="unknown widget backend 'fancy'; available: plain"):
        reg.create("fancy")
    with pytest.raises(ConfigError, match="unknown option.*'colour'.*valid options: size"):
        reg.create("plain", colour="red")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("plain")(Plain)


def test_option_values_of_the_wrong_type_are_refused_naming_the_key():
    """A newcomer's YAML `min_face: forty` gave "'<' not supported between instances of 'str' and 'int'"
    and `flip_average: yes_please` switched the option on; the annotation of the backend's option now
    decides, before the backend compares or casts the value."""
    from ferx import Analyzer

    bad = [("detector", "blazeface", "min_face", "forty", "expected an integer"),
           ("expression", "onnx-classifier", "flip_average", "yes_please", "expected true/false"),
           ("explain", "cot", "au_weight", "heavy", "expected a number"),
           ("detector", "blazeface", "threads", "two", "expected an integer")]
    for slot, backend, key, value, message in bad:
        with pytest.raises(ConfigError, match=f"option '{key}': {message}, got '{value}'"):
            Analyzer(**{slot: {"name": backend, "options": {key: value}}})
    # out of range: LiteRT's own "num_threads should >= 1" named no option
    with pytest.raises(ConfigError, match="detector backend 'blazeface': option 'threads' must be at least 1, got 0"):
        Analyzer(detector={"name": "blazeface", "options": {"threads": 0}})
    reg: Registry[object] = Registry("widget")

    @reg.register("plain")
    class Plain:
        def __init__(self, size: float = 1.0, label: str | None = None, flag: bool = False) -> None:
            self.size, self.label, self.flag = size, label, flag

    assert reg.create("plain", size=3, label=None, flag=True).size == 3  # an int is a number; None where allowed
    with pytest.raises(ConfigError, match="option 'flag': expected true/false, got 1"):
        reg.create("plain", flag=1)
    with pytest.raises(ConfigError, match="option 'size': expected a number, got True"):
        reg.create("plain", size=True)


def test_builtin_backends_are_registered():
    from ferx import pipeline  # noqa: F401  (registers backends)
    from ferx.stages import AU_ESTIMATORS, DETECTORS, EXPRESSION_CLASSIFIERS, LANDMARKERS

    assert "blazeface" in DETECTORS.names()
    assert {"mediapipe", "mediapipe-tasks"} <= set(LANDMARKERS.names())
    assert "blendshapes" in AU_ESTIMATORS.names()
    assert "au-codebook" in EXPRESSION_CLASSIFIERS.names()


def test_explain_stage_is_on_by_default_and_configurable():
    from ferx import pipeline  # noqa: F401  (registers backends)
    from ferx.stages import EXPLAINERS

    assert "cot" in EXPLAINERS.names()
    assert AnalyzerConfig().explain.name == "cot"
    cfg = AnalyzerConfig.from_yaml("explain:\n  name: cot\n  options: {language: en, seed: 3}\n")
    assert cfg.explain.options == {"language": "en", "seed": 3}
    assert AnalyzerConfig.from_yaml("explain: null\n").explain is None
    with pytest.raises(ConfigError, match="unknown option.*'lang'"):
        EXPLAINERS.create("cot", lang="en")


def test_pipeline_presets():
    one = AnalyzerConfig.preset("onepass")
    assert one.detector.name == "onepass" and one.landmarker is None and one.expression is None
    # explicit stages win over the preset
    with_aus = AnalyzerConfig.preset("onepass", landmarker="mediapipe", aus="blendshapes")
    assert with_aus.detector.name == "onepass" and with_aus.landmarker.name == "mediapipe"
    assert AnalyzerConfig.from_yaml(one.to_yaml()) == one  # the preset survives a round trip
    with pytest.raises(ConfigError, match="unknown pipeline 'one-pass'"):
        AnalyzerConfig(pipeline="one-pass")
    with pytest.raises(ConfigError, match="unknown pipeline"):
        AnalyzerConfig.preset("fast")


def test_addons_are_data_that_fill_stages_that_are_off():
    from ferx.config import ADDONS

    cfg = AnalyzerConfig.preset("onepass").with_addon("aus")
    assert cfg.detector.name == "onepass"
    assert {k: getattr(cfg, k if k != "aus" else "aus").name for k in ADDONS["aus"]} == {
        "landmarker": "mediapipe", "aus": "facs", "explain": "cot"}
    with pytest.raises(ConfigError, match="already runs every stage of --aus"):
        AnalyzerConfig().with_addon("aus")
    with pytest.raises(ConfigError, match="unknown add-on"):
        AnalyzerConfig().with_addon("pose")


def test_the_shipped_yunet_config_is_the_default_with_yunet_detecting():
    """configs/analyzer-yunet.yaml (the README's way to the YuNet detector) loads, and changes the
    detector only."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "configs" / "analyzer-yunet.yaml"
    cfg = AnalyzerConfig.from_yaml(path)
    assert cfg.detector == StageConfig("yunet") and cfg.landmarker == AnalyzerConfig().landmarker
    assert {k: v for k, v in cfg.to_dict().items() if k != "detector"} == \
        {k: v for k, v in AnalyzerConfig().to_dict().items() if k != "detector"}


def test_every_run_takes_a_configuration_in_the_forms_analyzer_takes(tmp_path):
    """`run_photos(files, out, None)` or with a YAML path raised AttributeError tracebacks."""
    from ferx.runs.photos import run_photos
    from tests.conftest import lfw_paths

    p = tmp_path / "c.yaml"
    p.write_text("max_faces: 1\n")
    assert AnalyzerConfig.of(p).max_faces == AnalyzerConfig.of(str(p)).max_faces == 1
    assert AnalyzerConfig.of({"max_faces": 2}).max_faces == 2 and AnalyzerConfig.of(None) == AnalyzerConfig()
    with pytest.raises(ConfigError, match="got int"):
        AnalyzerConfig.of(3)
    summary = run_photos(lfw_paths("happiness", 1), tmp_path / "out", str(p))
    assert summary.status == "complete" and summary.faces == 1


def test_a_model_beside_the_config_is_found_from_any_folder(tmp_path, monkeypatch):
    """A researcher's tryout: `expression: {options: {model: models/mine.onnx}}` in /tmp/t8/my.yaml worked
    from /tmp/t8 and failed from /tmp ("expression model 'models/mine.onnx' not found"). A relative path
    to a file beside the config is read from the config's folder and kept absolute; a shipped model's
    name, and a path that is not there, are left as written."""
    import shutil

    import ferx
    from ferx import Analyzer

    folder = tmp_path / "t8"
    (folder / "models").mkdir(parents=True)
    shipped = Path(ferx.__file__).parent / "assets" / "models"
    for suffix in (".onnx", ".json"):
        shutil.copy(shipped / f"ferplus-resnet-guided{suffix}", folder / "models" / f"mine{suffix}")
    config = folder / "my.yaml"
    config.write_text("expression:\n  name: onnx-classifier\n  options: {model: models/mine.onnx}\n"
                      "aus:\n  name: facs\n  options: {calibration: au-facs}\n"
                      "verifier:\n  name: face-verifier\n  options: {model: elsewhere/none.onnx}\n")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    loaded = AnalyzerConfig.from_yaml(config)
    assert loaded.expression.options["model"] == str(folder / "models" / "mine.onnx")
    assert loaded.aus.options["calibration"] == "au-facs"  # a shipped name
    assert loaded.verifier.options["model"] == "elsewhere/none.onnx"  # not beside the config: as written
    with Analyzer(AnalyzerConfig.from_yaml(config).with_overrides({"verifier": None})) as analyzer:
        assert analyzer.describe().stages  # the classifier loads from the config's folder
