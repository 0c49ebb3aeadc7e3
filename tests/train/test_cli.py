"""The training commands' command line (`ferx.train.cli`)."""

import re
from dataclasses import asdict

import pytest

from tests.conftest import ROOT

torch = pytest.importorskip("torch")


def _model(command: str, config):
    """Builds the model the config asks for, so that an example's model option is one the model takes."""
    from ferx.train.models import create_model

    if command == "train":
        return create_model(config.architecture, num_classes=8, **config.model_options)
    if command == "train-aus":
        from ferx.train.aus.data import K
        from ferx.train.aus.model import AUHeadNet  # noqa: F401 (registers the AU architectures)

        return create_model(config.architecture, num_aus=K, **config.model_options)
    return None  # the detector's example changes its data section only


@pytest.mark.parametrize("command", ["train", "train-detector", "train-aus"])
def test_the_helps_override_example_works_with_every_config_it_names(tmp_path, capsys, command):
    """`ferx train --help` gave data.seed=3 as its example, which every classifier config refuses (its
    `data` is a dataset spec, not a section). Each trainer's example must load with each config its help
    points to, and set what it says."""
    from ferx.cli import main
    from ferx.train.aus import AUTrainConfig
    from ferx.train.classifier import ClassifierTrainConfig
    from ferx.train.onepass.train import DetectorTrainConfig
    from ferx.train.runconfig import flatten, load_run_config, parse_overrides

    classes = {"train": ClassifierTrainConfig, "train-detector": DetectorTrainConfig, "train-aus": AUTrainConfig}
    assert main([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    example = re.search(r"nested keys with dots[:,]? (?:e\.g\. )?((?:[\w.]+=[^\s;]+ ?)+)", text).group(1).split()
    glob = re.search(r"see (configs/\S+\.yaml)", text).group(1)
    configs = sorted(ROOT.glob(glob))
    assert configs, glob
    wanted = parse_overrides(example)
    assert any("." in key for key in wanted)  # it shows a nested key, as the help says
    for path in configs:
        config = load_run_config(classes[command], path, example, tmp_path / "run", resume=False)
        flat = flatten(asdict(config))
        assert {k: flat[k] for k in wanted} == wanted, path.name
        _model(command, config)
