"""Each data set's declared options (``Entry.reads``) are what its builder reads (issue 47.1): a declaration
that drifted from the code would refuse an option the data set reads, or drop one without a word."""

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from warprnn.data import DataConfig
from warprnn.data.registry import DATASETS, find

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TS_HEADER = "@problemName Toy\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n"
TS_CASES = ["1,2,3:4,5,6:a", "2,3,4:5,6,7:b", "3,2,1:6,5,4:a", "1,1,2:2,3,3:b"] * 3


class Recorder:
    """A ``DataConfig`` that records which of its options are read."""

    def __init__(self, config: DataConfig):
        self.config, self.read = config, set()

    def __getattr__(self, key):
        self.read.add(key)
        return getattr(self.config, key)


def write_ts(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("TRAIN", "TEST"):
        (folder / f"{name}_{part}.ts").write_text(TS_HEADER.replace("Toy", name) + "\n".join(TS_CASES) + "\n")
    return folder / f"{name}_TRAIN.ts"


def write_csv(path: Path) -> Path:
    rows = "".join(f"2020-01-{1 + h // 24:02d} {h % 24:02d}:00:00,{h % 7},{h % 5}\n" for h in range(240))
    path.write_text("date,a,b\n" + rows)
    return path


def copy_shared(tmp: Path, source: str) -> str:
    if not (SHARED / source).is_dir():
        pytest.skip(f"no {source} files under {SHARED}")
    shutil.copytree(SHARED / source, tmp / source)
    return str(tmp)


SMALL = dict(num_train=8, num_val=4, num_test=4)


def variants(name: str, tmp: Path) -> list[DataConfig]:
    """Configs of data set ``name`` that together take every path of its builder."""
    if find(name).cached or name == "icl":
        return [DataConfig(name=name, seq_len=8, dim=2 if name == "icl" else None, **SMALL)]
    if name == "csv":
        path = str(write_csv(tmp / "s.csv"))
        base = DataConfig(name="csv", path=path, context=4, horizon=4)
        return [base, replace(base, target="a", covariates=["b"], split_rows=[150, 40, 40])]
    if name == "array":
        x = np.random.default_rng(0).normal(size=(20, 8, 2))
        np.save(tmp / "x.npy", x)
        np.savez(tmp / "y.npz", x=x, y=np.arange(20) % 2)
        return [DataConfig(name="array", path=str(tmp / "x.npy")), DataConfig(name="array", path=str(tmp / "y.npz"))]
    if name == "ts":
        path = str(write_ts(tmp / "ts", "Toy"))
        return [DataConfig(name="ts", path=path), DataConfig(name="ts", path=path, split="resplit")]
    if name == "uea-Heartbeat":
        write_ts(tmp / "uea" / "Heartbeat", "Heartbeat")
        return [DataConfig(name=name, root=str(tmp))]
    if name == "pems08":
        (tmp / "pems08").mkdir()
        np.savez(tmp / "pems08" / "PEMS08.npz", data=np.random.default_rng(0).uniform(0, 400, size=(120, 170, 3)))
        return [DataConfig(name=name, root=str(tmp), context=4, horizon=4)]
    if name == "etth1":
        return [DataConfig(name=name, root=copy_shared(tmp, "ett"))]
    if name in ("mnist", "mnist-class"):
        return [DataConfig(name=name, root=copy_shared(tmp, "mnist"))]
    return []


CHECKED = [n for n in DATASETS if not n.startswith(("uea-", "ett", "fashion")) or n in ("uea-Heartbeat", "etth1")]


@pytest.mark.parametrize("name", CHECKED)
def test_each_data_set_declares_what_it_reads(name, tmp_path):
    entry, read = find(name), set()
    for config in variants(name, tmp_path):
        recorder = Recorder(config)
        entry.build(recorder)
        read |= recorder.read
    read = (read - {"name"}) | ({"root"} if entry.cached else set())  # the cache is kept under data.root
    assert read == set(entry.reads)
