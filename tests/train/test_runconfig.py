"""Run configs from the command line: paths relative to the config file, $FERX_SHARED_DATA, overrides."""

from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")

from ferx.errors import ConfigError  # noqa: E402
from ferx.train.onepass.train import DetectorTrainConfig  # noqa: E402
from ferx.train.classifier import ClassifierTrainConfig  # noqa: E402
from ferx.train.runconfig import load_run_config  # noqa: E402
from tests.conftest import ROOT, SHARED  # noqa: E402


def test_shipped_configs_find_the_shared_data_from_any_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the project folder: paths are relative to the config file
    if not (SHARED / "ferplus").is_dir():
        pytest.skip("no shared data")
    config = load_run_config(ClassifierTrainConfig, ROOT / "configs/ferplus-guided.yaml", [], tmp_path / "run", False)
    kind, _, path = config.data.partition(":")
    assert kind == "ferplus" and Path(path).is_absolute() and Path(path).samefile(SHARED / "ferplus")
    assert config.cache_dir == "runs/cache/landmarks"  # not in the file: the default, under the working folder
    detector = load_run_config(DetectorTrainConfig, ROOT / "configs/onepass-csp.yaml", [], tmp_path / "run", False)
    assert Path(detector.data.lfw).samefile(SHARED / "lfw-expressions")
    assert Path(detector.data.ferplus).samefile(SHARED / "ferplus")


def test_shipped_configs_follow_ferx_shared_data_where_it_is_set(tmp_path, monkeypatch):
    """A researcher's tryout: the shipped configs named ../../shared/data and ignored $FERX_SHARED_DATA, which
    the tests and the README honour. They say `${FERX_SHARED_DATA:-../../shared/data}` now: the variable
    where it is set, the folder beside the clone where not."""
    import glob

    monkeypatch.setenv("FERX_SHARED_DATA", str(tmp_path / "elsewhere"))
    config = load_run_config(ClassifierTrainConfig, ROOT / "configs/ferplus-robust.yaml", [], tmp_path / "run", False)
    assert config.data == f"ferplus:{tmp_path / 'elsewhere' / 'ferplus'}"
    assert config.cross_val == f"lfw-expressions:{tmp_path / 'elsewhere' / 'lfw-expressions'}"
    detector = load_run_config(DetectorTrainConfig, ROOT / "configs/onepass-csp.yaml", [], tmp_path / "run2", False)
    assert detector.data.ferplus == str(tmp_path / "elsewhere" / "ferplus")
    monkeypatch.delenv("FERX_SHARED_DATA")
    config = load_run_config(ClassifierTrainConfig, ROOT / "configs/ferplus-robust.yaml", [], tmp_path / "run3", False)
    assert config.data == f"ferplus:{(ROOT / 'configs' / '../../shared/data/ferplus').resolve()}"
    for path in glob.glob(str(ROOT / "configs" / "*.yaml")):  # no shipped config names the folder without it
        text = Path(path).read_text()
        assert "../../shared/data" not in text.replace("${FERX_SHARED_DATA:-../../shared/data}", ""), path


def test_paths_in_a_file_follow_the_file_and_on_the_command_line_the_working_folder(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    config = tmp_path / "configs" / "c.yaml"
    config.write_text(yaml.safe_dump({"data": {"lfw": "../data/lfw", "ferplus": "$FERX_SHARED_DATA/ferplus",
                                               "seed": 2, "size": 256}, "init_from": "w/best.pt"}))
    monkeypatch.chdir(tmp_path / "configs")
    monkeypatch.setenv("FERX_SHARED_DATA", "/srv/shared")
    c = load_run_config(DetectorTrainConfig, config, ["data.cache_dir=cache", "data.seed=3"], tmp_path / "run", False)
    assert c.data.lfw == str(tmp_path / "data" / "lfw") and c.data.ferplus == "/srv/shared/ferplus"
    assert c.init_from == str(tmp_path / "configs" / "w" / "best.pt")
    assert c.data.cache_dir == str(tmp_path / "configs" / "cache")  # given on the command line: the working folder
    assert (c.data.seed, c.data.size) == (3, 256)  # a dotted override changes one key of its section
    c = load_run_config(DetectorTrainConfig, config, ["model_options={width: 0.5}"], tmp_path / "run", False)
    assert c.model_options == {"width": 0.5}
    # where the data lies does not change the mosaics' cache folder
    moved = load_run_config(DetectorTrainConfig, config, ["data.lfw=/elsewhere/lfw"], tmp_path / "run", False)
    assert moved.data.key() == c.data.key()
    monkeypatch.delenv("FERX_SHARED_DATA")
    with pytest.raises(ConfigError, match=r"\$FERX_SHARED_DATA, which is not set"):
        load_run_config(DetectorTrainConfig, config, [], tmp_path / "run", False)
    with pytest.raises(ConfigError, match="must look like key=value"):
        load_run_config(DetectorTrainConfig, config, ["epochs"], tmp_path / "run", False)


def test_teacher_paths_follow_the_config_file_and_model_names_stay_names(tmp_path):
    from ferx.train.classifier import ClassifierTrainConfig

    (tmp_path / "configs").mkdir()
    config = tmp_path / "configs" / "c.yaml"
    config.write_text(yaml.safe_dump({"data": "ferplus:../data/ferplus",
                                      "teachers": ["../runs/a", "ferplus-resnet-guided", "m/x.onnx"]}))
    c = load_run_config(ClassifierTrainConfig, config, [], tmp_path / "run", False)
    assert c.teachers == [str(tmp_path / "runs" / "a"), "ferplus-resnet-guided", str(tmp_path / "configs" / "m" / "x.onnx")]
