"""What every experiment shares: the scales, the models' display names, training shipped configs (one at
a time or ``jobs`` at once, ``run_configs``), and the pieces of a markdown report (mean ± std, the
machine, validation curves against wall-clock time)."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import multiprocessing
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from ..allocator import keep_freed_memory
from ..baselines import count_parameters
from ..errors import InputError
from ..training import (
    ExperimentConfig,
    RunEnding,
    RunResult,
    TrainConfig,
    load_experiment,
    load_run,
    plots,
    run_ending,
    train,
)
from ..training.loop import Patience, metric_sign
from ..training.rundir import checkpoint_path, read_config

SCALES = ("cpu", "paper")
MODEL_NAMES = {
    "warp": "WARP",
    "warp-phys": "WARP-Phys",
    "warp-phys-paper": "WARP-Phys (paper)",
    "gru": "GRU",
    "lstm": "LSTM",
    "transformer": "Transformer",
    "s4d": "S4D",
}


def check_scale(scale: str) -> None:
    """Raises unless ``scale`` is one of ``SCALES``."""
    if scale not in SCALES:
        raise ValueError(f"scale: expected one of {list(SCALES)}, got {scale!r}")


def chosen(names: list[str] | None, known) -> list[str]:
    """``--tasks``: the names given (all of ``known`` when none), each checked to be one of ``known``."""
    names = list(known) if not names else list(names)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"--tasks: unknown {unknown}; expected some of {list(known)}")
    return names


def mean_std(values: list[float]) -> str:
    """``mean ± std`` of the finite values (sample std; 0 for one value), noting how many diverged."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return f"diverged ({len(values)}/{len(values)})"
    std = statistics.stdev(finite) if len(finite) > 1 else 0.0
    text = f"{statistics.fmean(finite):.3g} ± {std:.2g}"
    return text if len(finite) == len(values) else f"{text} ({len(values) - len(finite)}/{len(values)} diverged)"


def machine(jobs: int | None) -> str:
    """The machine a report was made on, in words, with the torch threads of each of its training runs when
    ``jobs`` of them ran at once (``run_configs``); None: the report's runs were trained earlier."""
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    threads = (
        f"{threads_per_run(jobs)} torch thread(s) per training run, {jobs} at once"
        if jobs
        else "training runs made earlier (their threads: the runs CSV's `trained_by`, where recorded)"
    )
    return (
        f"{platform.platform()}, {os.cpu_count()} CPU cores, {threads}, "
        f"{device}, Python {platform.python_version()}, torch {torch.__version__}"
    )


def mean_where(rows: list[dict], key: str, **match) -> float:
    """The mean of ``key`` over the ``rows`` whose fields equal ``match`` (NaN: no such row, or one has NaN)."""
    values = [r.get(key, math.nan) for r in rows if all(r[field] == value for field, value in match.items())]
    return sum(values) / len(values) if values else math.nan


