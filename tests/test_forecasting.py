"""Forecasts a practitioner can trust (issue 44): the same first steps for every horizon, through the CLI,
the Python API and ``WARPForecaster``; run folders that forecast without their training data; quantiles,
CRPS and coverage from the Gaussian head; CSV forecasts with a header and dates."""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from warprnn.cli import main
from warprnn.data import read_card
from warprnn.training import predict_run
from warprnn.training.loop import run_eta
from warprnn.training.metrics import gaussian_coverage, gaussian_crps

pytest.importorskip("sklearn")
from warprnn.estimators import WARPForecaster  # noqa: E402

SMALL = ["warp.root_width=4", "warp.root_depth=1", "train.batch_size=16", "train.plots=false"]


def series(rows: int = 160, seed: int = 0) -> np.ndarray:
    t = np.arange(rows)
    noise = np.random.default_rng(seed).normal(size=(rows, 2))
    return np.stack([np.sin(0.2 * t), np.cos(0.1 * t)], -1) + 0.05 * noise


@pytest.fixture(scope="module")
def forecaster(tmp_path_factory):
    out = tmp_path_factory.mktemp("forecaster")
    return WARPForecaster(context=8, horizon=6, overrides=SMALL, out_dir=out, max_epochs=2, random_state=0).fit(
        series()
    )


