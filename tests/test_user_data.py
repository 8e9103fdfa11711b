"""Data of your own: the ``csv``, ``array`` and ``ts`` data sets, ``uea-NAME`` for any archive set, shipped
configs by name, and ``warprnn predict`` on classification runs and CSV input."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from warprnn.cli import main
from warprnn.data import DataConfig, build_dataset
from warprnn.data import files as loaders
from warprnn.training import load_experiment, train
from warprnn.training.config import CONFIG_DIR

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ETTH1 = SHARED / "ett" / "ETTh1.csv"
needs_shared = pytest.mark.skipif(not ETTH1.is_file(), reason=f"the shared data folder {SHARED} is absent")
TINY = ["warp.root_width=4", "warp.root_depth=1", "train.epochs=1", "train.batch_size=16"]


def write_yaml(path: Path, values: dict) -> Path:
    path.write_text(yaml.safe_dump(values))
    return path


def write_csv(path: Path, rows: int = 120, header: str = "date,load,temp", cells=None) -> Path:
    t = np.arange(rows)
    lines = [header] + [
        f"2026-01-01 {i:05d},{np.sin(0.2 * i):.5f},{np.cos(0.1 * i) + 0.01 * i:.5f}" for i in t.tolist()
    ]
    for (row, column), cell in (cells or {}).items():  # row as a spreadsheet numbers it (header: 1)
        parts = lines[row - 1].split(",")
        parts[column] = cell
        lines[row - 1] = ",".join(parts)
    path.write_text("\n".join(lines) + "\n")
    return path


def one_line_error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.splitlines()[-1].startswith("warprnn: error: ")
    return err.splitlines()[-1]


# ----- csv ----------------------------------------------------------------------------------------------


@needs_shared
def test_csv_with_the_etth1_rows_reproduces_etth1_windows(tmp_path):
    """``warprnn train my.yaml`` with data.name=csv on ETTh1.csv and ETTh1's 12/4/4 months builds the very
    windows, targets and scaler of the etth1 data set."""
    my = write_yaml(
        tmp_path / "my.yaml", {"data": {"name": "csv", "path": str(ETTH1), "split_rows": [8640, 2880, 2880]}}
    )
    own = build_dataset(load_experiment(my).data)
    etth1 = build_dataset(DataConfig(name="etth1", root=str(SHARED)))
    for part in ("train", "val", "test"):
        a, b = getattr(own, part), getattr(etth1, part)
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.lengths, b.lengths)
    assert torch.equal(own.scaler.mean, etth1.scaler.mean) and torch.equal(own.scaler.std, etth1.scaler.std)
    assert (own.context, own.channel_names) == (etth1.context, etth1.channel_names)


@needs_shared
def test_csv_default_split_is_the_tsl_custom_loader():
    """Without split_rows: 7:1:2 as Time-Series-Library's custom loader (train int(0.7 n), test int(0.2 n),
    validation the rest; validation and test start ``context`` rows early); ``target`` keeps one column."""
    d = build_dataset(DataConfig(name="csv", path=str(ETTH1), target="OT", horizon=24))
    n = 17420
    n_train, n_test = int(0.7 * n), int(0.2 * n)
    n_val = n - n_train - n_test
    window = 96 + 24
    assert (len(d.train), len(d.val), len(d.test)) == (
        n_train - window + 1,
        n_val + 96 - window + 1,
        n_test + 96 - window + 1,
    )
    names, values = loaders.read_csv(ETTH1)
    assert d.channel_names == ("OT",) and d.train.x.shape[1:] == (120, 1)
    first_test_target = d.scaler.inverse(d.test.x[0, 96])
    assert first_test_target.item() == pytest.approx(values[n - n_test, names.index("OT")], abs=1e-4)


def test_own_csv_trains_end_to_end_and_predicts_from_csv(tmp_path, capsys):
    data = write_csv(tmp_path / "mine.csv")
    my = write_yaml(tmp_path / "my.yaml", {"data": {"name": "csv", "path": str(data), "context": 8, "horizon": 4}})
    assert main(["train", str(my), *TINY, f"train.out_dir={tmp_path}"]) == 0
    assert "held-out test set" in capsys.readouterr().out
    run = next(tmp_path.glob("csv-*"))
    tail = tmp_path / "tail.csv"
    tail.write_text("\n".join(data.read_text().splitlines()[:1] + data.read_text().splitlines()[-8:]) + "\n")
    assert main(["predict", str(run), "--input", str(tail)]) == 0  # header and date column, as the training file
    printed = capsys.readouterr()
    assert printed.out.splitlines()[0] == "step,load,temp"  # its dates ("2026-01-01 00112") are not ISO 8601
    assert "the forecast's steps are numbered instead" in printed.err
    rows = np.loadtxt(io.StringIO(printed.out), delimiter=",", ndmin=2, skiprows=1)
    assert rows.shape == (4, 3) and np.isfinite(rows).all() and rows[:, 0].tolist() == [1, 2, 3, 4]
    out = tmp_path / "forecast.csv"
    assert main(["predict", str(run), "--input", str(tail), "--output", str(out)]) == 0
    assert np.loadtxt(out, delimiter=",", skiprows=1).shape == (4, 3)


@pytest.mark.parametrize(
    "rows, header, cells, overrides, match",
    [
        (120, "date,load,temp", {(5, 2): "abc"}, [], "mine.csv, row 5, column 'temp': 'abc' is not a number"),
        (120, "time,load,temp", {}, [], "mine.csv: no 'date' column in the header"),
        (120, "date,load,temp", {(7, 1): ""}, [], "mine.csv, row 7, column 'load': a missing, NaN or infinite"),
        (120, "date,load,temp", {(9, 2): "nan"}, ["data.target=temp"], "row 9, column 'temp': a missing, NaN"),
        (
            15,
            "date,load,temp",
            {},
            [],
            "mine.csv: the training part has 10 rows, fewer than one window of context + horizon = 12",
        ),
        (120, "date,load,temp", {}, ["data.target=OT"], "mine.csv: no column 'OT' in the header"),
    ],
)
def test_bad_csv_is_one_line_naming_the_file(tmp_path, capsys, rows, header, cells, overrides, match):
    path = write_csv(tmp_path / "mine.csv", rows, header, cells)
    argv = ["train", "msd-small", "data.name=csv", f"data.path={path}", "data.context=8", "data.horizon=4"]
    assert match in one_line_error(argv + overrides + TINY + [f"train.out_dir={tmp_path}"], capsys)


def test_data_path_must_name_a_file(tmp_path, capsys):
    assert "set data.path" in one_line_error(["train", "msd-small", "data.name=csv"], capsys)
    assert "does not exist" in one_line_error(["train", "msd-small", "data.name=array", "data.path=no.npz"], capsys)


# ----- array --------------------------------------------------------------------------------------------


def labelled_cases(n: int = 30, T: int = 12, seed: int = 0):
    """Sines (class 'wave') and noise (class 'flat'), two channels, some cases shorter."""
    rng = np.random.default_rng(seed)
    y = np.array(["wave", "flat"] * (n // 2))
    t = np.linspace(0, 3, T)
    x = np.stack([np.stack([np.sin(2 * t + k), np.cos(t)], -1) for k in range(n)]).astype(np.float32)
    x[y == "flat"] = rng.normal(scale=0.1, size=(n // 2, T, 2))
    lengths = np.where(np.arange(n) % 3 == 0, T - 4, T)
    return x, y, lengths


def test_npz_classification_set_trains_and_predicts_labels_and_probabilities(tmp_path, capsys):
    x, y, lengths = labelled_cases()
    x[0, lengths[0] :] = np.nan  # padding is never read
    path = tmp_path / "cases.npz"
    np.savez(path, x=x, y=y, lengths=lengths)
    d = build_dataset(DataConfig(name="array", path=str(path)))
    assert d.task == "classification" and d.class_names == ("flat", "wave") and d.num_classes == 2
    assert (len(d.train), len(d.val), len(d.test)) == (21, 4, 5) and torch.isfinite(d.train.x).all()
    words = ["data.name=array", f"data.path={path}", *TINY, f"train.out_dir={tmp_path}"]
    words += ["data.val_fraction=0.1", "data.stratify=false"]  # basicmotions-cpu's, which an array does not read
    config = load_experiment("basicmotions-cpu", words)  # a classification experiment, on this file
    result = train(config)
    assert result.status == "finished" and 0 <= result.test_metrics["test_accuracy"] <= 1

    np.save(tmp_path / "new.npy", x[1:4])
    assert main(["predict", str(result.run_dir), "--input", str(tmp_path / "new.npy")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "label,p_flat,p_wave" and len(lines) == 4
    for line in lines[1:]:
        label, *p = line.split(",")
        assert label in ("flat", "wave") and sum(map(float, p)) == pytest.approx(1, abs=1e-5)
    out = tmp_path / "p.npy"
    assert main(["predict", str(result.run_dir), "--input", str(tmp_path / "new.npy"), "--output", str(out)]) == 0
    assert np.load(out).shape == (3, 2)


def test_npy_forecast_set_and_given_splits(tmp_path):
    x, _, lengths = labelled_cases()
    np.save(tmp_path / "seq.npy", x)
    d = build_dataset(DataConfig(name="array", path=str(tmp_path / "seq.npy")))
    assert d.task == "forecast" and d.context == 6 and torch.equal(d.train.x, d.train.y)
    np.savez(tmp_path / "given.npz", x=x, lengths=lengths, train=np.arange(20), val=np.arange(20, 25), test=[25, 26])
    g = build_dataset(DataConfig(name="array", path=str(tmp_path / "given.npz"), context=4))
    assert (len(g.train), len(g.val), len(g.test)) == (20, 5, 2) and g.context == 4
    assert g.test.lengths.tolist() == lengths[25:27].tolist()


@pytest.mark.parametrize(
    "arrays, match",
    [
        (dict(y=np.array(["a", "b"] * 3)), r"'y' has shape \(6,\), expected shape \(30,\), one per case of 'x'"),
        (dict(lengths=np.full(30, 13)), "'lengths' must be integers from 1 to 12"),
        (dict(train=np.arange(10)), "give all of 'train', 'val' and 'test' or none"),
        (dict(train=np.arange(10), val=[], test=[1]), "'val' must be a non-empty array of case indices"),
        (dict(nan=True), "NaN or infinite target in case 2, step 5, channel 1"),
    ],
)
def test_bad_arrays_are_one_line_naming_the_file(tmp_path, capsys, arrays, match):
    x, _, _ = labelled_cases()
    if arrays.pop("nan", False):
        x[2, 5, 1] = np.nan
    np.savez(tmp_path / "bad.npz", x=x, **arrays)
    argv = ["train", "msd-small", "data.name=array", f"data.path={tmp_path / 'bad.npz'}"]
    message = one_line_error(argv + TINY + [f"train.out_dir={tmp_path}"], capsys)
    assert "bad.npz: " in message and match.replace("\\", "") in message.replace("\\", "")


# ----- ts and uea-NAME ----------------------------------------------------------------------------------

TS = """@problemName Toy
@timeStamps false
@missing true
@univariate true
@equalLength false
@classLabel true up down
@data
"""


def write_ts_pair(folder: Path, name: str = "Toy") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for part, n in (("TRAIN", 20), ("TEST", 8)):
        lines = []
        for i in range(n):
            steps = np.arange(6 + i % 4) * (1 if i % 2 else -1) + rng.normal(size=6 + i % 4)
            lines.append(",".join(f"{v:.3f}" for v in steps) + (":up" if i % 2 else ":down"))
        (folder / f"{name}_{part}.ts").write_text(TS.replace("Toy", name) + "\n".join(lines) + "\n")
    return folder / f"{name}_TRAIN.ts"


def test_ts_pair_by_path_trains_end_to_end(tmp_path):
    path = write_ts_pair(tmp_path / "mine")
    words = [f"data.path={path}", *TINY, f"train.out_dir={tmp_path}"]
    result = train(load_experiment("basicmotions-cpu", ["data.name=ts", *words]))
    assert result.status == "finished" and "test_accuracy" in result.test_metrics
    d = build_dataset(DataConfig(name="ts", path=str(path)))
    assert (len(d.train), len(d.val), len(d.test)) == (18, 2, 8) and d.class_names == ("up", "down")
    (tmp_path / "mine" / "Toy_TEST.ts").unlink()
    with pytest.raises(FileNotFoundError, match="has no test file .*Toy_TEST.ts"):
        build_dataset(DataConfig(name="ts", path=str(path)))


def serve_zip(monkeypatch, tmp_path: Path, name: str) -> list[str]:
    """Stubs the network: the archive's ``NAME.zip`` is served from a zip of generated .ts files."""
    write_ts_pair(tmp_path / "made", name)
    archive = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in ("TRAIN", "TEST"):
            z.write(tmp_path / "made" / f"{name}_{part}.ts", f"{name}/{name}_{part}.ts")
    opened = []

    def open_url(url):
        opened.append(url)
        if not url.endswith(f"/{name}.zip"):
            raise loaders.urllib.error.HTTPError(url, 404, "Not Found", None, None)
        return loaders.urllib.request.urlopen(archive.as_uri())

    monkeypatch.setattr(loaders, "open_url", open_url)
    return opened


