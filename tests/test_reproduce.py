"""`warprnn reproduce`: the DSR table formatter, the ordering summary and a tiny end-to-end reproduction."""

import csv
import dataclasses
import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import yaml

from warprnn.cli import main
from warprnn.experiments import dsr, real, transitions
from warprnn.experiments.dsr import Result, dsr_table, ordering_summary
from warprnn.experiments.report import (
    MODEL_NAMES,
    RunSpec,
    converged_cell,
    kept_runs,
    late_gain,
    mean_std,
    read_history,
    run_configs,
    run_flags,
    threads_per_run,
)
from warprnn.training import plots

TINY = [
    "data.num_train=4",
    "data.num_val=2",
    "data.num_test=4",
    "data.seq_len=24",
    "data.context=8",
    "train.epochs=1",
    "train.batch_size=4",
    "warp.root_width=4",
    "warp.root_depth=1",
]


def fake_results() -> list[Result]:
    rows = []
    for model, mse in (("warp", 1.0), ("warp-phys", 0.05), ("gru", 2.0)):
        rows += [Result("msd", model, seed, 100, mse * (1 + seed), mse, mse * (1 + seed) / 10) for seed in range(2)]
    rows += [
        Result("msd", "warp-phys-paper", 0, 2, 0.5, 0.4, 0.05),
        Result("msd", "warp-phys-paper-untrained", 0, 2, 0.01, 0.1),
    ]
    rows += [Result("lv-copy", "warp", 0, 100, 0.1, 0.2, 0.5), Result("lv-copy", "lstm", 0, 90, 0.3, 0.4, 0.6)]
    return rows


def test_mean_std_over_seeds_notes_diverged_runs():
    assert mean_std([1.0, 3.0]) == "2 ± 1.4"
    assert mean_std([2.0]) == "2 ± 0"
    assert mean_std([1.0, 3.0, math.nan]) == "2 ± 1.4 (1/3 diverged)"
    assert mean_std([math.nan]) == "diverged (1/1)"


def test_table_has_a_row_per_data_set_and_model():
    rows = fake_results()
    rows[2:4] = [
        dataclasses.replace(r, epochs=e, late_gain=0.1, converged=c)
        for r, e, c in zip(rows[2:4], (500, 701), (1.0, 0.0))
    ]
    lines = dsr_table(rows).splitlines()
    assert len(lines) == 2 + 7
    assert lines[2] == "| MSD | WARP | 100 | 2 | 1.5 ± 0.71 | 1 ± 0 | 0.15 ± 0.071 | n/a | n/a | n/a |"  # scored before
    assert lines[3].endswith(" | 600 | 10.0% | 1/2 |") and lines[6].endswith(" |  |  |  |")  # WARP-Phys; untrained
    assert lines[3].startswith("| MSD | WARP-Phys | 100 | 2 | 0.075 ± 0.035 |")
    assert lines[5].startswith("| MSD | WARP-Phys (paper) | 2 | 1 | 0.5 ± 0 |")
    assert lines[6].startswith("| MSD | WARP-Phys (paper), untrained | 2 | 1 | 0.01 ± 0 |")
    assert lines[8].startswith("| LV repeat-copy | LSTM | 90 | 1 | 0.3 ± 0 |")


def write_curve(run_dir: Path, metric: str, points: list[tuple[float, str]]) -> list[dict]:
    """A run folder whose ``metrics.csv`` holds validations ``(seconds, value)``; its rows read back."""
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{i + 1},{t},{v}\n" for i, (t, v) in enumerate(points))
    (run_dir / "metrics.csv").write_text(f"epoch,time,{metric}\n{rows}")
    return read_history(run_dir)


