"""The training harness: run folder, exact resume after SIGKILL, non-finite stop, CLI errors."""

import csv
import dataclasses
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import TINY
from warprnn.cli import build_parser, main, parse
from warprnn.data import build_dataset
from warprnn.errors import ConfigError
from warprnn.experiments import report
from warprnn.training import build, evaluation, load_experiment, loop, runs, train
from warprnn.training.config import TrainConfig
from warprnn.training.rundir import load_checkpoint, read_config, trained_by


def tiny(tmp_path, *extra):
    return load_experiment("configs/msd-small.yaml", TINY + [f"train.out_dir={tmp_path}", *extra])


@pytest.fixture(autouse=True)
def repo_root(monkeypatch):
    monkeypatch.chdir(os.path.dirname(os.path.dirname(__file__)))


def test_run_folder_contents(tmp_path):
    config = tiny(tmp_path, "train.epochs=3", "train.val_every=2")
    result = train(config)
    run = result.run_dir
    assert result.status == "finished"
    model = build.build_model(config, build_dataset(config.data), torch.device("cpu"))
    assert result.parameters == sum(p.numel() for p in model.parameters())
    assert (run / "config.yaml").is_file()
    rows = list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert rows[0]["val_mse"] == "" and float(rows[1]["val_mse"]) > 0  # validation every 2 epochs and at the end
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 3
    assert (run / "checkpoints" / "best.pt").is_file()
    test = json.loads((run / "test_metrics.json").read_text())
    for key in ("test_mse", "test_mae", "test_rmse", "test_mse_orig", "test_naive_mse", "test_loss"):
        assert key in test and test[key] >= 0
    assert sorted(p.name for p in result.plots) == ["losses.png", "predictions.png", "theta.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in result.plots)


def test_same_seed_same_weights(tmp_path):
    weights = []
    for sub in ("a", "b"):
        run = train(tiny(tmp_path / sub, "train.epochs=2")).run_dir
        weights.append(load_checkpoint(run / "checkpoints" / "last.pt")["model"])
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    other = train(tiny(tmp_path / "c", "train.epochs=2", "train.seed=1")).run_dir
    assert not torch.equal(load_checkpoint(other / "checkpoints" / "last.pt")["model"]["A"], weights[0]["A"])


STALL_AFTER_EPOCH_2 = """
import sys, time
from pathlib import Path
from warprnn.cli import main
from warprnn.training import loop

marker, real = Path(sys.argv[1]), loop.save_epoch


def save_then_stall(run_dir, model, optimizer, scheduler, history, epoch, *rest):
    real(run_dir, model, optimizer, scheduler, history, epoch, *rest)
    if epoch == 2:  # last.pt of epoch 2 is on disk: signal the test and wait to be killed
        marker.write_text(str(epoch))
        time.sleep(600)


loop.save_epoch = save_then_stall
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(tmp_path):
    """SIGKILL after epoch 2 of 12 (the process stalls there, so a slow machine cannot let it finish first):
    resumed from its last checkpoint, the run ends with the weights and losses of an uninterrupted one."""
    epochs = 12
    args = TINY + ["data.num_train=96", "data.seq_len=24", f"train.epochs={epochs}", "train.val_every=100"]
    reference = train(tiny(tmp_path / "ref", *args[len(TINY) :])).run_dir

    script, marker, out_dir = tmp_path / "stall.py", tmp_path / "after-epoch-2", tmp_path / "killed"
    script.write_text(STALL_AFTER_EPOCH_2)
    cmd = [sys.executable, str(script), str(marker), "train", "configs/msd-small.yaml", *args]
    process = subprocess.Popen([*cmd, f"train.out_dir={out_dir}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600  # a fail-safe only: the run stalls after epoch 2 until killed
    while time.time() < deadline and process.poll() is None and not marker.is_file():
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL and marker.read_text() == "2"
    assert load_checkpoint(next(out_dir.glob("*/checkpoints/last.pt")))["epoch"] == 2

    run_dir = next(out_dir.iterdir())
    result = train(None, run_dir=run_dir)
    assert result.status == "finished"
    resumed = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    expected = load_checkpoint(reference / "checkpoints" / "last.pt")
    assert resumed["epoch"] == epochs
    for key in expected["model"]:
        assert torch.equal(resumed["model"][key], expected["model"][key]), key
    assert [r["train_loss"] for r in resumed["history"]] == [r["train_loss"] for r in expected["history"]]


def poison(monkeypatch, *calls: int) -> None:
    """Makes the training loss NaN at these calls of the loop's ``compute_loss`` (from 1; TINY has 3 batches
    an epoch, so call 7 is epoch 3's first batch)."""
    count, real = {"n": 0}, evaluation.compute_loss

    def poisoned(out, batch, loss, mask=None, choices=None):
        count["n"] += 1
        value = real(out, batch, loss, mask) if choices is None else real(out, batch, loss, mask, choices)
        return value * float("nan") if count["n"] in calls else value

    monkeypatch.setattr(loop, "compute_loss", poisoned)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, caplog):
    poison(monkeypatch, 7)
    caplog.set_level("INFO", logger="warprnn")
    result = train(tiny(tmp_path, "train.epochs=5", "train.val_every=100"))
    messages = caplog.messages
    assert result.status == "non-finite"
    last = load_checkpoint(result.run_dir / "checkpoints" / "last.pt")
    assert last["epoch"] == 2 and all(torch.isfinite(v).all() for v in last["model"].values())
    assert any("became nan in epoch 3" in m and "last good checkpoint" in m for m in messages)
    assert not (result.run_dir / "test_metrics.json").exists()  # no validation before it: nothing to score
    assert last["stopped"] and last["status"] == "non-finite"


