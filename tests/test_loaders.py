"""Real data: readers, checksums, missing and damaged files, each benchmark's splits, download, and a tiny
training run on each kind of real set. Uses the shared files in ``../shared/data`` beside the repository."""

import gzip
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from warprnn.cli import main
from warprnn.data import DataConfig, benchmarks, build_dataset
from warprnn.data import files as loaders
from warprnn.training import load_experiment, train

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
if not SHARED.is_dir():
    pytest.skip(f"the shared data folder {SHARED} is absent (see its README for the files)", allow_module_level=True)

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
HOURS = 30 * 24  # rows of a TSL month in the hourly files


def data(name, **options):
    return build_dataset(DataConfig(name=name, root=str(SHARED), **options))


# ----- shared files -------------------------------------------------------------------------------------


def test_shared_files_pass_their_checksums():
    for source in ("mnist", "etth1", "etth2", "ettm1", "ettm2", "uea-BasicMotions"):
        files = loaders.require(source, SHARED)
        assert all(path.is_file() for path in files.values())


def test_mnist_label_counts_and_splits():
    files = loaders.require("mnist", SHARED)
    assert np.bincount(loaders.read_idx(files["train-labels-idx1-ubyte.gz"])).tolist() == MNIST_TRAIN_COUNTS
    assert loaders.read_idx(files["t10k-images-idx3-ubyte.gz"]).shape == (10000, 28, 28)
    d = data("mnist-class")
    assert (len(d.train), len(d.val), len(d.test)) == (54000, 6000, 10000)
    assert d.task == "classification" and d.num_classes == 10 and d.train.x.shape[1:] == (784, 1)
    assert torch.bincount(d.test.y).tolist() == MNIST_TEST_COUNTS
    assert (torch.bincount(d.train.y) + torch.bincount(d.val.y)).tolist() == MNIST_TRAIN_COUNTS
    assert d.train.x.min() == -1 and d.train.x.max() == 1


def test_mnist_completion_subsamples_with_the_seed():
    d = data("mnist", num_train=50, num_val=10, num_test=20)
    assert (len(d.train), len(d.val), len(d.test)) == (50, 10, 20)
    assert d.task == "forecast" and d.context == 300 and d.train.y is d.train.x
    assert d.scaler is None and d.bin_width == pytest.approx(2 / 255)
    again = data("mnist", num_train=50, num_val=10, num_test=20)
    assert torch.equal(again.train.x, d.train.x)
    assert not torch.equal(data("mnist", num_train=50, num_val=10, num_test=20, seed=1).train.x, d.train.x)


def test_etth1_follows_the_tsl_borders_and_scaler():
    names, values = loaders.read_csv(SHARED / "ett" / "ETTh1.csv")
    assert names == ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT") and values.shape == (17420, 7)
    d = data("etth1")
    assert (len(d.train), len(d.val), len(d.test)) == (8449, 2785, 2785)  # the TSL counts for 96 -> 96
    assert d.context == 96 and d.train.x.shape[1:] == (192, 7)
    train_part = values[: 12 * HOURS]
    assert torch.allclose(d.scaler.mean.double(), torch.from_numpy(train_part.mean(0)), rtol=1e-6)
    assert torch.allclose(d.scaler.std.double(), torch.from_numpy(train_part.std(0)), rtol=1e-6)

    def original(row):
        return torch.from_numpy(values[row]).float()

    assert torch.allclose(d.scaler.inverse(d.val.x[0, 0]), original(12 * HOURS - 96), atol=1e-4)
    assert torch.allclose(d.scaler.inverse(d.val.x[0, 96]), original(12 * HOURS), atol=1e-4)  # first val target
    assert torch.allclose(d.scaler.inverse(d.test.x[-1, -1]), original(20 * HOURS - 1), atol=1e-4)


def test_ett_15_minute_files_use_the_same_months_and_minmax_option():
    d = data("ettm1", horizon=192)
    month = 4 * HOURS
    assert (len(d.train), len(d.val)) == (12 * month - 96 - 192 + 1, 4 * month + 96 - 288 + 1)
    m = data("etth2", scaling="minmax", horizon=336)
    first_steps = torch.cat([m.train.x[:, 0], m.train.x[-1]])  # every training row once
    assert first_steps.amin(0).tolist() == pytest.approx([-1] * 7) and first_steps.amax(0).tolist() == pytest.approx(
        [1] * 7
    )