def test_late_gain_measures_the_last_fifth_of_the_validation_curve(tmp_path):
    """The best validation value's relative improvement after 80% of the training time: 0 for a flat curve."""
    still = write_curve(tmp_path / "a", "val_mse", [(10, "2.0"), (50, "1.0"), (80, "1.5"), (100, "0.8")])
    assert late_gain(still, "val_mse") == pytest.approx(0.2)  # best 1.0 by 80 s, 0.8 at the end
    flat = write_curve(tmp_path / "b", "val_mse", [(10, "2.0"), (50, "1.0"), (90, "1.1"), (100, "1.0")])
    assert late_gain(flat, "val_mse") == 0.0
    accuracy = write_curve(tmp_path / "c", "val_accuracy", [(10, "0.5"), (80, "0.8"), (100, "0.9")])
    assert late_gain(accuracy, "val_accuracy") == pytest.approx(0.125)  # maximised: 0.8 -> 0.9
    diverged = write_curve(tmp_path / "d", "val_mse", [(10, "nan"), (50, "nan"), (100, "0.5")])
    assert math.isnan(late_gain(diverged, "val_mse"))  # nothing finite before the last fifth
    assert math.isnan(late_gain(read_history(tmp_path / "never-validated"), "val_mse"))
    assert math.isnan(late_gain(write_curve(tmp_path / "e", "val_mse", [(5, ""), (10, "")]), "val_mse"))


def test_converged_cell_counts_the_seeds_that_early_stopping_ended():
    assert converged_cell([1.0, 0.0, 1.0]) == "2/3" and converged_cell([1.0, math.nan]) == "1/1"
    assert converged_cell([math.nan]) == "n/a"


def test_ordering_summary_reads_the_claims_off_the_means():
    text = ordering_summary(fake_results())
    assert "MSD: WARP-Phys MSE 0.075, next best WARP 1.5 (ratio 20x): the >10x claim holds." in text
    assert "MSD: WARP-Phys (paper) MSE 0.5, next best WARP 1.5 (ratio 3x): the >10x claim does not hold." in text
    assert "untrained" not in text  # an untrained WARP-Phys is neither a claim nor a rival
    assert "LV repeat-copy: lowest MSE WARP (0.1): the claim that WARP is best holds." in text
    worse = [Result("msd", "warp-phys", 0, 5, 1.0, 1.0), Result("msd", "warp", 0, 9, 2.0, 1.0)]
    assert "does not hold" in ordering_summary(worse)
    diverged = [Result("msd", "warp-phys", s, 5, math.nan, math.nan) for s in (0, 1)] + worse[1:]
    assert "MSD: WARP-Phys diverged in training in every seed" in ordering_summary(diverged)
    assert "MSD: WARP MSE" not in text  # no LSTM in the fake results: no comparison with both
    recurrent = [Result("msd-zero", m, 0, 9, mse, 1.0) for m, mse in (("warp", 2.0), ("gru", 1.0), ("lstm", 3.0))]
    assert "MSD-Zero: WARP MSE 2, GRU 1, LSTM 3: WARP is not below both recurrent baselines." in ordering_summary(
        recurrent
    )
    assert "WARP is below both" in ordering_summary(
        [dataclasses.replace(r, mse=0.5) if r.model == "warp" else r for r in recurrent]
    )


def skip_drawing(fig, path):
    """Stands in for ``plots._save``: an empty file instead of a rendered PNG (rendering is most of the time)."""
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