def test_a_run_stopped_by_a_non_finite_loss_scores_its_best_checkpoint(tmp_path, monkeypatch):
    """Validated every epoch, a run whose loss turns NaN in epoch 3 is scored at its best checkpoint (epoch 1
    or 2), says it stopped, and a resumed run trains no more: it scores the same checkpoint again."""
    poison(monkeypatch, 7)
    result = train(tiny(tmp_path, "train.epochs=5", "train.val_every=1"))
    assert result.status == "non-finite" and math.isfinite(result.test_metrics["test_mse"])
    assert json.loads((result.run_dir / "test_metrics.json").read_text()) == result.test_metrics
    assert load_checkpoint(result.run_dir / "checkpoints" / "best.pt")["epoch"] in (1, 2)
    assert runs.run_ending(result.run_dir).status == "non-finite"
    monkeypatch.setattr(loop, "compute_loss", evaluation.compute_loss)
    resumed = train(None, run_dir=result.run_dir)
    assert resumed.status == "non-finite" and resumed.test_metrics == result.test_metrics
    assert load_checkpoint(result.run_dir / "checkpoints" / "last.pt")["epoch"] == 2


def test_a_rollback_trains_the_epoch_again_from_its_start_at_a_lower_rate(tmp_path, monkeypatch, caplog):
    """NaN at epoch 1's second batch, after its first step: with ``train.rollbacks`` the epoch restarts from
    the initial weights and an empty Adam state at half the rates, so the run ends with the weights of a run
    trained at half the rates from the start, bit for bit (without the restore, the first step at the full
    rate would remain)."""
    fixed = ("train.epochs=3", "optim.scheduler=none")
    halved = train(tiny(tmp_path / "half", *fixed, "optim.lr=5e-4"))
    poison(monkeypatch, 2)
    caplog.set_level("WARNING", logger="warprnn")
    rolled = train(tiny(tmp_path / "rolled", *fixed, "optim.lr=1e-3", "train.rollbacks=1"))
    assert rolled.status == "finished" and rolled.rollbacks == 1
    assert any("epoch 1: back to the epoch's start" in m and "rollback 1 of 1" in m for m in caplog.messages)
    weights = [load_checkpoint(r.run_dir / "checkpoints" / "last.pt")["model"] for r in (halved, rolled)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    rows = csv.DictReader((rolled.run_dir / "metrics.csv").read_text().splitlines())
    assert [float(r["lr"]) for r in rows] == [5e-4] * 3
    assert load_checkpoint(rolled.run_dir / "checkpoints" / "last.pt")["rollbacks"] == 1
    assert train(None, run_dir=rolled.run_dir).rollbacks == runs.run_ending(rolled.run_dir).rollbacks == 1


def test_when_the_rollbacks_run_out_a_non_finite_loss_stops_the_run(tmp_path, monkeypatch, caplog):
    poison(monkeypatch, 2, 5)  # epoch 1, then its second attempt
    caplog.set_level("WARNING", logger="warprnn")
    result = train(tiny(tmp_path, "train.epochs=3", "train.rollbacks=1"))
    assert result.status == "non-finite" and result.rollbacks == 1
    assert any("became nan in epoch 1 after 1 rollbacks" in m for m in caplog.messages)
    for bad in ("train.rollbacks=-1", "train.rollback_factor=1", "train.rollback_factor=0"):
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            tiny(tmp_path, bad)


def test_after_a_validation_a_rollback_returns_to_the_best_validated_weights(tmp_path, monkeypatch, caplog):
    """Epoch 1 validated best (later validations made worse), NaN in epoch 3: the weights restored are epoch
    1's, those of best.pt, not those of the start of epoch 3 (last.pt after epoch 2)."""
    restored, real_restore, real_evaluate, scores = [], loop.Snapshot.restore, loop.evaluate, itertools.count(1)

    def recording(self, model, optimizer):
        real_restore(self, model, optimizer)
        best, last = (load_checkpoint(next(tmp_path.glob(f"*/checkpoints/{n}.pt"))) for n in ("best", "last"))
        restored.append(({k: v.clone() for k, v in model.state_dict().items()}, best, last))

    monkeypatch.setattr(loop.Snapshot, "restore", recording)
    monkeypatch.setattr(
        loop, "evaluate", lambda *args, **kwargs: real_evaluate(*args, **kwargs) | {"val_mse": next(scores)}
    )
    poison(monkeypatch, 8)  # epoch 3's second batch
    caplog.set_level("WARNING", logger="warprnn")
    result = train(tiny(tmp_path, "train.epochs=3", "train.val_every=1", "train.rollbacks=1"))
    assert result.status == "finished" and len(restored) == 1
    assert any("epoch 3: back to the best validation so far" in m for m in caplog.messages)
    weights, best, last = restored[0]
    assert best["epoch"] == 1 and all(torch.equal(weights[k], best["model"][k]) for k in weights)
    assert last["epoch"] == 2 and not torch.equal(weights["A"], last["model"]["A"])


@pytest.mark.parametrize("scheduler", ["none", "cosine", "budget-cosine", "plateau"])
def test_scaled_learning_rates_stay_scaled_under_every_schedule(tmp_path, scheduler):
    extra = ["optim.lr=1e-3", "optim.min_lr=1e-5", f"optim.scheduler={scheduler.removeprefix('budget-')}"]
    if scheduler == "budget-cosine":
        extra.append("train.time_budget=1")
    config = tiny(tmp_path, *extra)
    model = build.build_model(config, build_dataset(config.data), torch.device("cpu"))
    rates = []
    for factor in (1.0, 0.5):
        optimizer, schedule = build.build_optimizer(config, model)
        build.scale_learning_rates(optimizer, schedule, factor)
        for _ in range(3):
            optimizer.step()  # no gradients: no change but the order torch expects
            loop.step_schedule(schedule, 1.0, 0.4)
        rates.append([group["lr"] for group in optimizer.param_groups])
    assert rates[1] == pytest.approx([0.5 * lr for lr in rates[0]], rel=1e-12)


def test_never_finite_validation_metric_scores_the_last_weights(tmp_path, monkeypatch, caplog):
    """Diverging forecasts give a NaN validation metric every time: the run still ends, and says so."""
    real = loop.evaluate

    def diverging(*args, **kwargs):
        return {k: float("nan") if k.endswith("mse") else v for k, v in real(*args, **kwargs).items()}

    monkeypatch.setattr(loop, "evaluate", diverging)
    caplog.set_level("INFO", logger="warprnn")
    result = train(tiny(tmp_path, "train.epochs=2"))
    messages = caplog.messages
    assert result.status == "finished"
    assert load_checkpoint(result.run_dir / "checkpoints" / "best.pt")["epoch"] == 2
    assert any("no validation val_mse was finite" in m for m in messages)


@pytest.mark.parametrize(
    "extra",
    [
        ["optim.scheduler=plateau", "optim.plateau_patience=1"],
        ["optim.name=adamw", "optim.weight_decay=0.01", "train.loss_steps=5"],
        [
            "warp.head=gaussian",
            "train.loss=nll",
            "train.autoregressive=false",
            "train.mode=conv",
            "train.metric=val_nll",
        ],
    ],
)
def test_training_options_run(tmp_path, extra):
    result = train(tiny(tmp_path, "train.epochs=2", *extra))
    assert result.status == "finished" and result.test_metrics["test_mse"] >= 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra, metric",
    [
        (
            [
                "data.name=spirals",
                "data.seq_len=16",
                "data.context=null",  # msd-small's: spirals are classified, not forecast
                "warp.head=classification",
                "train.loss=ce",
                "train.autoregressive=false",
                "train.metric=val_accuracy",
            ],
            "test_accuracy",
        ),
        (["data.name=lv-copy", "data.seq_len=128", "data.context=null", "train.autoregressive=false"], "test_mse"),
    ],
)
def test_classification_and_sequence_tasks_train(tmp_path, extra, metric):
    result = train(tiny(tmp_path, "train.epochs=2", *extra))
    assert result.status == "finished" and 0 <= result.test_metrics[metric]
    assert "test_naive_mse" not in result.test_metrics  # the last-value forecast is for forecasting only