def threads_per_run(jobs: int) -> int:
    """The torch threads each of ``jobs`` training runs at once gets: an equal share of this process's."""
    return max(1, torch.get_num_threads() // jobs)


def run_folder(experiment: str, scale: str, from_runs: Path | None, continue_runs: Path | None) -> Path:
    """The folder of a reproduce command's runs: that of ``--from-runs`` or ``--continue``, else a new one."""
    given = from_runs or continue_runs
    return Path(given) if given else Path("runs") / f"{experiment}-{scale}-{time.strftime('%Y%m%d-%H%M%S')}"


def run_flags(jobs: int, from_runs: Path | None, continue_runs: Path | None) -> list[str]:
    """The options of a reproduce command that say where its runs came from, as its report records them."""
    if from_runs:
        return ["--from-runs", str(from_runs)]
    return [*(["--continue", str(continue_runs)] if continue_runs else []), "--jobs", str(jobs)]


def run_config(config_name: str, overrides: list[str], run_root: Path, name: str) -> RunResult:
    """Trains the shipped config ``config_name`` with ``overrides`` into ``run_root/name-*``."""
    return train(spec_config(config_name, overrides, run_root, name))


def spec_config(config_name: str, overrides: list[str], run_root: Path, name: str) -> ExperimentConfig:
    """The ``ExperimentConfig`` that ``run_config`` trains."""
    return load_experiment(config_name, [*overrides, f"train.out_dir={run_root}", f"train.name={name}"])


LATE = 0.2
"""The last share of a run's training time over which ``late_gain`` measures the validation curve."""


def read_history(run_dir: Path) -> list[dict]:
    """The rows of a run's ``metrics.csv`` (none when the run stopped before writing one)."""
    path = Path(run_dir) / "metrics.csv"
    return list(csv.DictReader(path.read_text().splitlines())) if path.is_file() else []


def late_gain(history: list[dict], metric: str, late: float = LATE) -> float:
    """How much the best validation ``metric`` of a run improved over the last ``late`` share of its
    training time, relative to the best before it: 0 where the curve was flat by then (converged, or
    stuck), 0.05 where the best still improved by 5%. ``history``: the run's ``metrics.csv`` rows
    (``read_history``); NaN when no finite validation came before that share."""
    points = [(float(r["time"]), float(r[metric])) for r in history if r.get(metric)]
    sign = metric_sign(metric)  # minimised form: smaller is better
    finite = [(t, sign * v) for t, v in points if math.isfinite(v)]
    if not finite:
        return math.nan
    cut = (1 - late) * points[-1][0]
    before = [v for t, v in finite if t <= cut]
    if not before or min(before) == 0:
        return math.nan
    best_before, best = min(before), min(v for _, v in finite)
    return (best_before - best) / abs(best_before)


def converged(train: TrainConfig, stopped_by: str | None, history: list[dict]) -> float:
    """1.0 where early stopping (``train.patience``) ended a run: its validation curve flat, under the
    plateau schedule at the floor rates; 0.0 where its time budget or epochs ended it first; NaN without
    ``train.patience``. ``stopped_by``: what ended it (``RunResult.stopped_by``); a run whose last checkpoint
    was written before that was kept (None) stopped early where ``loop.Patience`` over its ``history``
    reached the patience (the rule then)."""
    if train.patience is None:
        return math.nan
    if stopped_by is None:
        stale = Patience.of(history, train.metric, train.min_delta).stale
        stopped_by = "patience" if stale >= train.patience else ""
    return float(stopped_by == "patience")


def known(values: list[float]) -> list[float]:
    """The finite ``values`` of a table cell's seeds (NaN: not known, e.g. rows written before it was kept)."""
    return [v for v in values if math.isfinite(v)]


def converged_cell(flags: list[float]) -> str:
    """A table cell of ``converged`` values (one a seed): how many of the known ones are 1, as "2/3", or n/a
    where none is known."""
    flags = known(flags)
    return f"{sum(flags):.0f}/{len(flags)}" if flags else "n/a"


def mean_cell(values: list[float], form: str) -> str:
    """A table cell of per-seed ``values``: the mean of the known ones in ``form`` (``"{:.1f}"``), or n/a
    where none is known."""
    values = known(values)
    return form.format(statistics.fmean(values)) if values else "n/a"


def gain_cell(gains: list[float]) -> str:
    """A table cell of ``late_gain`` values (one a seed): their mean in percent (``mean_cell``)."""
    return mean_cell([100 * g for g in gains], "{:.1f}%")


GAIN_NOTE = (
    "Column *late gain*: how much each run's best validation value improved over the last fifth of its "
    "training time, relative, averaged over seeds (`report.late_gain`): near 0% the curve was flat by then, "
    "converged or stuck; a few percent or more, the run was still learning when its budget ended. Under a "
    "cosine schedule over the budget part of that gain is the annealing's, which any budget ends with: "
    "whether a longer budget helps is measured by training with one."
)


NO_TUNING = (
    "Tuning: none. Every model trains at its config's learning rates (`optim.lr`, the same for every model; "
    "WARP's A at `optim.lr_A`), set once in the config and shared by all; no model was offered a grid "
    "(`warprnn reproduce real --lr-grid` offers one), so a model whose best rate differs from the config's "
    "is at a disadvantage, and no choice was made on a test figure."
)
"""How a report whose models were not tuned says so."""


def draw_curves(runs: dict[str, Path], metric: str, path: Path, title: str) -> None:
    """Validation ``metric`` against wall-clock minutes of training, one line per run folder of ``runs``
    (label: folder), read from each run's ``metrics.csv``."""
    curves = {}
    for label, run_dir in runs.items():
        curves[label] = [(float(r["time"]) / 60, float(r[metric])) for r in read_history(run_dir) if r.get(metric)]
    plots.plot_curves(curves, path, xlabel="wall-clock minutes", ylabel=metric, title=title)


@dataclass(frozen=True)
class RunSpec:
    """One training run of an experiment: the shipped config ``config_name`` with ``overrides``, written to
    ``run_root/name-*``."""

    config_name: str
    overrides: tuple[str, ...]
    run_root: Path
    name: str


def timed_run(spec: RunSpec) -> tuple[RunResult, float]:
    """Trains ``spec``; returns its result and the wall-clock minutes it took."""
    began = time.time()
    return run_config(spec.config_name, list(spec.overrides), spec.run_root, spec.name), (time.time() - began) / 60


def continued_run(spec: RunSpec) -> tuple[RunResult, float]:
    """``timed_run``, keeping what ``spec.run_root`` already holds of the run (``--continue``): a run that
    ended there is reported as it is, one that was killed resumes from its last checkpoint (its time
    budget goes on), and only a run with no checkpoint there trains from the start. The minutes are
    those of the whole run.

    Raises:
        InputError: the run there was trained with another config than ``spec``'s.
    """
    run_dir = newest_run(spec.run_root, spec.name)
    ending = run_ending(run_dir) if run_dir is not None else None
    if ending is None or not (ending.ended or checkpoint_path(run_dir, "last").is_file()):
        return timed_run(spec)
    expected = spec_config(spec.config_name, list(spec.overrides), spec.run_root, spec.name)
    saved = read_config(run_dir)  # the folder may have been named otherwise (relative, absolute) when it trained
    if dataclasses.replace(saved, train=dataclasses.replace(saved.train, out_dir=expected.train.out_dir)) != expected:
        raise InputError(f"{run_dir}: trained with another config than {spec.config_name} {list(spec.overrides)}")
    if not ending.ended:
        train(None, run_dir=run_dir)
        ending = run_ending(run_dir)
    return folder_result(run_dir, ending)


def kept_runs(runs: list[tuple[RunResult, float]], began: float) -> int:
    """How many of ``runs`` (``run_configs``'s) a command begun at time ``began`` kept as they were
    (``continued_run``): those whose ``metrics.csv`` it did not write."""
    return sum((run.run_dir / "metrics.csv").stat().st_mtime < began for run, _ in runs)


def newest_run(run_root: Path, name: str) -> Path | None:
    """The newest run folder ``run_root/name-STAMP`` (its start time) with a ``metrics.csv`` (None: there is
    none); a folder of a longer name (``name-lr0.3-STAMP``) is another run's."""
    found = sorted(d for d in Path(run_root).glob(f"{name}-[0-9]*") if (d / "metrics.csv").is_file())
    return found[-1] if found else None


def collect_run(run_root: Path, name: str) -> tuple[RunResult, float]:
    """The result of a run trained earlier, ``newest_run(run_root, name)``, as ``timed_run`` returns it (its
    minutes those of training, validation included)."""
    run_dir = newest_run(run_root, name)
    if run_dir is None:
        raise InputError(f"{run_root}: no run folder {name}-* with a metrics.csv")
    return folder_result(run_dir, run_ending(run_dir))


def folder_result(run_dir: Path, ending: RunEnding) -> tuple[RunResult, float]:
    """``collect_run``'s result of the run folder ``run_dir``, which ended as ``ending``."""
    config, _, net, _ = load_run(run_dir)
    scores = run_dir / "test_metrics.json"
    test = json.loads(scores.read_text()) if scores.is_file() else {}
    history = read_history(run_dir)
    result = RunResult(
        run_dir=run_dir,
        model=config.model,
        parameters=count_parameters(net),
        status=ending.status,
        rollbacks=ending.rollbacks,
        test_metrics=test,
        plots=[],
        stopped_by=ending.stopped_by,
    )
    return result, float(history[-1]["time"]) / 60 if history else 0.0


LOGGERS = ("warprnn", "warprnn.training")


def worker_setup(threads: int, levels: tuple[int, ...]) -> None:
    """A worker process of ``run_configs``: ``threads`` torch threads, and the parent's levels of ``LOGGERS``
    with their messages on stderr, and freed memory kept for reuse (``warprnn.allocator``)."""
    keep_freed_memory()
    torch.set_num_threads(threads)
    for name, level in zip(LOGGERS, levels):
        logging.getLogger(name).setLevel(level)
    logging.getLogger("warprnn").addHandler(logging.StreamHandler())


def run_configs(specs: list[RunSpec], jobs: int = 1, keep: bool = False) -> list[tuple[RunResult, float]]:
    """Trains every run of ``specs``, ``jobs`` at a time (``jobs`` > 1: worker processes sharing the
    parent's torch threads, one each on a 2-core machine with 2 jobs, so that runs under the same
    ``train.time_budget`` get the same compute); ``keep``: what the run folders already hold of them is
    kept (``continued_run``). Returns ``(result, minutes)`` in the order of ``specs``."""
    if jobs < 1:
        raise ValueError(f"jobs: expected an integer >= 1, got {jobs}")
    work = continued_run if keep else timed_run
    if jobs == 1:
        return [work(spec) for spec in specs]
    threads = threads_per_run(jobs)
    levels = tuple(logging.getLogger(name).level for name in LOGGERS)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=worker_setup, initargs=(threads, levels)) as pool:
        return list(pool.map(work, specs))