@pytest.mark.slow
def test_reproduce_dsr_writes_every_row_and_figure(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(plots, "_save", skip_drawing)
    assert main(["reproduce", "dsr", *TINY, "--scale", "cpu", "--seeds", "1", "--out", "results"]) == 0
    report = (tmp_path / "results" / "dsr-cpu.md").read_text()
    assert "Tuning: none." in report  # how every model was tuned
    pairs = dsr.dsr_runs()
    assert len(pairs) == 19
    for dataset, model in pairs:
        assert f"| {dsr.DSR_DATASETS[dataset]} | {MODEL_NAMES[model]} |" in report
    for dataset, model in (("MSD", "WARP-Phys"), ("MSD", "WARP-Phys (paper)"), ("SINE", "WARP-Phys")):
        assert f"| {dataset} | {model}, untrained |" in report
    assert (
        "in distribution (validation split" in report
        and f"warprnn reproduce dsr {' '.join(TINY)} --scale cpu --seeds 1 --jobs 1 --out results" in report
    )
    figures = {p.name for p in (tmp_path / "results" / "figures").iterdir()}
    assert {"dsr-cpu-msd-warp.png", "dsr-cpu-msd-warp-phys-paper.png", "dsr-cpu-sine-warp-phys.png"} <= figures
    assert "dsr-cpu-theta.png" in figures
    assert {f"dsr-cpu-{d}-curves.png" for d in dsr.DSR_DATASETS} <= figures  # validation against wall-clock
    assert "![dsr-cpu-msd-curves](figures/dsr-cpu-msd-curves.png)" in report
    assert (tmp_path / "runs").is_dir() and (tmp_path / "results" / "dsr-cpu-runs.csv").is_file()
    assert "| split | WARP MSE | WARP MAE | GRU MSE | GRU MAE | LSTM MSE | LSTM MAE |" in report  # the same OOD split
    runs = list(csv.DictReader((tmp_path / "results" / "dsr-cpu-runs.csv").read_text().splitlines()))
    finished = [r for r in runs if math.isfinite(float(r["mse"]))]
    assert finished and all(math.isfinite(float(r["mse_std"])) for r in finished)
    msd = next(r for r in finished if r["dataset"] == "msd")  # physical scale: v reaches +-40, so the two differ
    assert float(msd["mse_std"]) != pytest.approx(float(msd["mse"]))
    (first,) = (tmp_path / "runs").iterdir()  # one run retrained into the same folder, all reported again
    retrained = dsr.run_spec("sine", "gru", 0, "cpu", first, [*TINY, "train.epochs=2"])
    ((rerun, _),) = run_configs([retrained])
    argv = ["reproduce", "dsr", *TINY, "--scale", "cpu", "--seeds", "1", "--out", "again", "--from-runs", str(first)]
    assert main(argv) == 0
    again = list(csv.DictReader((tmp_path / "again" / "dsr-cpu-runs.csv").read_text().splitlines()))
    changed = [(a["dataset"], a["model"]) for a, r in zip(again, runs) if a | {"command": ""} != r | {"command": ""}]
    assert all(f"--from-runs {first}" in a["command"] for a in again)  # each row names the command that made it
    assert len(again) == len(runs) and changed == [("sine", "gru")]  # the newest folder of each run's name
    row = next(a for a in again if (a["dataset"], a["model"]) == ("sine", "gru"))
    assert float(row["mse"]) == pytest.approx(rerun.test_metrics["test_mse"])
    report = (tmp_path / "again" / "dsr-cpu.md").read_text()
    assert f"--from-runs {first}" in report and "training runs made earlier" in report


def test_report_states_each_data_sets_training_regime_from_its_command():
    zero = dsr.load_experiment("msd-zero-cpu")
    rows = [
        Result("msd", "warp", 0, 1, 1.0, 1.0, command="warprnn reproduce dsr train.patience=null data.num_train=64"),
        Result("msd-zero", "warp", 0, 1, 1.0, 1.0, command="warprnn reproduce dsr --scale cpu"),
        Result("lv-copy", "warp", 0, 1, 1.0, 1.0, command="warprnn reproduce dsr train.patience=5 train.min_delta=0.1"),
    ]
    budget = dsr.load_experiment("msd-cpu").train.time_budget
    zero_rule = dsr.regime("msd-zero", "cpu", rows[1].command)
    assert zero_rule.startswith(f"{zero.data.num_train:,} sequences, ")
    assert dsr.budgets(rows[:2], "cpu") == f"MSD 64 sequences, {budget:g} minutes; MSD-Zero {zero_rule}"
    lv = dsr.load_experiment("lv-copy-cpu")
    assert (
        dsr.budgets(rows[2:], "cpu")
        == f"LV repeat-copy {lv.data.num_train:,} sequences, 5 validations without a 10% better val_mse, "
        f"or {lv.train.time_budget:g} minutes"
    )


def test_reproduce_rejects_a_bad_seed_count(capsys):
    assert main(["reproduce", "dsr", "--seeds", "0"]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_model_overrides_turn_warp_into_warp_phys_and_baselines():
    assert dsr.model_overrides("msd", "warp-phys", "cpu") == list(dsr.PHYS_OVERRIDES["msd"])
    assert "warp.root=sine" in dsr.model_overrides("sine", "warp-phys", "cpu")
    assert dsr.model_overrides("msd", "warp-phys-paper", "cpu") == list(dsr.PAPER_PHYS_OVERRIDES["msd"])
    assert ("sine", "warp-phys-paper") not in dsr.dsr_runs()  # SINE's phase root is already the paper's design
    assert dsr.model_overrides("sine", "transformer", "cpu") == ["model=transformer", "train.autoregressive=false"]
    assert dsr.model_overrides("sine", "transformer", "paper") == ["model=transformer"]
    with pytest.raises(KeyError):
        dsr.model_overrides("lv-copy", "warp-phys", "cpu")


def test_untrained_warp_phys_is_scored_as_initialised():
    """Both WARP-Phys designs on MSD before any training step: the moments root identifies the
    oscillators from the context (A, B and phi built from the physics); the paper's oscillator forecasts
    with its mid-range parameters."""
    scores = {m: dsr.untrained_one("msd", m, 0, "cpu", TINY) for m in ("warp-phys", "warp-phys-paper")}
    paper = scores["warp-phys-paper"]
    assert (paper.model, paper.parameters) == ("warp-phys-paper-untrained", 26)
    assert all(math.isfinite(r.mse) and math.isfinite(r.mse_std) for r in scores.values())
    assert scores["warp-phys"].mse < paper.mse


def test_results_csv_has_one_row_per_run_and_reads_back(tmp_path):
    rows = [dataclasses.replace(r, command="warprnn reproduce dsr --seeds 2") for r in fake_results()]
    rows[0] = dataclasses.replace(
        rows[0], trained_by="2026-12-06T02:43:09 start threads=1 warprnn train msd-cpu", epochs=12.0, converged=1.0
    )
    dsr.write_results_csv(rows, tmp_path / "runs.csv")
    lines = (tmp_path / "runs.csv").read_text().splitlines()
    assert (
        lines[0] == "dataset,model,seed,parameters,mse,mae,mse_std,command,status,late_gain,trained_by,epochs,converged"
    )
    assert len(lines) == 1 + len(rows)
    back = dsr.read_results_csv(tmp_path / "runs.csv")
    assert [values(r) for r in back] == [values(r) for r in rows]
    assert math.isnan(back[-3].mse_std) and dsr.read_results_csv(tmp_path / "absent.csv") == []
    legacy = "dataset,model,seed,parameters,mse,mae,mse_std,command\nmsd,warp,0,9,1.5,1,0.1,c\nmsd,warp,1,9,,,,c\n"
    (tmp_path / "legacy.csv").write_text(legacy)  # written before the status column: NaN was a stopped run
    assert [r.status for r in dsr.read_results_csv(tmp_path / "legacy.csv")] == ["finished", "non-finite"]


def test_runs_stopped_by_a_non_finite_loss_but_scored_are_named():
    rows = [
        Result("msd", "warp-phys", 0, 5, 0.05, 0.1, status="non-finite"),
        Result("msd", "warp-phys", 1, 5, math.nan, math.nan, status="non-finite"),  # no score: the table says so
        Result("msd", "warp-phys", 2, 5, 0.07, 0.1, status="non-finite"),
        Result("msd", "warp", 0, 9, 1.5, 1.0),
    ]
    assert dsr.stopped_note(rows) == (
        "\n\nStopped by a non-finite training loss, and scored at the best checkpoint validated before it: "
        "MSD WARP-Phys seed(s) 0, 2."
    )
    assert dsr.stopped_note(rows[3:]) == ""


def values(result: Result) -> tuple:
    """A result's fields, NaN as None (so that two NaNs compare equal)."""
    return tuple(None if isinstance(v, float) and math.isnan(v) else v for v in dataclasses.astuple(result))


@pytest.mark.slow
def test_reproduce_dsr_tasks_keeps_the_other_data_sets(tmp_path, monkeypatch):
    """``--tasks sine`` trains SINE alone; the rows, figures and adaptation section of the other data sets
    are those an earlier command left in the output folder, and the report names both commands."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(plots, "_save", skip_drawing)
    out = tmp_path / "results"
    (out / "figures").mkdir(parents=True)
    earlier = [dataclasses.replace(r, command="warprnn reproduce dsr --seeds 2") for r in fake_results()]
    earlier.append(Result("sine", "gru", 0, 50, 9.0, 9.0, 9.0, "an old SINE run"))  # replaced: SINE is retrained
    dsr.write_results_csv(earlier, out / "dsr-cpu-runs.csv")
    (out / "dsr-cpu-adaptation.md").write_text("ADAPTATION OF AN EARLIER COMMAND")
    (out / "figures" / "dsr-cpu-msd-curves.png").touch()
    assert main(["reproduce", "dsr", *TINY, "--seeds", "1", "--tasks", "sine", "--out", "results"]) == 0
    rows = dsr.read_results_csv(out / "dsr-cpu-runs.csv")
    assert [values(r) for r in rows if r.dataset != "sine"] == [values(r) for r in earlier[:-1]]
    sine = [r for r in rows if r.dataset == "sine"]
    assert {r.model for r in sine} == {"warp", "warp-phys", "warp-phys-untrained", "gru", "lstm", "transformer"}
    assert all("--tasks sine" in r.command for r in sine) and not any(r.mse == 9.0 for r in sine)
    assert all((" start threads=" in r.trained_by) != r.model.endswith("untrained") for r in sine)
    assert all((r.epochs >= 1) != r.model.endswith("untrained") for r in sine)  # NaN: untrained
    report = (out / "dsr-cpu.md").read_text()
    assert (
        "| MSD | WARP |" in report and "| SINE | WARP-Phys |" in report and "ADAPTATION OF AN EARLIER COMMAND" in report
    )
    assert "- MSD, LV repeat-copy: `warprnn reproduce dsr --seeds 2`" in report
    assert "- SINE: `warprnn reproduce dsr" in report and "for 5 training runs\n" in report
    assert "![dsr-cpu-msd-curves](figures/dsr-cpu-msd-curves.png)" in report
    (root,) = (tmp_path / "runs").glob("dsr-cpu-*")  # again with --continue: every run there had ended
    assert (
        main(["reproduce", "dsr", *TINY, "--seeds", "1", "--tasks", "sine", "--continue", str(root), "--out", "again"])
        == 0
    )
    again = (tmp_path / "again" / "dsr-cpu.md").read_text()
    assert "for 5 training runs, 5 of them kept as earlier commands had ended them (`--continue`)" in again


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason=f"the shared data folder {SHARED} is absent")
def test_reproduce_real_by_tasks_merges_every_run_into_one_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(plots, "_save", skip_drawing)
    tiny = [
        f"data.root={SHARED}",
        "data.num_train=4",
        "data.num_val=2",
        "data.num_test=2",
        "train.epochs=1",
        "train.batch_size=4",
        "warp.root_width=4",
        "warp.root_depth=1",
    ]
    assert (
        main(["reproduce", "real", *tiny, "--seeds", "2", "--out", "results", "--tasks", "mnist", "basicmotions"]) == 0
    )
    assert (
        main(["reproduce", "real", *tiny, "--seeds", "1", "--jobs", "2", "--out", "results", "--tasks", "etth1"]) == 0
    )
    report = (tmp_path / "results" / "real-cpu.md").read_text()
    assert report.count("Tuning: none.") == 3  # no --lr-grid: each task says so
    rows = real.read_rows(tmp_path / "results" / "real-cpu-runs.csv")
    assert len(rows) == 2 * 4 + 2 * 3 + 3  # models x seeds of each task: the second command kept the first's rows
    assert all(isinstance(r[k], int) for r in rows for k in ("seed", "parameters", "epochs", "validations"))
    assert all(" start threads=" in r["trained_by"] for r in rows)  # the command line is that of this process (pytest)
    for name in ("mnist", "basicmotions", "etth1"):
        task = real.TASKS[name]
        assert f"## {name}" in report and " | ".join(k.removeprefix("test_") for k in task.metrics) in report
        for model in task.models:
            seeds = 1 if name == "etth1" else 2
            assert f"| {MODEL_NAMES[model]} | " in report and f" | {seeds} | " in report
        assert (tmp_path / "results" / "figures" / f"real-cpu-{name}-curves.png").is_file()
    assert "## mnist-class" not in report and " - |" not in report  # every metric of the tasks run was computed
    assert "![mnist](figures/real-cpu-mnist.png)" in report
    assert "--seeds 2 --jobs 1 --tasks mnist basicmotions" in report and "--seeds 1 --jobs 2 --tasks etth1" in report
    assert f"{threads_per_run(2)} torch thread(s) per training run, 2 at once" in report  # the last command's
    first = min((tmp_path / "runs").glob("real-cpu-*"))  # the first command's runs, reported again untrained
    assert (
        main(["reproduce", "real", "--seeds", "2", "--out", "again", "--tasks", "mnist", "--from-runs", str(first)])
        == 0
    )
    again = real.read_rows(tmp_path / "again" / "real-cpu-runs.csv")
    trained = [r for r in rows if r["task"] == "mnist"]
    assert [(r["model"], r["seed"], r["test_mse"], r["parameters"]) for r in again] == [
        (r["model"], r["seed"], r["test_mse"], r["parameters"]) for r in trained
    ]
    report = (tmp_path / "again" / "real-cpu.md").read_text()
    assert (
        f"--from-runs {first}" in report
        and "training runs made earlier (their threads: the runs CSV's `trained_by`, where recorded)" in report
    )
    assert main(["reproduce", "dsr", "--tasks", "mnist"]) == 2  # dsr has no tasks


def test_run_configs_in_two_processes_gives_the_runs_of_one(tmp_path):
    specs = [
        RunSpec(
            "msd-small",
            (*TINY, "train.epochs=2", "train.plots=false", "data.num_train=16", f"train.seed={seed}"),
            tmp_path / str(jobs),
            f"s{seed}",
        )
        for jobs in (1, 2)
        for seed in (0, 1)
    ]
    serial, parallel = run_configs(specs[:2], jobs=1), run_configs(specs[2:], jobs=2)
    for (one, _), (two, minutes) in zip(serial, parallel):
        assert two.run_dir.parent == tmp_path / "2" and two.run_dir.name.startswith(one.run_dir.name.split("-")[0])
        assert two.test_metrics == pytest.approx(one.test_metrics, rel=1e-4) and minutes > 0
    assert serial[0][0].test_metrics != serial[1][0].test_metrics  # the seeds differ: the order was kept
    with pytest.raises(ValueError, match="jobs"):
        run_configs(specs, jobs=0)


def test_continue_keeps_ended_runs_resumes_a_killed_one_and_trains_the_missing(tmp_path, monkeypatch):
    from warprnn.errors import InputError, TrainingInterrupted
    from warprnn.training import loop

    def spec(root, seed, *extra):
        overrides = (*TINY, "train.epochs=3", "train.plots=false", "data.num_train=16", f"train.seed={seed}", *extra)
        return RunSpec("msd-small", overrides, root, f"s{seed}")

    ((whole, _),) = run_configs([spec(tmp_path / "whole", 1)])  # the uninterrupted run to compare with
    root = tmp_path / "kept"
    ((ended, _),) = run_configs([spec(root, 0)])
    real_save = loop.save_epoch

    def killed_after_epoch_1(*args):
        real_save(*args)
        raise KeyboardInterrupt  # the session ends: last.pt of epoch 1 is on disk

    monkeypatch.setattr(loop, "save_epoch", killed_after_epoch_1)
    with pytest.raises(TrainingInterrupted):
        run_configs([spec(root, 1)])
    monkeypatch.setattr(loop, "save_epoch", real_save)
    (killed,) = root.glob("s1-*")
    assert len(read_history(killed)) == 1 and not (killed / "test_metrics.json").is_file()
    began = time.time()
    runs = run_configs([spec(root, s) for s in (0, 1, 2)], keep=True)
    assert kept_runs(runs, began) == 1  # s0 ended: kept; s1 killed (resumed), s2 missing (trained)
    assert [run.run_dir for run, _ in runs[:2]] == [ended.run_dir, killed]  # no new folder for either
    assert runs[0][0].test_metrics == ended.test_metrics  # reported, not trained again
    assert len(read_history(killed)) == 3 and runs[1][0].test_metrics == pytest.approx(whole.test_metrics)
    assert runs[2][0].run_dir.name.startswith("s2-") and runs[2][0].status == "finished"  # trained from the start
    assert sorted(p.name.split("-")[0] for p in root.iterdir()) == ["s0", "s1", "s2"]
    with pytest.raises(InputError, match="another config"):
        run_configs([spec(root, 0, "optim.lr=0.5")], keep=True)  # never a run of other settings
    argv = ["reproduce", "dsr", "--from-runs", str(root), "--continue", str(root)]
    assert main(argv) == 2
    assert run_flags(2, None, root) == ["--continue", str(root), "--jobs", "2"]  # as the report names the command


def test_targets_table_says_which_targets_hold():
    rows = [
        dict(task="mnist", model="warp", test_mse_01=0.06),
        dict(task="mnist", model="gru", test_mse_01=0.08),
        dict(task="mnist", model="lstm", test_mse_01=0.05),  # below WARP: the target fails although 0.06 <= 0.07
        dict(task="etth1", model="warp", test_mse=0.6, test_mae=0.6, test_naive_mse=1.3, test_naive_mae=0.7),
        *(dict(task="basicmotions", model="warp", test_accuracy=a) for a in (1.0, 0.975, 0.9)),  # mean 0.958
    ]
    lines = {line.split(" | ")[0].strip("| "): line for line in real.targets_table(rows).splitlines()[2:]}
    assert lines["mnist"].endswith("| 0.06 | **no** |") and lines["etth1"].endswith("| 0.6 | yes |")
    assert lines["basicmotions"].endswith("| 0.9583 | yes |") and "not run" in lines["mnist-class"]
    rows[2]["test_mse_01"] = 0.065
    assert real.targets_table(rows).splitlines()[2].endswith("| yes |")


def test_reproduce_transitions_trains_every_structure_under_one_budget(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(plots, "_save", skip_drawing)
    assert main(["reproduce", "transitions", *TINY, "--seeds", "1", "--tasks", "msd", "--out", "results"]) == 0
    report = (tmp_path / "results" / "transitions-cpu.md").read_text()
    assert "## msd" in report and "budget 5 min per run" in report and "lv-copy" not in report
    assert "Tuning: none." in report
    for transition in transitions.TRANSITIONS:
        assert f"| `{transition}` | " in report
        (run,) = (tmp_path / "runs").glob(f"transitions-cpu-*/msd-{transition.replace(':', '')}-s0-*")
        config = yaml.safe_load((run / "config.yaml").read_text())
        assert config["warp"]["transition"] == transition and config["train"]["time_budget"] == 5
        assert config["optim"]["scheduler"] == "cosine" and config["train"]["patience"] is None  # not msd-cpu's
    assert "warprnn reproduce transitions" in report and "--tasks msd" in report
    assert "## Verdict" in report and "`diagonal`: " in report
    first = min((tmp_path / "runs").glob("transitions-cpu-*"))  # the same runs, reported again untrained
    argv = ["reproduce", "transitions", "--seeds", "1", "--tasks", "msd", "--out", "again", "--from-runs", str(first)]
    assert main(argv) == 0
    again = (tmp_path / "again" / "transitions-cpu.md").read_text()
    table = report[report.index("## msd") : report.index("## Verdict")]
    assert table == again[again.index("## msd") : again.index("## Verdict")]
    assert f"--from-runs {first}" in again
    assert main([*argv[:-1], str(tmp_path)]) == 2  # no run folders there: a one-line error


def test_transitions_verdict_names_the_structures_at_or_below_dense():
    rows = [
        dict(dataset=d, transition=t, seed=0, parameters=1, epochs=1, epoch_seconds=s, test=v)
        for d, values in (("msd", (1.0, 0.9, 1.2, 1.0)), ("lv-copy", (1.0, 1.1, 1.3, 0.5)), ("mnist", (1.0,) * 4))
        for t, v, s in zip(transitions.TRANSITIONS, values, (2.0, 1.0, 1.0, 1.0))
    ]
    assert transitions.matching(rows, "msd") == ["diagonal", "lowrank:16"]
    text = transitions.verdict(rows, ["msd", "lv-copy", "mnist"])
    assert "- `diagonal`: msd, mnist" in text and "- `block:16`: mnist" in text
    assert "holds for `diagonal`, `lowrank:16`" in text
    assert "| 0.90 | 0.50 |" in transitions.table(rows, "msd")  # test and seconds per epoch against dense's


def test_completion_tables_say_which_models_beat_the_mean_image():
    every = dict.fromkeys(real.COMPLETION + real.TASKS["etth1"].metrics, 0.5)
    rows = [
        dict(task="mnist", model=m, seed=0, parameters=10, epochs=1, minutes=1.0)
        | every
        | dict(test_mse_01=v, test_mean_image_mse_01=0.08)
        for m, v in (("warp", 0.07), ("gru", 0.09))
    ]
    assert real.task_table("mnist", rows).endswith("scores `mse_01` 0.08 on the completion; below it: WARP.")
    rows[0]["late_gain"] = 0.0123  # the WARP row; the GRU's was scored before late gains were kept
    table = real.task_table("mnist", rows).splitlines()
    assert table[0].startswith("| model | parameters | seeds | epochs | minutes | late gain | mse |")
    assert table[2].startswith("| WARP | 10 | 1 | 1 | 1.0 | 1.2% | ") and "| 1.0 | n/a |" in table[3]
    rows[0]["test_mse_01"] = 0.1
    assert real.task_table("mnist", rows).endswith("below it: no model.")
    assert "mean of the training images" not in real.task_table("etth1", [dict(rows[0], task="etth1")])


def test_tables_name_the_runs_whose_validation_went_non_finite():
    rows = []
    for model, values in (("warp", ["1.5", "nan", "nan"]), ("gru", ["1.4", "1.2", "1.1"])):
        history = [{"epoch": str(i), "val_mse": v} for i, v in enumerate(values)] + [{"epoch": "3", "val_mse": ""}]
        rows.append(dict(task="etth1", model=model, seed=0) | real.validation_counts(history, "val_mse"))
    assert real.non_finite_validations("etth1", [dict(rows[0], val_non_finite=math.nan)]) == ""  # not counted
    assert real.non_finite_validations("etth1", rows) == (
        "\n\nWARP seed 0: `val_mse` not finite at 2 of 3 validations (its forecast diverged; the best checkpoint "
        "is among the others)."
    )


def test_warp_rows_measure_how_far_training_moved_a():
    """``a_drift``: ||A - I||_2, 0 at WARP's initial A = I, NaN for a baseline; the table says it."""
    import torch

    from warprnn import WARP, WarpConfig
    from warprnn.baselines import build_model

    config = WarpConfig(in_channels=1, root_width=4, root_depth=1)
    warp = WARP(config)
    assert real.a_drift(warp) == 0.0
    with torch.no_grad():
        warp.A[0, 1] += 0.5  # a single entry: the spectral norm of A - I is that entry
    assert real.a_drift(warp) == pytest.approx(0.5)
    assert math.isnan(real.a_drift(build_model("gru", config)))
    rows = [
        dict(task="etth1", model="warp", seed=s, parameters=1, epochs=1, minutes=1.0, a_drift=d)
        for s, d in ((0, 0.1), (1, 0.3))
    ]
    assert "`||A - I||_2` 0.2 ± 0.14 " in real.task_table(
        "etth1", [r | dict.fromkeys(real.TASKS["etth1"].metrics, 1.0) for r in rows]
    )


def test_curves_go_on_a_log_axis_when_they_span_decades():
    assert plots.curve_scale({"WARP": [(0.1, 450.0), (9.0, 0.6)], "GRU": [(0.1, 14.0)]}) == "log"
    assert plots.curve_scale({"WARP": [(0.1, 5.0), (9.0, 0.6)]}) == "linear"
    assert plots.curve_scale({"WARP": [(0.1, 5.0), (9.0, -0.6)]}) == "linear"  # a log axis cannot show it


def test_reports_name_the_choices_of_the_runs_that_are_not_the_papers():
    etth1 = real.choices(dsr.load_experiment("etth1-cpu"))
    assert "`warp.instance_norm=scale`" in etth1 and "`train.feed_context`" in etth1
    assert real.choices(dsr.load_experiment("msd-cpu")) == "none"
    assert "`warp.class_pool=mean`" in real.readout("mnist-class", "cpu", [])  # no rows: the shipped config's
    rows = [dict(task="etth1", model="warp", choices="none"), dict(task="etth1", model="gru", choices="x")]
    assert real.readout("etth1", "cpu", rows) == ""  # the runs' own choices, not today's config
    rows[0]["choices"] = "y"
    assert "choices, not the paper's: y (README)" in real.readout("etth1", "cpu", rows)