def test_sequence_task_refuses_autoregressive_training(tmp_path):
    with pytest.raises(ValueError, match="train.autoregressive: 'lv-copy' is a sequence task"):
        train(tiny(tmp_path, "data.name=lv-copy", "data.seq_len=128", "data.context=null", "train.autoregressive=true"))


@pytest.mark.slow
@pytest.mark.parametrize("model", ["gru", "lstm", "transformer", "s4d"])
def test_baselines_train_in_the_harness(tmp_path, model, capsys):
    """`warprnn train CONFIG model=NAME`: the same data, heads and protocol, a parameter-matched baseline."""
    out_dir = tmp_path / model
    assert main(["train", "msd-small", *TINY, "train.epochs=2", f"model={model}", f"train.out_dir={out_dir}"]) == 0
    printed = capsys.readouterr().out
    assert f"{model.upper()} " in printed and "naive last-value forecast" in printed
    run = next(out_dir.iterdir())
    assert json.loads((run / "test_metrics.json").read_text())["test_mse"] >= 0
    assert main(["evaluate", str(run)]) == 0  # reloads the same baseline from the run's config


def test_loss_steps_mask_counts_the_asked_steps():
    lengths = torch.tensor([10, 6])
    mask = evaluation.step_mask(lengths, 10, 4, torch.Generator().manual_seed(0))
    assert mask.shape == (2, 9) and mask[0].sum() == 4
    assert not mask[1, 5:].any()  # never a step past the length


