"""Experiment configs: every shipped file loads; unknown keys and bad values name themselves."""

import dataclasses
import re
import typing
from pathlib import Path

import pytest
import yaml

from warprnn.config import WarpConfig
from warprnn.data.config import DataConfig
from warprnn.training.config import ExperimentConfig, OptimConfig, TrainConfig, apply_overrides, load_experiment

CONFIG_DIR = Path(__file__).parents[1] / "src" / "warprnn" / "configs"


def test_config_folder_is_linked_at_top_level():
    assert (Path(__file__).parents[1] / "configs").resolve() == CONFIG_DIR.resolve()


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_config_loads(path):
    config = load_experiment(path)
    assert isinstance(config, ExperimentConfig)
    assert ExperimentConfig.from_dict(config.to_dict()) == config  # YAML round trip


def test_overrides_reach_their_section():
    config = load_experiment(
        None, ["warp.root_width=7", "optim.lr=3e-4", "train.autoregressive=true", "data.context=null"]
    )
    assert config.warp.root_width == 7 and config.optim.lr == 3e-4 and config.train.autoregressive
    assert config.data.context is None


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["warp.widht=3"], r"unknown warp option\(s\) \['widht'\]"),
        (["trian.epochs=3"], r"override 'trian.epochs=3': expected 'model=...' or 'SECTION.KEY=...'"),
        (["train.epochs"], r"override 'train.epochs': expected key=value"),
        (["train.epochs=0"], r"train.epochs: expected an integer >= 1, got 0"),
        (
            ["optim.scheduler=step"],
            r"optim.scheduler: expected one of \['none', 'plateau', 'cosine', 'plateau-steps'\], got 'step'",
        ),
        (["train.loss=nll"], r"train.loss: 'nll' needs warp.head='gaussian'"),
        (["train.loss=ce"], r"train.loss: 'ce' goes with warp.head='classification'"),
        (["model=mamba"], r"model: expected one of \['warp', 'gru', 'lstm', 'transformer', 's4d'\], got 'mamba'"),
        (["train.teacher_forcing=2"], r"train.teacher_forcing: expected a probability"),
    ],
)
def test_bad_overrides_name_the_key(overrides, match):
    with pytest.raises(ValueError, match=match):
        load_experiment(None, overrides)


def test_unknown_top_level_key_in_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("trian:\n  epochs: 3\n")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['trian'\]"):
        load_experiment(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_experiment(tmp_path / "missing.yaml")


def test_apply_overrides_parses_yaml_scalars():
    values = apply_overrides(
        {},
        [
            "train.epochs=3",
            "optim.lr=0.001",
            "warp.final_activation=tanh",
            "train.autoregressive=false",
            "data.context=null",
        ],
    )
    assert values == {
        "train": {"epochs": 3, "autoregressive": False},
        "optim": {"lr": 1e-3},
        "warp": {"final_activation": "tanh"},
        "data": {"context": None},
    }


def test_float_options_read_exponents_and_integers(tmp_path):
    """YAML 1.1 reads ``1e-3`` as a string; float options take it (and ints) as numbers, reject the rest."""
    path = tmp_path / "exp.yaml"
    path.write_text("optim:\n  lr: 1e-3\nwarp:\n  final_activation: clip\n  final_clip: 2\n")
    config = load_experiment(path)
    assert config.optim.lr == 1e-3 and config.warp.final_clip == 2.0 and isinstance(config.warp.final_clip, float)
    with pytest.raises(ValueError, match=r"optim.lr: expected a number, got 'fast'"):
        load_experiment(None, ["optim.lr=fast"])


def choices(hint) -> tuple | None:
    """The values of a ``Literal`` declaration (also ``Literal[...] | None``), else None (also for a union
    with other types, such as ``optim.lr_A``, whose message names every member)."""
    if typing.get_origin(hint) is typing.Literal:
        return typing.get_args(hint)
    members = [a for a in typing.get_args(hint) if a is not type(None)]
    if len(members) == 1 and typing.get_origin(members[0]) is typing.Literal:
        return typing.get_args(members[0])
    return None


def test_every_literal_option_is_checked_against_its_declaration():
    """Each section's fixed-choice options are ``Literal`` fields; the check and its message come from the
    declaration alone (``check_fields``), including a bool where an integer choice is declared."""
    sections = {
        "warp": WarpConfig,
        "data": DataConfig,
        "optim": OptimConfig,
        "train": TrainConfig,
        "": ExperimentConfig,
    }
    checked = 0
    for prefix, cls in sections.items():
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            allowed = choices(hints[field.name])
            if allowed is None:
                continue
            name = f"{prefix}.{field.name}" if prefix else field.name
            override = [f"{name}=bogus"] if prefix != "warp" or field.name != "hypernet_depth" else [f"{name}=true"]
            bad = override[0].split("=")[1]
            expected = re.escape(f"{field.name}: expected one of {list(allowed)}")
            with pytest.raises(ValueError, match=expected + f", got {re.escape(repr(yaml.safe_load(bad)))}"):
                load_experiment(None, override)
            checked += 1
    assert checked >= 14  # head, root, activations, ..., data.scaling, optim.name, train.loss, train.mode, model


def test_shipped_configs_load_by_name():
    assert load_experiment("msd-small", ["train.epochs=5"]) == load_experiment(
        CONFIG_DIR / "msd-small.yaml", ["train.epochs=5"]
    )
    with pytest.raises(ValueError, match="unknown experiment 'nope': not a file and not a shipped config"):
        load_experiment("nope")
