"""Equal tuning for every model of a comparison (``reproduce real --lr-grid``): each model's factor is chosen
on validation, never on test, and every trial is recorded."""

import math
from pathlib import Path

import pytest

from test_reproduce import skip_drawing
from warprnn.cli import main
from warprnn.experiments import real, tuning
from warprnn.training import load_experiment, plots

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_lr_overrides_scale_lr_and_a_numeric_lr_A_together():
    warp = load_experiment("mnist-class-cpu", [])
    assert tuning.lr_overrides(warp, 3.0) == ("optim.lr=0.003", "optim.lr_A=0.0009")
    gru = load_experiment("mnist-class-cpu", ["model=gru"])
    assert tuning.lr_overrides(gru, 0.3) == ("optim.lr=0.0003", "optim.lr_A=9e-05")  # a baseline has no A: unread
    scaled = load_experiment("basicmotions-cpu", [])  # lr_A 'scaled': follows optim.lr by itself
    assert tuning.lr_overrides(scaled, 3.0) == ("optim.lr=0.003",)


def history(*rows):
    return [{"val_accuracy": str(a), "val_loss": str(loss), "time": "1"} for a, loss in rows]


def test_best_validation_is_the_checkpoint_rule_ties_to_the_lower_loss():
    assert tuning.best_validation(history((0.5, 1.0), (0.75, 0.9), (0.75, 0.4), (0.6, 0.1)), "val_accuracy") == (
        0.75,
        0.4,
    )
    assert all(math.isnan(v) for v in tuning.best_validation(history(("nan", 1.0)), "val_accuracy"))
    mse = [{"val_mse": "0.3", "val_loss": "1"}, {"val_mse": "0.2", "val_loss": "2"}]
    assert tuning.best_validation(mse, "val_mse") == (0.2, 2.0)  # minimised


def test_choose_takes_the_best_validation_and_never_a_diverged_trial():
    trials = [
        dict(factor=0.3, best_val=0.8, best_val_loss=0.5),
        dict(factor=1.0, best_val=0.9, best_val_loss=0.7),
        dict(factor=3.0, best_val=0.9, best_val_loss=0.6),
        dict(factor=10.0, best_val=math.nan, best_val_loss=math.nan),
    ]
    assert tuning.choose(trials, "val_accuracy") == 3.0
    assert tuning.choose(trials, "val_mse") == 0.3  # smaller is better there
    assert tuning.choose(trials[3:], "val_mse") == 10.0  # nothing else to choose


@pytest.mark.parametrize("factors", [[1.0, 1.0], [0.0, 1.0], [-1.0], [math.inf]])
def test_bad_grids_are_refused(factors):
    with pytest.raises(ValueError, match="--lr-grid"):
        tuning.check_factors(factors)


def test_lr_grid_is_refused_where_it_is_not_read():
    assert main(["reproduce", "dsr", "--lr-grid", "1", "3"]) == 2


def test_a_report_without_trials_says_no_model_was_tuned():
    assert tuning.tuning_text([], "val_mse").startswith("Tuning: none.")


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the shared data folder {SHARED} is absent")
def test_reproduce_real_with_a_grid_keeps_each_models_best_trial_as_seed_0(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(plots, "_save", skip_drawing)
    tiny = [f"data.root={SHARED}", "train.epochs=2", "warp.root_width=4"]
    grid = ["--lr-grid", "0.5", "2"]
    assert main(["reproduce", "real", *tiny, "--seeds", "2", *grid, "--out", "r", "--tasks", "basicmotions"]) == 0
    trials = real.read_rows(tmp_path / "r" / "real-cpu-tuning.csv")
    rows = real.read_rows(tmp_path / "r" / "real-cpu-runs.csv")
    assert len(trials) == 3 * 2 and len(rows) == 3 * 2  # models x factors; models x seeds
    for model in real.TASKS["basicmotions"].models:
        mine = [t for t in trials if t["model"] == model]
        (chosen,) = [t for t in mine if t["chosen"] == "True"]
        assert chosen["factor"] == tuning.choose(mine, "val_accuracy")  # on validation
        seed0, seed1 = sorted((r for r in rows if r["model"] == model), key=lambda r: r["seed"])
        assert seed0["run_dir"] == chosen["run_dir"] and seed1["lr_factor"] == chosen["factor"]
        config = load_experiment(Path(seed1["run_dir"]) / "config.yaml", [])
        assert config.optim.lr == pytest.approx(1e-3 * chosen["factor"])  # the other seeds train at it
    report = (tmp_path / "r" / "real-cpu.md").read_text()
    assert "Tuning: every model was offered the same grid" in report and "| model | x0.5 | x2 |" in report
    assert "--lr-grid 0.5 2" in report
    first = next((tmp_path / "runs").glob("real-cpu-*"))  # reported again from its folders, choosing the same
    again = ["reproduce", "real", *grid, "--seeds", "2", "--out", "a", "--tasks", "basicmotions", "--from-runs"]
    assert main([*again, str(first)]) == 0
    fields = ("model", "factor", "lr", "best_val", "best_val_loss", "chosen")
    again = real.read_rows(tmp_path / "a" / "real-cpu-tuning.csv")
    assert [[t[k] for k in fields] for t in again] == [[t[k] for k in fields] for t in trials]