def test_cli_evaluate_and_predict(tmp_path, capsys):
    run = train(tiny(tmp_path, "train.epochs=1")).run_dir
    assert main(["evaluate", str(run)]) == 0
    assert "test_mse" in json.loads(capsys.readouterr().out)
    series = tmp_path / "series.npy"
    import numpy as np

    np.save(series, np.random.default_rng(0).normal(size=(2, 5, 2)).astype("float32"))
    out = tmp_path / "forecast.npy"
    assert main(["predict", str(run), "--input", str(series), "--output", str(out)]) == 0
    assert np.load(out).shape == (2, 12, 2)  # the trained horizon: the training length 16 minus its context 4


@pytest.mark.parametrize(
    "argv, match",
    [
        (["train", "missing.yaml"], "config file 'missing.yaml' does not exist"),
        (["train", "nonexistent-experiment"], "unknown experiment 'nonexistent-experiment'"),
        (["train", "msd-small", "train.epochs=zero"], "train.epochs: expected an integer >= 1, got 'zero'"),
        (["train", "msd-small", "bogus"], "override 'bogus': expected key=value"),
        (["evaluate", "/nonexistent/run"], "is not a run folder"),
        (["predict", "/nonexistent/run", "--input", "x.npy"], "input file 'x.npy' does not exist"),
    ],
)
def test_cli_errors_are_one_line(argv, match, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warprnn: error:") and match in err


def test_cli_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "msd-small" in out and "data sets" in out


def test_lr_A_sets_the_transition_learning_rate_only(tmp_path):
    config = tiny(
        tmp_path, "optim.lr=1e-3", "optim.lr_A=1e-5", "optim.scheduler=cosine", "optim.min_lr=1e-4", "train.epochs=4"
    )
    data = build_dataset(config.data)
    model = build.build_model(config, data, torch.device("cpu"))
    optimizer, scheduler = build.build_optimizer(config, model)
    rest, transition = optimizer.param_groups
    assert transition["params"] == [model.A] and transition["lr"] == 1e-5 and rest["lr"] == 1e-3
    assert all(p is not model.A for p in rest["params"])
    optimizer.step()  # no gradients: no change but the order torch expects
    scheduler.step()
    assert transition["lr"] / 1e-5 == pytest.approx(rest["lr"] / 1e-3) and rest["lr"] < 1e-3  # scaled alike
    for _ in range(3):
        scheduler.step()
    assert transition["lr"] == pytest.approx(1e-6) and rest["lr"] == pytest.approx(1e-4)  # floors scaled alike
    gru = build.build_model(load_experiment(None, ["model=gru", "optim.lr_A=1e-5"]), data, torch.device("cpu"))
    assert len(build.build_optimizer(config, gru)[0].param_groups) == 1  # no A: one group


@pytest.mark.parametrize(
    "lr_A, transition, expected",
    [("scaled", "dense", "lr / D"), ("scaled", "diagonal", "lr"), ("null", "dense", "lr"), ("2e-4", "dense", "2e-4")],
)
def test_lr_A_scaled_is_lr_over_D_theta_for_a_dense_A(tmp_path, lr_A, transition, expected):
    config = tiny(tmp_path, "optim.lr=1e-3", f"optim.lr_A={lr_A}", f"warp.transition={transition}")
    model = build.build_model(config, build_dataset(config.data), torch.device("cpu"))
    rates = {"lr / D": 1e-3 / model.d_theta, "lr": 1e-3, "2e-4": 2e-4}
    assert build.build_optimizer(config, model)[0].param_groups[1]["lr"] == pytest.approx(rates[expected])


@pytest.mark.parametrize("lr_A, bound", [("scaled", "lr"), ("null", "lr D")])
def test_scaled_lr_A_bounds_the_growth_of_A_per_step_by_lr(tmp_path, lr_A, bound):
    """The steepest growth of ||A||_2: a gradient of -1 on every entry, which Adam turns into a step of
    about its rate on every entry, all in the direction of the all-ones matrix (norm D x the rate).
    Under ``scaled`` ten steps grow ||A||_2 by about 10 lr; at ``lr`` (the paper's) by about 10 lr D."""
    config = tiny(tmp_path, "optim.lr=1e-3", f"optim.lr_A={lr_A}", "optim.grad_clip=0")
    model = build.build_model(config, build_dataset(config.data), torch.device("cpu"))
    optimizer, _ = build.build_optimizer(config, model)
    for _ in range(10):
        optimizer.zero_grad()
        (-model.A.sum()).backward()
        optimizer.step()
    growth = torch.linalg.matrix_norm(model.A.detach(), ord=2).item() - 1
    expected = 10 * 1e-3 * (1 if bound == "lr" else model.d_theta)
    assert growth == pytest.approx(expected, rel=1e-3)


def test_the_paper_configs_train_A_at_the_papers_single_rate():
    for path in sorted(Path("configs").glob("*-paper.yaml")) + sorted(Path("configs").glob("uea-*.yaml")):
        assert load_experiment(path).optim.lr_A is None, path.name


def test_lr_A_zero_keeps_the_transition_fixed(tmp_path):
    result = train(tiny(tmp_path, "optim.lr_A=0", "train.epochs=2"))
    trained = load_checkpoint(result.run_dir / "checkpoints" / "last.pt")["model"]
    assert torch.equal(trained["A"], torch.eye(trained["A"].shape[0]))  # A = I from the start, never moved
    assert trained["B"].abs().sum() > 0  # while B trained


def test_the_library_logs_and_never_prints(tmp_path, capsys, caplog):
    caplog.set_level("INFO", logger="warprnn")
    train(tiny(tmp_path, "train.epochs=2"), progress=True)  # the bar draws only on a terminal
    assert capsys.readouterr() == ("", "")
    assert any(m.startswith("run folder: ") for m in caplog.messages)
    assert sum(m.startswith("epoch ") for m in caplog.messages) == 2


@pytest.mark.parametrize("flag, epochs_shown", [([], True), (["-q"], False)])
def test_cli_progress_goes_to_stderr_and_q_silences_it(tmp_path, capsys, flag, epochs_shown):
    assert main(["train", *flag, "msd-small", *TINY, "train.epochs=2", f"train.out_dir={tmp_path}"]) == 0
    out, err = capsys.readouterr()
    assert "naive last-value forecast" in out and "epoch" not in out
    assert ("epoch 2/2" in err) == epochs_shown and ("run folder:" in err) == epochs_shown


def test_tensorboard_events_hold_the_metrics_csv_rows(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    run = train(tiny(tmp_path, "train.epochs=3", "train.val_every=2", "train.tensorboard=true")).run_dir
    events = event_accumulator.EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    rows = list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))
    assert [e.step for e in events.Scalars("train_loss")] == [1, 2, 3]
    assert [e.value for e in events.Scalars("train_loss")] == pytest.approx([float(r["train_loss"]) for r in rows])
    assert [e.step for e in events.Scalars("val_mse")] == [2, 3]  # validation every 2 epochs and at the end


