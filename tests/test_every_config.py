"""`warprnn train CONFIG model=NAME` works for every shipped config and every model, and WARP with every
structured transition (`warp.transition`), at a tiny size.

Real files come from ``../shared/data``; the sets that are not there (the paper's six UEA sets, PEMS08)
are generated in their canonical formats, so that each config's whole pipeline runs.
"""

from pathlib import Path

import numpy as np
import pytest

from warprnn.baselines import MODELS
from warprnn.data.registry import find
from warprnn.training import load_experiment, train

pytestmark = pytest.mark.slow  # every test here trains or times real steps

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
CONFIGS = sorted((REPO / "src" / "warprnn" / "configs").glob("*.yaml"))
TINY = [
    "data.num_train=4",
    "data.num_val=2",
    "data.num_test=2",
    "train.epochs=1",
    "train.batch_size=2",
    "train.val_every=1",
    "warp.root_width=4",
    "warp.root_depth=1",
    "warp.positional_encoding=0",
]


def write_uea(root: Path, name: str) -> None:
    """A tiny UEA problem in the archive's ``.ts`` format: 2 channels, 12 steps, 2 classes."""
    folder = root / "uea" / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    header = (
        f"@problemName {name}\n@timeStamps false\n@missing false\n@univariate false\n@dimensions 2\n"
        "@equalLength true\n@seriesLength 12\n@classLabel true a b\n@data\n"
    )
    for part in ("TRAIN", "TEST"):
        cases = [
            ":".join(",".join(f"{v:.3f}" for v in rng.normal(size=12)) for _ in range(2)) + f":{'ab'[i % 2]}"
            for i in range(10)
        ]
        (folder / f"{name}_{part}.ts").write_text(header + "\n".join(cases) + "\n")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for name in ("mnist", "ett"):
        (root / name).symlink_to(SHARED / name)
    (root / "uea").mkdir()
    (root / "uea" / "BasicMotions").symlink_to(SHARED / "uea" / "BasicMotions")
    for config in CONFIGS:
        name = load_experiment(config).data.name
        if name.startswith("uea-") and not (root / "uea" / name[4:]).exists():
            write_uea(root, name[4:])
    (root / "pems08").mkdir()
    np.savez(root / "pems08" / "PEMS08.npz", data=np.random.default_rng(0).uniform(0, 400, size=(200, 170, 3)))
    return root


def tiny_overrides(config: Path, model: str, data_root: Path, out_dir: Path) -> list[str]:
    """The overrides that run ``config`` at a tiny size with ``model``."""
    name = load_experiment(config).data.name
    overrides = TINY + [f"model={model}", f"train.out_dir={out_dir}"]
    if "root" in find(name).reads:  # a data set refuses an option it does not read
        overrides.append(f"data.root={data_root}")
    if name in ("mnist", "fashion-mnist"):
        # 784 autoregressive steps cost seconds per pass: forecast the last few pixels only, and train
        # teacher-forced.
        overrides += ["data.context=780", "train.autoregressive=false"]
    if name in ("msd", "msd-zero", "lv-copy"):
        # The same for the 256-step synthetic sets: shorter sequences, forecast after 8 steps.
        overrides += ["data.seq_len=32"] + (["data.context=8"] if "context" in find(name).reads else [])
    return overrides


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the shared data folder {SHARED} is absent")
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_config_trains_with_every_model(tmp_path, data_root, config, model):
    result = train(load_experiment(config, tiny_overrides(config, model, data_root, tmp_path)))
    assert result.status == "finished" and result.model == model
    assert all(np.isfinite(v) for v in result.test_metrics.values())


STRUCTURED = ("diagonal", "block:4", "lowrank:2")


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the shared data folder {SHARED} is absent")
@pytest.mark.parametrize("transition", STRUCTURED)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_config_trains_with_every_transition(tmp_path, data_root, config, transition):
    """WARP with each structured transition (``warp.transition``) trains on every config (a root that
    declares its own dense A, ``msd-moments``, rejects them: ``tests/test_transition.py``); ``lowrank``
    starts at I, so a config's ``transition_init`` gives way to ``identity`` there."""
    if load_experiment(config).warp.root == "msd-moments":
        pytest.skip("root='msd-moments' declares its own dense A")
    overrides = tiny_overrides(config, "warp", data_root, tmp_path) + [f"warp.transition={transition}"]
    overrides += ["warp.transition_init=identity"] if transition.startswith("lowrank") else []
    result = train(load_experiment(config, overrides))
    assert result.status == "finished" and result.model == "warp"
    assert all(np.isfinite(v) for v in result.test_metrics.values())