def test_basicmotions_archive_split_and_resplit():
    d = data("uea-BasicMotions")
    assert (len(d.train), len(d.val), len(d.test)) == (36, 4, 40) and d.num_classes == 4
    assert d.train.x.shape[1:] == (100, 6) and torch.bincount(d.test.y).tolist() == [10, 10, 10, 10]
    assert d.train.x.reshape(-1, 6).mean(0).abs().max() < 1e-4  # standardised with the training cases
    r = data("uea-BasicMotions", split="resplit")
    assert (len(r.train), len(r.val), len(r.test)) == (56, 12, 12)


# ----- missing and damaged files ------------------------------------------------------------------------


def test_missing_files_are_each_named_with_their_url(tmp_path):
    (tmp_path / "mnist").mkdir()
    for name in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(SHARED / "mnist" / name, tmp_path / "mnist" / name)
    with pytest.raises(loaders.MissingDataError) as error:
        build_dataset(DataConfig(name="mnist", root=str(tmp_path)))
    message = str(error.value)
    assert "\n" not in message and str(tmp_path) in message and "warprnn download mnist" in message
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        assert f"mnist/{name} (from https://ossci-datasets.s3.amazonaws.com/mnist/{name})" in message
    assert "labels" not in message


def test_default_root_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(loaders.DATA_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"under {tmp_path}: ett/ETTh1.csv .from https://raw.githubusercontent"):
        build_dataset(DataConfig(name="etth1"))
    with pytest.raises(FileNotFoundError, match="pems08/PEMS08.npz .no canonical download.*Davidham3/ASTGCN"):
        build_dataset(DataConfig(name="pems08"))


def test_damaged_files_fail_their_checksum(tmp_path):
    (tmp_path / "ett").mkdir()
    raw = bytearray((SHARED / "ett" / "ETTh1.csv").read_bytes())
    raw[1000] ^= 1
    (tmp_path / "ett" / "ETTh1.csv").write_bytes(raw)
    with pytest.raises(loaders.CorruptDataError, match=r"ETTh1.csv: sha256 is [0-9a-f]{64}, expected f18de3"):
        build_dataset(DataConfig(name="etth1", root=str(tmp_path)))
    shutil.copytree(SHARED / "mnist", tmp_path / "mnist")
    labels = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.chmod(0o644)
    labels.write_bytes(labels.read_bytes()[:-10])  # truncated
    with pytest.raises(loaders.CorruptDataError, match="t10k-labels-idx1-ubyte.gz: sha256 is .* damaged or partial"):
        build_dataset(DataConfig(name="mnist-class", root=str(tmp_path)))


def test_readers_name_what_is_wrong(tmp_path):
    bad_magic = tmp_path / "bad.gz"
    bad_magic.write_bytes(gzip.compress(b"\x00\x01\x08\x01" + b"\x00" * 8))
    with pytest.raises(loaders.CorruptDataError, match="bad.gz: bad IDX magic number 00010801"):
        loaders.read_idx(bad_magic)
    short = tmp_path / "short.gz"
    short.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05" + b"\x01\x02"))
    with pytest.raises(loaders.CorruptDataError, match=r"shape \(5,\), 13 bytes, but the file has 10"):
        loaders.read_idx(short)
    truncated = tmp_path / "cut.gz"
    truncated.write_bytes(gzip.compress(b"\x00" * 100)[:20])
    with pytest.raises(loaders.CorruptDataError, match="cut.gz: not a readable gzip file"):
        loaders.read_idx(truncated)
    csv = tmp_path / "ETTh1.csv"
    csv.write_text("date,HUFL,OT\n2016-07-01 00:00:00,1.0,2.0\n2016-07-01 01:00:00,1.0,oops\n")
    with pytest.raises(loaders.CorruptDataError, match="ETTh1.csv, row 3, column .OT.: .oops. is not a number"):
        loaders.read_csv(csv)
    npz = tmp_path / "PEMS08.npz"
    np.savez(npz, flow=np.zeros((4, 2, 3)))
    with pytest.raises(loaders.CorruptDataError, match=r"no array 'data' \(it has \['flow'\]\)"):
        loaders.read_npz(npz)
    npz.write_bytes(b"not a zip")
    with pytest.raises(loaders.CorruptDataError, match="PEMS08.npz: not a readable .npz file"):
        loaders.read_npz(npz)