class FakeClock:
    """``time`` for the training loop whose ``monotonic`` advances 10 s per call (3 calls an epoch)."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        self.now += 10.0
        return self.now

    def time(self):
        return self.now


def test_time_budget_stops_at_an_epoch_boundary_scores_and_stays_stopped(tmp_path, monkeypatch):
    """With epochs of 20 s and a 1-minute budget: after epoch 4 (80 s) one more epoch would pass the
    budget by the rule (elapsed before + 2 x the epoch so far > budget), so the run stops there, validates
    that last epoch although val_every is 100, and scores the best checkpoint; resuming trains no more."""
    monkeypatch.setattr(loop, "time", FakeClock())
    result = train(tiny(tmp_path, "train.epochs=50", "train.val_every=100", "train.time_budget=1"))
    rows = list(csv.DictReader((result.run_dir / "metrics.csv").read_text().splitlines()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["time"]) for r in rows] == [20.0, 40.0, 60.0, 80.0]
    assert rows[-1]["val_mse"] != "" and all(r["val_mse"] == "" for r in rows[:-1])
    assert result.status == "finished" and "test_mse" in result.test_metrics
    last = load_checkpoint(result.run_dir / "checkpoints" / "last.pt")
    assert last["stopped"] and last["elapsed"] == 80.0
    assert load_checkpoint(result.run_dir / "checkpoints" / "best.pt")["epoch"] == 4
    resumed = train(None, run_dir=result.run_dir)
    assert load_checkpoint(resumed.run_dir / "checkpoints" / "last.pt")["epoch"] == 4
    assert resumed.test_metrics == result.test_metrics


def test_a_resumed_run_continues_the_same_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "time", FakeClock())
    first = train(tiny(tmp_path, "train.epochs=2", "train.time_budget=1"))  # 40 s of the 60
    state = load_checkpoint(first.run_dir / "checkpoints" / "last.pt")
    assert state["elapsed"] == 40.0 and not state["stopped"]


def test_the_run_folder_names_the_commands_that_trained_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/warprnn", "train", "msd small", "train.epochs=1"])
    run_dir = train(tiny(tmp_path, "train.epochs=1")).run_dir
    monkeypatch.setattr(sys, "argv", ["/venv/bin/warprnn", "train", "--resume", str(run_dir)])
    train(None, run_dir=run_dir)
    started, resumed = (run_dir / "commands.txt").read_text().splitlines()
    assert (
        started.split(" ", 1)[1] == f"start threads={torch.get_num_threads()} warprnn train 'msd small' train.epochs=1"
    )
    assert resumed.endswith(f"resume threads={torch.get_num_threads()} warprnn train --resume {run_dir}")
    assert trained_by(run_dir) == f"{started} | {resumed}" and trained_by(tmp_path) == ""


@pytest.mark.parametrize("every, writes", [(0, [1, 2, 3, 4, 5]), (25, [2, 4, 5]), (1e9, [5])])
def test_checkpoint_every_writes_last_after_that_many_seconds_and_at_the_end(tmp_path, monkeypatch, every, writes):
    monkeypatch.setattr(loop, "time", FakeClock())  # epochs of 20 s of training here
    real, written = loop.save_epoch, []

    def recording(*args):
        written.append(args[5])  # the epoch
        return real(*args)

    monkeypatch.setattr(loop, "save_epoch", recording)
    result = train(tiny(tmp_path, "train.epochs=5", f"train.checkpoint_every={every}"))
    assert written == writes and load_checkpoint(result.run_dir / "checkpoints" / "last.pt")["epoch"] == 5
    assert len((result.run_dir / "metrics.csv").read_text().splitlines()) == 1 + 5
    with pytest.raises(ValueError, match="checkpoint_every"):
        tiny(tmp_path, "train.checkpoint_every=-1")


def test_cosine_under_a_time_budget_decays_over_the_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "time", FakeClock())  # epochs of 20 s in a 2-minute budget
    extra = ("train.epochs=1000", "train.time_budget=2", "optim.scheduler=cosine", "optim.lr=1e-3", "optim.min_lr=1e-5")
    result = train(tiny(tmp_path, *extra))
    lrs = [float(r["lr"]) for r in csv.DictReader((result.run_dir / "metrics.csv").read_text().splitlines())]
    expected = [build.cosine(20 * i / 120, 1e-2) * 1e-3 for i in range(len(lrs))]  # the rate each epoch used
    assert len(lrs) > 3 and lrs == pytest.approx(expected)  # not the 1,000 epochs' decay: about 1e-3 all along


def test_patience_stops_after_that_many_validations_without_improvement(tmp_path, monkeypatch):
    real, scores = loop.evaluate, iter([1.0, 0.5, 0.7, 0.6, 0.55, 0.1])

    def worsening(*args, **kwargs):  # the best val_mse at epoch 2, never better after it
        return real(*args, **kwargs) | {"val_mse": next(scores)}

    monkeypatch.setattr(loop, "evaluate", worsening)
    result = train(tiny(tmp_path, "train.epochs=6", "train.val_every=1", "train.patience=3"))
    assert load_checkpoint(result.run_dir / "checkpoints" / "last.pt")["epoch"] == 5  # epochs 3, 4, 5: stale
    assert load_checkpoint(result.run_dir / "checkpoints" / "best.pt")["epoch"] == 2


def test_min_delta_lets_only_large_enough_improvements_restart_the_patience(tmp_path, monkeypatch):
    real, scores = loop.evaluate, iter([1.0, 0.5, 0.48, 0.47, 0.1, 0.05])

    def creeping(*args, **kwargs):  # after epoch 2 the curve creeps down by 2-4% per validation
        return real(*args, **kwargs) | {"val_mse": next(scores)}

    monkeypatch.setattr(loop, "evaluate", creeping)
    result = train(tiny(tmp_path, "train.epochs=6", "train.val_every=1", "train.patience=2", "train.min_delta=0.1"))
    assert load_checkpoint(result.run_dir / "checkpoints" / "last.pt")["epoch"] == 4  # 0.48, 0.47: not 10% below 0.5
    assert load_checkpoint(result.run_dir / "checkpoints" / "best.pt")["epoch"] == 4  # the best is the best: 0.47
    with pytest.raises(ValueError, match="train.min_delta"):
        tiny(tmp_path, "train.min_delta=1")


def test_under_the_plateau_schedule_patience_waits_for_the_floor_rates(tmp_path, monkeypatch):
    real, scores = loop.evaluate, iter(range(1, 100))

    def worsening(*args, **kwargs):  # never better after the first validation
        return real(*args, **kwargs) | {"val_mse": float(next(scores))}

    monkeypatch.setattr(loop, "evaluate", worsening)
    monkeypatch.setattr(loop, "train_epoch_with_rollbacks", lambda *args: (1.0, 0))  # a flat training loss
    plateau = ("optim.scheduler=plateau", "optim.plateau_patience=1", "optim.lr=1e-3", "optim.min_lr=2.5e-4")
    result = train(tiny(tmp_path, "train.epochs=9", "train.val_every=1", "train.patience=1", *plateau))
    last = load_checkpoint(result.run_dir / "checkpoints" / "last.pt")
    assert last["epoch"] == 5 and last["stopped_by"] == "patience"  # halved after epochs 3 and 5, not stopped at 2
    assert [float(r["lr"]) for r in report.read_history(result.run_dir)] == [1e-3] * 3 + [5e-4] * 2  # as trained
    assert converged(result) == 1.0


def converged(result) -> float:
    """``report.converged`` of a ``RunResult``."""
    run_dir = result.run_dir
    return report.converged(read_config(run_dir).train, result.stopped_by, report.read_history(run_dir))


def test_converged_tells_early_stopping_from_the_end_of_the_epochs(tmp_path):
    stopped = train(
        tiny(tmp_path / "p", "train.epochs=9", "train.val_every=1", "train.patience=1", "train.min_delta=0.99")
    )
    assert stopped.stopped_by == "patience" and converged(stopped) == 1.0
    assert train(None, run_dir=stopped.run_dir).stopped_by == "patience"  # resumed, it only scores
    assert report.collect_run(tmp_path / "p", "msd-small")[0].stopped_by == "patience"
    history, t = report.read_history(stopped.run_dir), read_config(stopped.run_dir).train
    assert report.converged(t, None, history) == 1.0  # a checkpoint without stopped_by: the count replayed
    ended = train(tiny(tmp_path / "a", "train.epochs=2", "train.patience=5"))
    assert ended.stopped_by == "epochs" and converged(ended) == 0.0
    assert report.converged(read_config(ended.run_dir).train, None, report.read_history(ended.run_dir)) == 0.0
    assert math.isnan(converged(train(tiny(tmp_path / "b", "train.epochs=1"))))  # no patience


def test_patience_counts_as_the_loop_does_from_metrics_csv_rows():
    rows = [{"val_mse": v, "val_loss": "1"} for v in ("2", "1", "", "0.99", "nan", "0.5", "0.49")]
    assert loop.Patience.of(rows, "val_mse").stale == 0  # 0.49 is better
    assert loop.Patience.of(rows, "val_mse", min_delta=0.05).stale == 1  # 0.49 is not 5% below 0.5
    assert loop.Patience.of(rows[:5], "val_mse", min_delta=0.05).stale == 2  # 0.99 and NaN after 1
    ties = [{"val_accuracy": "0.5", "val_loss": loss} for loss in ("2", "1")]  # a tie broken by the loss
    assert loop.Patience.of(ties, "val_accuracy").stale == 0 and loop.Patience.of(ties, "val_accuracy", 0.1).stale == 1


def test_ties_of_the_metric_go_to_the_lower_validation_loss(tmp_path, monkeypatch):
    """val_mae ties at epochs 2, 3 and 5: the best checkpoint is epoch 5's, whose loss is lowest, not the
    first to reach it (epoch 2); epoch 4's lower loss does not beat a better metric."""
    real, scores = loop.evaluate, iter([(0.9, 3.0), (0.5, 2.0), (0.5, 1.0), (0.6, 0.1), (0.5, 0.5)])

    def scripted(*args, **kwargs):
        mae, loss = next(scores)
        return real(*args, **kwargs) | {"val_mae": mae, "val_loss": loss}

    monkeypatch.setattr(loop, "evaluate", scripted)
    result = train(tiny(tmp_path, "train.epochs=5", "train.val_every=1", "train.metric=val_mae"))
    assert load_checkpoint(result.run_dir / "checkpoints" / "best.pt")["epoch"] == 5
    assert load_checkpoint(result.run_dir / "checkpoints" / "last.pt")["best"] == (0.5, 0.5)