def test_download_and_train_any_uea_name(tmp_path, monkeypatch, capsys):
    opened = serve_zip(monkeypatch, tmp_path, "ArrowHead")
    root = tmp_path / "data"
    with pytest.raises(loaders.MissingDataError, match="run 'warprnn download uea-ArrowHead"):
        build_dataset(DataConfig(name="uea-ArrowHead", root=str(root)))
    assert main(["download", "uea-ArrowHead", "--root", str(root)]) == 0  # no checksum known: accepted
    assert opened == ["https://timeseriesclassification.com/aeon-toolkit/ArrowHead.zip"]
    assert "2 file(s) ready" in capsys.readouterr().out
    d = build_dataset(DataConfig(name="uea-ArrowHead", root=str(root)))
    assert d.num_classes == 2 and len(d.test) == 8 and d.channels == 1
    message = one_line_error(["download", "uea-NoSuchSet", "--root", str(root)], capsys)
    assert "NoSuchSet.zip: HTTP Error 404: Not Found (no such file there" in message
    assert "unknown data source 'uea-../x'" in one_line_error(["download", "uea-../x"], capsys)
    assert "data.name: expected one of" in one_line_error(["train", "msd-small", "data.name=uea-"], capsys)


def test_uea_download_verifies_a_known_checksum(tmp_path, monkeypatch):
    serve_zip(monkeypatch, tmp_path, "BasicMotions")  # generated files: not the canonical ones
    with pytest.raises(loaders.CorruptDataError, match="BasicMotions_TRAIN.ts .* damaged and was not kept"):
        loaders.download("uea-BasicMotions", tmp_path / "data")


# ----- shipped configs by name --------------------------------------------------------------------------


def test_load_experiment_resolves_shipped_names_as_the_cli():
    config = load_experiment("msd-small", ["train.epochs=5"])
    assert config.train.epochs == 5
    assert config.to_dict() == load_experiment(CONFIG_DIR / "msd-small.yaml", ["train.epochs=5"]).to_dict()