def test_the_first_steps_are_the_same_for_every_horizon_and_every_entry_point(forecaster, tmp_path):
    history = series()[:50]
    np.save(tmp_path / "history.npy", history.astype("float32"))
    by_estimator, by_python, by_cli = {}, {}, {}
    for h in (5, 48, 100):
        by_estimator[h] = forecaster.predict(history, horizon=h)
        by_python[h] = predict_run(forecaster.run_dir_, torch.tensor(history, dtype=torch.float32), h)[0].numpy()
        out = tmp_path / f"f{h}.npy"
        assert main(["predict", str(forecaster.run_dir_), "--input", str(tmp_path / "history.npy"), "--horizon",
                     str(h), "--output", str(out)]) == 0  # fmt: skip
        by_cli[h] = np.load(out)[0]
        assert by_estimator[h].shape == by_python[h].shape == by_cli[h].shape == (h, 2)
    for h in (48, 100):
        for forecasts in (by_estimator, by_python, by_cli):
            np.testing.assert_allclose(forecasts[h][:5], forecasts[5], rtol=1e-5, atol=1e-6)
    for h in (5, 48, 100):  # the same numbers from the three, on the same history
        np.testing.assert_allclose(by_python[h], by_estimator[h], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(by_cli[h], by_estimator[h], rtol=1e-5, atol=1e-6)
    longer = predict_run(forecaster.run_dir_, torch.tensor(series()[:120], dtype=torch.float32), 5)[0].numpy()
    np.testing.assert_allclose(longer, predict_run(
        forecaster.run_dir_, torch.tensor(series()[112:120], dtype=torch.float32), 5)[0].numpy())  # fmt: skip
    assert forecaster.predict(history).shape == (6, 2)  # the trained horizon by default


def dated_csv(path: Path, rows: int, start: int = 0, columns=("load", "temp")) -> Path:
    values = series(rows + start)[start:]
    lines = [",".join(["date", *columns])]
    for i, row in enumerate(values, start=start):
        day, hour = divmod(i, 24)
        lines.append(f"2016-07-{1 + day:02d} {hour:02d}:00:00," + ",".join(f"{v:.5f}" for v in row[: len(columns)]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("csv")
    data = dated_csv(tmp / "mine.csv", 200)
    words = ["data.name=csv", f"data.path={data}", "data.context=8", "data.horizon=4", "warp.head=gaussian"]
    assert main(["train", "msd-small", *words, *SMALL, "train.epochs=1", "train.loss=nll",
                 f"train.out_dir={tmp / 'runs'}"]) == 0  # fmt: skip
    (run,) = (tmp / "runs").iterdir()
    moved = tmp / "elsewhere.csv"
    shutil.move(data, moved)
    return run, tmp


def test_a_run_forecasts_after_its_data_file_moved_with_dates_and_quantiles(csv_run, capsys):
    run, tmp = csv_run
    card = read_card(run)
    assert card.channel_names == ("load", "temp") and card.frequency == 3600 and card.horizon == 4
    history = dated_csv(tmp / "last_rows.csv", 12, start=300, columns=("temp", "load"))  # another column order
    out = tmp / "f.csv"
    argv = ["predict", str(run), "--input", str(history), "--quantiles", "0.1", "0.5", "0.9", "--output", str(out)]
    assert main(argv) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "date,load,load_q0.1,load_q0.5,load_q0.9,temp,temp_q0.1,temp_q0.5,temp_q0.9"
    assert [line.split(",")[0] for line in lines[1:]] == [
        f"2016-07-14 {h:02d}:00:00" for h in range(4)
    ]  # after 2016-07-13 23:00
    cells = np.array([[float(c) for c in line.split(",")[1:]] for line in lines[1:]])
    assert (cells[:, 1] <= cells[:, 2]).all() and (cells[:, 2] <= cells[:, 3]).all()
    np.testing.assert_allclose(cells[:, 2], cells[:, 0], atol=1e-5)  # the median of a Gaussian is its mean
    assert main(["evaluate", str(run)]) == 2  # the test split needs the data, and the message names it
    assert "mine.csv" in capsys.readouterr().err


def test_a_missing_input_column_is_named(csv_run, capsys):
    run, tmp = csv_run
    history = dated_csv(tmp / "one.csv", 12, columns=("load",))
    assert main(["predict", str(run), "--input", str(history)]) == 2
    assert "no column 'temp' in its header" in capsys.readouterr().err


def test_quantiles_of_a_point_head_are_refused_in_one_line(forecaster, tmp_path, capsys):
    np.save(tmp_path / "h.npy", series()[:20].astype("float32"))
    assert main(["predict", str(forecaster.run_dir_), "--input", str(tmp_path / "h.npy"), "--quantiles", "0.5"]) == 2
    assert "--quantiles: the run's head predicts no std" in capsys.readouterr().err


def test_crps_and_coverage_against_their_definitions():
    torch.manual_seed(0)
    y = torch.randn(100_000)
    mean, std = torch.zeros(1), torch.ones(1)
    assert gaussian_crps(mean, std, y).item() == pytest.approx(1 / math.sqrt(math.pi), rel=0.01)  # E|X-Y| - E|X-X'|/2
    assert gaussian_crps(mean, torch.full((1,), 1e-7), y).item() == pytest.approx(y.abs().mean().item(), rel=1e-4)
    assert gaussian_coverage(mean, std, y).item() == pytest.approx(0.8, abs=0.01)
    assert gaussian_coverage(mean, 0.5 * std, y).item() < 0.5  # too narrow: too few inside


def test_the_80_percent_interval_covers_about_80_percent_of_gaussian_noise():
    noise = np.random.default_rng(1).normal(size=(600, 1))
    words = [*SMALL, "warp.head=gaussian", "train.loss=nll", "train.metric=val_nll"]
    fc = WARPForecaster(context=8, horizon=4, overrides=words, max_epochs=3, random_state=0).fit(noise[:400])
    test = noise[400:]
    inside = []
    for start in range(0, len(test) - 12, 4):
        low, high = fc.predict_interval(test[start : start + 8], coverage=0.8)[:, 0].T  # channel 0
        truth = test[start + 8 : start + 12, 0]
        inside += list((low <= truth) & (truth <= high))
    assert 0.7 <= np.mean(inside) <= 0.9


def test_the_eta_under_a_time_budget_is_what_is_left_of_it():
    assert run_eta(2.0, 10_000, 100.0, 4) == pytest.approx(140.0)  # 4 minutes, 100 s spent
    assert run_eta(2.0, 10, 100.0, 4) == 20.0  # the epochs end first
    assert run_eta(2.0, 10, 0.0, None) == 20.0


def delayed_csv(path: Path, rows: int = 800) -> Path:
    """A target that is the covariate one step earlier, ``y_t = c_{t-1}``, the covariate white noise: the
    target's own past says nothing of its future, the covariate's known future says everything."""
    c = np.random.default_rng(0).normal(size=rows)
    y = np.concatenate([[0.0], c[:-1]])
    start = np.datetime64("2020-01-01T00:00")
    lines = ["date,y,c"] + [f"{start + np.timedelta64(i, 'h')},{y[i]:.5f},{c[i]:.5f}" for i in range(rows)]
    path.write_text("\n".join(lines).replace("T", " ") + "\n")
    return path


@pytest.fixture(scope="module")
def covariate_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("covariates")
    data = delayed_csv(tmp / "delayed.csv")
    words = ["data.name=csv", f"data.path={data}", "data.context=8", "data.horizon=8", "data.target=y",
             "warp.root_width=8", "warp.root_depth=1", "train.batch_size=32", "train.epochs=8",
             "train.plots=false", "train.autoregressive=false", f"train.out_dir={tmp}"]  # fmt: skip
    runs = {}
    for name, extra in (("with", ["data.covariates=[c]"]), ("without", [])):
        assert main(["train", "msd-small", *words, *extra, f"train.name={name}"]) == 0
        (runs[name],) = tmp.glob(f"{name}-*")
    return runs, tmp


def test_known_future_covariates_cut_the_forecast_error_at_least_5x(covariate_runs):
    runs, _ = covariate_runs
    scored = {name: json.loads((run / "test_metrics.json").read_text())["test_mse"] for name, run in runs.items()}
    assert scored["with"] * 5 <= scored["without"]
    assert read_card(runs["with"]).covariate_channels == 1 and read_card(runs["with"]).channel_names == ("y", "c")


def test_a_forecast_needs_the_covariates_future_and_forecasts_the_targets_alone(covariate_runs, capsys):
    runs, tmp = covariate_runs
    lines = (tmp / "delayed.csv").read_text().splitlines()
    (tmp / "history.csv").write_text("\n".join([lines[0], *lines[300:308]]) + "\n")
    assert main(["predict", str(runs["with"]), "--input", str(tmp / "history.csv")]) == 2
    assert "give their values over the steps to forecast (--future FILE" in capsys.readouterr().err
    future = [line.split(",")[2] for line in lines[308:313]]
    (tmp / "future.csv").write_text("\n".join(["c", *future]) + "\n")
    out = tmp / "forecast.csv"
    argv = ["predict", str(runs["with"]), "--input", str(tmp / "history.csv"), "--future", str(tmp / "future.csv")]
    assert main([*argv, "--output", str(out)]) == 0
    table = out.read_text().splitlines()
    assert table[0] == "date,y" and len(table) == 1 + 5  # the horizon is the future's rows; no covariate column
    truth = np.array([float(line.split(",")[1]) for line in lines[308:313]])
    forecast = np.array([float(line.split(",")[1]) for line in table[1:]])
    assert np.mean((forecast - truth) ** 2) < 0.5 * np.mean(truth**2)  # it read the covariates' future


def test_evaluate_on_other_data_equals_scoring_predict_by_hand(tmp_path, capsys):
    rng = np.random.default_rng(0)
    t = np.arange(24)[None, :, None]

    def cases(n, shift):
        phase = rng.uniform(0, 6, size=(n, 1, 1))
        return np.concatenate([np.sin(0.3 * t + phase), np.cos(0.2 * t + phase) + shift], -1).astype("float32")

    split = dict(train=np.arange(0, 40), val=np.arange(40, 50), test=np.arange(50, 60))
    np.savez(tmp_path / "mine.npz", x=cases(60, 0.0), **split)
    np.savez(tmp_path / "other.npz", x=cases(60, 0.5), **split)  # another scale: the run's scaler must be used
    words = ["data.name=array", f"data.path={tmp_path / 'mine.npz'}", "data.context=12", *SMALL, "train.epochs=2"]
    assert main(["train", "msd-small", *words, f"train.out_dir={tmp_path / 'runs'}"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    own = json.loads((run / "test_metrics.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", str(run), f"data.path={tmp_path / 'other.npz'}"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert json.loads((run / "test_metrics.json").read_text()) == own  # the run's own metrics are kept
    test = np.load(tmp_path / "other.npz")["x"][50:60]
    forecast = predict_run(run, torch.tensor(test[:, :12]), 12).numpy()
    assert scored["test_mse_orig"] == pytest.approx(np.mean((forecast - test[:, 12:]) ** 2), rel=1e-4)
    assert main(["evaluate", str(run), "warp.root_width=8"]) == 2
    assert "would change the trained model" in capsys.readouterr().err


def test_a_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path):  # issue 47.2
    from warprnn.data.files import read_csv

    path = tmp_path / "bom.csv"
    path.write_text("\ufeffdate,load\n2020-01-01,1\n2020-01-02,2\n", encoding="utf-8")
    names, values = read_csv(path)
    assert names == ("load",) and values.tolist() == [[1.0], [2.0]]


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason=f"the shared data folder {SHARED} is absent")
def test_a_pixel_run_draws_its_completions_as_images(tmp_path):
    from warprnn.training import load_experiment, train

    words = [f"data.root={SHARED}", "data.num_train=8", "data.num_val=4", "data.num_test=4", "warp.root_width=4",
             "warp.root_depth=1", "train.epochs=1", "train.batch_size=8", "train.loss_steps=null",
             "train.time_budget=null", f"train.out_dir={tmp_path}"]  # fmt: skip
    result = train(load_experiment("mnist-cpu", words))
    assert (result.run_dir / "plots" / "completions.png").is_file()
    assert (result.run_dir / "plots" / "completions.png") in result.plots


def test_an_array_file_takes_covariates_too(tmp_path):
    from warprnn.data import DataConfig, build_dataset

    rng = np.random.default_rng(0)
    c = rng.normal(size=(30, 16, 1)).astype("float32")
    y = np.concatenate([np.zeros((30, 1, 1), "float32"), c[:, :-1]], axis=1)
    np.savez(tmp_path / "d.npz", x=y, covariates=c)
    data = build_dataset(DataConfig(name="array", path=str(tmp_path / "d.npz"), context=8))
    assert data.covariate_channels == 1 and data.train.x.shape[-1] == 2 and data.train.y.shape[-1] == 1
    np.savez(tmp_path / "bad.npz", x=y, covariates=c[:, :5])
    with pytest.raises(Exception, match="'covariates' must be"):
        build_dataset(DataConfig(name="array", path=str(tmp_path / "bad.npz")))