def test_maximised_metrics_are_negated_and_nan_never_wins():
    assert loop.selection_key("val_accuracy", {"val_accuracy": 0.75, "val_loss": 0.4}) == (-0.75, 0.4)
    assert loop.selection_key("val_mse", {"val_mse": 0.75, "val_loss": 0.4}) == (0.75, 0.4)
    assert loop.is_better((-1.0, 0.2), (-1.0, 0.3)) and not loop.is_better((-1.0, 0.3), (-1.0, 0.3))
    assert not loop.is_better((float("nan"), 0.1), None) and not loop.is_better((float("nan"), 0.1), (1.0, 1.0))


def test_a_checkpoint_with_the_best_metric_alone_resumes(tmp_path):
    """Checkpoints written before ties were broken hold the best metric as a float; resuming one keeps it
    as the best, whatever the loss of a later tie."""
    first = train(tiny(tmp_path, "train.epochs=1", "train.metric=val_mse"))
    path = first.run_dir / "checkpoints" / "last.pt"
    state = load_checkpoint(path)
    state["best"] = float(state["best"][0])
    torch.save(state, path)
    config = tiny(tmp_path, "train.metric=val_mse")
    model = build.build_model(config, build_dataset(config.data), torch.device("cpu"))
    optimizer, scheduler = build.build_optimizer(config, model)
    restored = loop.restore(first.run_dir, model, optimizer, scheduler, "val_mse")
    assert restored.best == (state["best"], float("inf"))