# ----- generated .ts files: unequal lengths, missing values, malformed ----------------------------------

TS_HEADER = """# a generated file
@problemName Heartbeat
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true normal abnormal
@data
"""


def write_ts(folder: Path, part: str, lines: list[str], header: str = TS_HEADER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"Heartbeat_{part}.ts"
    path.write_text(header + "\n".join(lines) + "\n")
    return path


def test_ts_unequal_lengths_and_missing_values(tmp_path):
    folder = tmp_path / "uea" / "Heartbeat"  # a small generated stand-in: the real files are not here
    train = ["1,2,3,4:10,?,30,40:normal", "?,?,5:1,2,3:abnormal", "2,4,6,8,10:?,?,?,?,?:normal", "3,?,1:7,8:abnormal"]
    write_ts(folder, "TRAIN", train * 3)
    write_ts(folder, "TEST", ["1,1:2,2:abnormal", "5,NaN,7,8,9,10:1,2,3,4,5,6:normal"])
    ts = loaders.read_ts(folder / "Heartbeat_TRAIN.ts")
    assert ts.classes == ("normal", "abnormal") and ts.labels[:2] == ["normal", "abnormal"]
    assert [c.shape for c in ts.cases[:4]] == [(4, 2), (3, 2), (5, 2), (3, 2)]  # channel 2 of case 4 is NaN-padded
    assert np.isnan(ts.cases[0][1, 1]) and np.isnan(ts.cases[3][2, 1])

    d = build_dataset(DataConfig(name="uea-Heartbeat", root=str(tmp_path), split="resplit"))
    assert sum(map(len, (d.train, d.val, d.test))) == 14 and (len(d.train), len(d.val)) == (10, 2)
    assert d.num_classes == 2
    for split in (d.train, d.val, d.test):
        assert torch.isfinite(split.x).all()
        padding = torch.arange(split.x.shape[1]) >= split.lengths[:, None]
        assert (split.x[padding] == 0).all()

    a = build_dataset(DataConfig(name="uea-Heartbeat", root=str(tmp_path)))  # archive split: TEST kept apart
    assert len(a.test) == 2 and a.test.lengths.tolist() == [2, 6] and a.test.y.tolist() == [1, 0]
    mean, std = a.scaler.mean, a.scaler.std
    case = a.test.x[1] * std + mean  # "5,NaN,7,...": the missing step repeats the value before it
    assert case[:, 0].tolist() == pytest.approx([5, 5, 7, 8, 9, 10], abs=1e-5)


@pytest.mark.parametrize(
    "lines, header, match",
    [
        (["1,2:3,x:normal"], TS_HEADER, "line 10: bad value"),
        (["1,2:3,4:sick"], TS_HEADER, r"labels \['sick'\] are not among the declared classes"),
        (["1,2:3,4:normal", "1,2:normal"], TS_HEADER, r"cases have \[1, 2\] channel\(s\)"),
        (["1,2:3,4:normal"], TS_HEADER.replace("@timeStamps false", "@timeStamps true"), "not supported"),
        (
            ["1,2:3,4:normal"],
            TS_HEADER.replace("@classLabel true normal abnormal", "@classLabel false"),
            "not a classification file",
        ),
        (
            ["1,2:3,4:normal", "1,2,3:3,4,5:normal"],
            TS_HEADER.replace("@equalLength false", "@equalLength true"),
            "@equalLength true, but the cases have lengths",
        ),
        ([], TS_HEADER, "no @data section with cases"),
    ],
)
def test_malformed_ts_files_are_named(tmp_path, lines, header, match):
    path = write_ts(tmp_path, "TRAIN", lines, header)
    with pytest.raises(loaders.CorruptDataError, match=match) as error:
        loaders.read_ts(path)
    assert str(path) in str(error.value)


# ----- PEMS08 on a generated file of the real format ----------------------------------------------------


def write_pems08(root: Path, steps: int = 120) -> np.ndarray:
    values = np.random.default_rng(0).uniform(0, 400, size=(steps, 170, 3)).round()
    values[100:110, 3, 0] = 0  # a sensor reporting zero flow: skipped by MAPE
    (root / "pems08").mkdir(parents=True)
    np.savez(root / "pems08" / "PEMS08.npz", data=values)
    return values


def test_pems08_windows_every_sensor_in_time_order(tmp_path):
    flow = write_pems08(tmp_path)[:, :, 0]
    d = build_dataset(DataConfig(name="pems08", root=str(tmp_path)))
    assert (len(d.train), len(d.val), len(d.test)) == ((72 - 23) * 170, (24 - 23) * 170, (24 - 23) * 170)
    assert d.context == 12 and d.train.x.shape[1:] == (24, 1)
    assert d.scaler.mean.item() == pytest.approx(flow[:72].mean(), rel=1e-6)
    assert d.scaler.std.item() == pytest.approx(flow[:72].std(), rel=1e-6)
    window, sensor = 5, 7  # sequence (window, sensor) = window * 170 + sensor
    assert torch.allclose(
        d.scaler.inverse(d.train.x[window * 170 + sensor, :, 0]),
        torch.from_numpy(flow[window : window + 24, sensor]).float(),
        atol=1e-3,
    )
    assert torch.allclose(d.scaler.inverse(d.test.x[0, :, 0]), torch.from_numpy(flow[96:120, 0]).float(), atol=1e-3)


def test_pems08_pipeline_trains_and_reports_original_scale_metrics(tmp_path):
    write_pems08(tmp_path / "data")
    config = load_experiment(
        REPO / "configs" / "pems08-paper.yaml",
        [
            f"data.root={tmp_path / 'data'}",
            "data.num_train=256",
            "data.num_val=64",
            "data.num_test=170",
            "warp.root_width=4",
            "warp.hypernet_depth=1",
            "train.epochs=1",
            "train.batch_size=64",
            "train.device=cpu",
            f"train.out_dir={tmp_path / 'runs'}",
        ],
    )
    result = train(config)
    assert result.status == "finished"
    for key in ("test_mae_orig", "test_rmse_orig", "test_mape"):
        assert np.isfinite(result.test_metrics[key]) and result.test_metrics[key] > 0


# ----- download -----------------------------------------------------------------------------------------


def serve(monkeypatch, files: dict[str, Path]):
    """Makes ``loaders.open_url`` serve each canonical URL's file name from a local ``file://`` URL."""
    opened = []

    def open_url(url):
        opened.append(url)
        return loaders.urllib.request.urlopen(files[url.rsplit("/", 1)[1]].as_uri())

    monkeypatch.setattr(loaders, "open_url", open_url)
    return opened


def test_download_fetches_and_verifies_through_the_cli(tmp_path, monkeypatch, capsys):
    opened = serve(monkeypatch, {p.name: p for p in (SHARED / "mnist").iterdir()})
    assert main(["download", "mnist", "--root", str(tmp_path)]) == 0
    assert len(opened) == 4 and "4 file(s) ready" in capsys.readouterr().out
    for path in (SHARED / "mnist").iterdir():
        assert (tmp_path / "mnist" / path.name).read_bytes() == path.read_bytes()
    assert loaders.require("mnist", tmp_path)
    assert main(["download", "mnist", "--root", str(tmp_path)]) == 0 and len(opened) == 4  # present: kept


def test_download_extracts_uea_files_from_the_archive_zip(tmp_path, monkeypatch):
    archive = tmp_path / "BasicMotions.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in ("TRAIN", "TEST"):
            z.write(SHARED / "uea" / "BasicMotions" / f"BasicMotions_{part}.ts", f"BasicMotions_{part}.ts")
    opened = serve(monkeypatch, {"BasicMotions.zip": archive})
    paths = loaders.download("uea-BasicMotions", tmp_path / "data")
    assert opened == ["https://timeseriesclassification.com/aeon-toolkit/BasicMotions.zip"]  # fetched once
    assert [p.name for p in paths] == ["BasicMotions_TRAIN.ts", "BasicMotions_TEST.ts"]
    assert sorted(p.name for p in (tmp_path / "data" / "uea" / "BasicMotions").iterdir()) == [
        "BasicMotions_TEST.ts",
        "BasicMotions_TRAIN.ts",
    ]  # no archive or .part left behind


def test_damaged_download_is_not_kept(tmp_path, monkeypatch):
    damaged = tmp_path / "ETTh1.csv"
    damaged.write_bytes((SHARED / "ett" / "ETTh1.csv").read_bytes()[:-100])
    serve(monkeypatch, {"ETTh1.csv": damaged})
    with pytest.raises(
        loaders.CorruptDataError,
        match="downloaded ett/ETTh1.csv from https://raw.githubusercontent.* damaged and was not kept: sha256 is",
    ):
        loaders.download("etth1", tmp_path / "data")
    assert list((tmp_path / "data" / "ett").iterdir()) == []


def test_download_errors_are_one_line(tmp_path, monkeypatch, capsys):
    def unreachable(url):
        raise loaders.urllib.error.URLError("no route to host")

    monkeypatch.setattr(loaders, "open_url", unreachable)
    for argv, match in (
        (["download", "etth2", "--root", str(tmp_path)], "could not download https://raw."),
        (["download", "nope"], "unknown data source 'nope'; known: ['etth1'"),
        (["download", "pems08"], "no canonical download"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err  # progress lines, then the error on one line
        assert "Traceback" not in err and err.splitlines()[-1].startswith("warprnn: error: ") and match in err
    assert not (tmp_path / "ett" / "ETTh2.csv.part").exists()


# ----- tiny end-to-end runs on the shared files ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "config, extra",
    [
        (
            "mnist-cpu",
            [
                "data.name=mnist-class",
                "data.context=null",  # mnist-cpu's: a classification set has no context
                "warp.head=classification",
                "warp.final_activation=none",
                "train.loss=ce",
                "train.loss_steps=null",
                "train.metric=val_accuracy",
                "train.autoregressive=false",
            ],
        ),
        ("etth1-cpu", ["data.num_train=64"]),
        ("basicmotions-cpu", []),
    ],
)
def test_tiny_training_runs_on_real_data(tmp_path, config, extra):
    overrides = [
        f"data.root={SHARED}",
        "data.num_val=16",
        "data.num_test=16",
        "warp.root_width=4",
        "train.epochs=1",
        "train.batch_size=32",
        f"train.out_dir={tmp_path}",
    ]
    if config == "mnist-cpu":
        overrides.append("data.num_train=32")
    result = train(load_experiment(REPO / "configs" / f"{config}.yaml", overrides + extra))
    assert result.status == "finished"
    assert all(np.isfinite(v) for v in result.test_metrics.values())


def test_a_stratified_validation_part_holds_every_class(caplog):
    labels = torch.tensor([0] * 10 + [1] * 10 + [2] * 3 + [3] * 1)
    val, train = benchmarks.carve(len(labels), 0.25, torch.Generator().manual_seed(0), labels)
    assert torch.bincount(labels[val], minlength=4).tolist() == [2, 2, 1, 0]  # a quarter of each; one of 3; none of 1
    assert sorted(torch.cat([val, train]).tolist()) == list(range(len(labels)))
    plain, _ = benchmarks.carve(len(labels), 0.25, torch.Generator().manual_seed(0))
    assert plain.tolist() == torch.randperm(24, generator=torch.Generator().manual_seed(0))[:6].sort().values.tolist()


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data absent")
def test_basicmotions_validation_split_is_said_to_be_small(caplog):
    caplog.set_level("WARNING", logger="warprnn")
    data = build_dataset(DataConfig(name="uea-BasicMotions", root=str(SHARED)))  # the archive's 10%: 4 cases
    assert len(data.val) == 4 and "the validation split has 4 cases" in caplog.text
    stratified = build_dataset(DataConfig(name="uea-BasicMotions", root=str(SHARED), val_fraction=0.25, stratify=True))
    assert torch.bincount(stratified.val.y).tolist() == [2, 2, 2, 2] and len(stratified.train) == 32
    with pytest.raises(ValueError, match=r"data.val_fraction: expected a number in \(0, 1\), got 1.0"):
        DataConfig(val_fraction=1.0)