def test_epoch_size_draws_that_many_distinct_sequences_afresh_each_epoch(tmp_path, monkeypatch):
    real, batches = loop.rank_loss, []

    def recording(whole, *args):
        batches.append(whole.x.flatten(1))
        return real(whole, *args)

    monkeypatch.setattr(loop, "rank_loss", recording)
    train(tiny(tmp_path, "train.epochs=2", "train.epoch_size=32"))  # of 48 training sequences, batches of 16
    assert [len(b) for b in batches] == [16] * 4
    epochs = [torch.cat(batches[:2]), torch.cat(batches[2:])]
    assert all(len(torch.unique(e, dim=0)) == 32 for e in epochs)
    assert len(torch.unique(torch.cat(epochs), dim=0)) > 32  # the second draw is not the first
    with pytest.raises(ValueError, match="epoch_size"):
        tiny(tmp_path, "train.epoch_size=0")


def test_warmup_scales_the_first_steps_and_restores_the_schedule():
    class Recorder:
        param_groups = [{"lr": 1.0}, {"lr": 0.5}]
        seen = []

        def step(self):
            self.seen.append([g["lr"] for g in self.param_groups])

    optimizer = Recorder()
    for step in range(6):
        loop.optimizer_step(optimizer, step, warmup_steps=4)
    assert optimizer.seen == [[0.25, 0.125], [0.5, 0.25], [0.75, 0.375], [1.0, 0.5], [1.0, 0.5], [1.0, 0.5]]
    assert optimizer.param_groups == [{"lr": 1.0}, {"lr": 0.5}]


def test_the_loop_counts_optimiser_steps_across_epochs(tmp_path, monkeypatch):
    steps = []
    real = loop.optimizer_step
    monkeypatch.setattr(
        loop, "optimizer_step", lambda opt, step, warmup, *rest: (steps.append(step), real(opt, step, warmup, *rest))
    )
    train(tiny(tmp_path, "train.epochs=2", "optim.warmup_steps=4"))
    assert steps == list(range(6))  # 48 sequences in batches of 16: 3 steps an epoch


@pytest.mark.parametrize(
    "argv, overrides",
    [
        (["reproduce", "real", "--seeds", "1", "data.root=d"], ["data.root=d"]),
        (["reproduce", "real", "a.b=1", "--jobs", "2", "c.d=2"], ["a.b=1", "c.d=2"]),
        (["reproduce", "transitions", "--tasks", "msd", "data.root=d"], ["data.root=d"]),
        (["train", "msd-small", "--debug", "train.epochs=1"], ["train.epochs=1"]),
    ],
)
def test_cli_overrides_may_follow_the_options(argv, overrides):
    args = parse(build_parser(), argv)
    assert args.overrides == overrides
    assert getattr(args, "tasks", None) in (None, ["msd"])


@pytest.mark.parametrize(
    "argv", [["list", "a.b=1"], ["reproduce", "real", "--bogus"], ["train", "msd-small", "--bogus"]]
)
def test_cli_rejects_stray_words(argv):
    with pytest.raises(SystemExit):
        parse(build_parser(), argv)


def test_teacher_forcing_moves_linearly_to_its_final_value_over_the_epochs_or_the_budget():
    scheduled = TrainConfig(epochs=5, autoregressive=True, teacher_forcing=1.0, teacher_forcing_final=0.0)
    assert [loop.teacher_forcing_at(scheduled, e, 0.0) for e in range(1, 6)] == [1.0, 0.75, 0.5, 0.25, 0.0]
    budget = dataclasses.replace(scheduled, time_budget=10.0, teacher_forcing=0.6)  # the clock, not the epochs
    assert [loop.teacher_forcing_at(budget, 3, s) for s in (0.0, 300.0, 900.0)] == pytest.approx([0.6, 0.3, 0.0])
    assert loop.teacher_forcing_at(TrainConfig(autoregressive=True, teacher_forcing=0.3), 4, 99.0) == 0.3
    assert loop.teacher_forcing_at(TrainConfig(), 1, 0.0) is None  # teacher-forced
    with pytest.raises(ConfigError, match="train.teacher_forcing_final: schedules autoregressive training"):
        TrainConfig(teacher_forcing_final=0.0)
    with pytest.raises(ConfigError, match=r"train.teacher_forcing_final: expected a probability in \[0, 1\]"):
        TrainConfig(autoregressive=True, teacher_forcing_final=1.5)


def test_training_feeds_each_epoch_its_scheduled_teacher_forcing_and_logs_it(tmp_path, monkeypatch):
    real, used = loop.rank_loss, []

    def recording(*args):
        used.append(args[4])  # forcing
        return real(*args)

    monkeypatch.setattr(loop, "rank_loss", recording)
    schedule = ["train.autoregressive=true", "train.teacher_forcing=1", "train.teacher_forcing_final=0"]
    result = train(tiny(tmp_path, "train.epochs=3", *schedule))
    assert sorted(set(used), reverse=True) == [1.0, 0.5, 0.0] and used == sorted(used, reverse=True)
    with open(result.run_dir / "metrics.csv") as f:
        assert [float(row["teacher_forcing"]) for row in csv.DictReader(f)] == [1.0, 0.5, 0.0]
