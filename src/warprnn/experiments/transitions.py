"""Structured transitions at an equal wall-clock budget: ``warprnn reproduce transitions``.

WARP's dense A (the paper's) against the structures of ``warp.transition`` (``diagonal``, ``block:16``,
``lowrank:16``) on MSD, LV repeat-copy and MNIST completion. Every run of a data set trains the same
shipped config under the same ``train.time_budget`` (``BUDGETS``, minutes) with the learning rate annealed
over it (``optim.scheduler=cosine``) and no early stopping (``REGIME``, whatever the config says), so every
run spends the whole budget and a cheaper transition spends it on more steps; the report gives each one's
test error, its epochs in the budget and its validation curve against wall-clock time. Seeds 0..N-1 set
``train.seed`` and ``data.seed``.
"""

from __future__ import annotations

import logging
import shlex
import time
from pathlib import Path

from ..atomic import write_text
from .report import (
    NO_TUNING,
    RunSpec,
    check_scale,
    chosen,
    collect_run,
    draw_curves,
    machine,
    mean_std,
    mean_where,
    read_history,
    run_configs,
    run_flags,
    run_folder,
)

logger = logging.getLogger(__name__)

TRANSITIONS = ("dense", "diagonal", "block:16", "lowrank:16")
DATASETS = {  # data set: (config stem, test metric, validation metric)
    "msd": ("msd", "test_mse", "val_mse"),
    "lv-copy": ("lv-copy", "test_mse", "val_mse"),
    "mnist": ("mnist", "test_mse_01", "val_mse_01"),
}
BUDGETS = {"cpu": {"msd": 5, "lv-copy": 5, "mnist": 10}, "paper": {"msd": 120, "lv-copy": 120, "mnist": 240}}
REGIME = ("optim.scheduler=cosine", "train.patience=null", "train.epochs=100000")  # the budget ends every run


def run_transitions(
    scale: str,
    seeds: int,
    out: Path,
    overrides: list[str] = (),
    datasets: list[str] | None = None,
    jobs: int = 1,
    from_runs: Path | None = None,
    continue_runs: Path | None = None,
) -> Path:
    """Trains every transition of ``TRANSITIONS`` on each of ``datasets`` (default: all of ``DATASETS``) for
    ``seeds`` seeds, ``jobs`` runs at a time, and writes ``out/transitions-SCALE.md`` with the curves in
    ``out/figures/``. ``overrides`` apply to every run after the budget's (MNIST needs ``data.root=DIR``
    unless ``$WARPRNN_DATA`` points at it). ``from_runs``: train nothing, report the run folders
    ``DATASET-TRANSITION-sSEED-*`` in that directory (``collect_run``). ``continue_runs``: train into that
    directory, keeping the runs it already holds (``continued_run``)."""
    check_scale(scale)
    datasets = chosen(datasets, DATASETS)
    out, began = Path(out), time.time()
    run_root = run_folder("transitions", scale, from_runs, continue_runs)
    keys = [(d, a, s) for d in datasets for a in TRANSITIONS for s in range(seeds)]
    specs = [
        RunSpec(
            f"{DATASETS[d][0]}-{scale}",
            (
                f"warp.transition={a}",
                f"train.time_budget={BUDGETS[scale][d]}",
                *REGIME,
                f"train.seed={s}",
                f"data.seed={s}",
                *overrides,
            ),
            run_root,
            f"{d}-{a.replace(':', '')}-s{s}",
        )
        for d, a, s in keys
    ]
    runs = (
        [collect_run(run_root, spec.name) for spec in specs]
        if from_runs
        else run_configs(specs, jobs, keep=continue_runs is not None)
    )
    rows = [row(key, run, minutes) for key, (run, minutes) in zip(keys, runs)]
    for dataset in datasets:
        seed0 = {r["transition"]: r["run_dir"] for r in rows if r["dataset"] == dataset and r["seed"] == 0}
        path = out / "figures" / f"transitions-{scale}-{dataset}.png"
        draw_curves(seed0, DATASETS[dataset][2], path, dataset)
    command = shlex.join(
        [
            "warprnn",
            "reproduce",
            "transitions",
            *overrides,
            "--scale",
            scale,
            "--seeds",
            str(seeds),
            *run_flags(jobs, from_runs, continue_runs),
        ]
        + (["--tasks", *datasets] if datasets != list(DATASETS) else [])
    )
    path = out / f"transitions-{scale}.md"
    write_text(path, report(scale, rows, datasets, command, None if from_runs else jobs, time.time() - began, run_root))
    logger.info("wrote %s", path)
    return path


def row(key: tuple[str, str, int], run, minutes: float) -> dict:
    """One run's line of the report: its data set, transition, seed, parameters, epochs, seconds per epoch
    and test metric (NaN when it diverged)."""
    dataset, transition, seed = key
    history = read_history(run.run_dir)
    epoch_seconds = float(history[-1]["time"]) / len(history) if history else float("nan")
    return dict(
        dataset=dataset,
        transition=transition,
        seed=seed,
        parameters=run.parameters,
        epochs=len(history),
        epoch_seconds=epoch_seconds,
        minutes=minutes,
        test=run.test_metrics.get(DATASETS[dataset][1], float("nan")),
        run_dir=run.run_dir,
    )


def table(rows: list[dict], dataset: str) -> str:
    """Per transition: parameters, seeds, epochs in the budget, seconds per epoch, test metric mean ± std, and
    the mean test metric and seconds per epoch against dense's; then the structures at or below dense."""
    metric = DATASETS[dataset][1]
    lines = [
        f"| transition | parameters | seeds | epochs | s / epoch | {metric.removeprefix('test_')} | / dense | "
        "s / epoch / dense |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    dense = (
        mean_where(rows, "test", dataset=dataset, transition="dense"),
        mean_where(rows, "epoch_seconds", dataset=dataset, transition="dense"),
    )
    for transition in TRANSITIONS:
        runs = [r for r in rows if r["dataset"] == dataset and r["transition"] == transition]
        if runs:
            epochs = sum(r["epochs"] for r in runs) / len(runs)
            test, seconds = (
                mean_where(rows, "test", dataset=dataset, transition=transition),
                mean_where(rows, "epoch_seconds", dataset=dataset, transition=transition),
            )
            lines.append(
                f"| `{transition}` | {runs[0]['parameters']:,} | {len(runs)} | {epochs:.0f} | {seconds:.1f} | "
                f"{mean_std([r['test'] for r in runs])} | {test / dense[0]:.2f} | {seconds / dense[1]:.2f} |"
            )
    return (
        "\n".join(lines)
        + f"\n\nAt or below dense's test {metric.removeprefix('test_')}: "
        + (", ".join(f"`{t}`" for t in matching(rows, dataset)) or "none")
        + "."
    )


def matching(rows: list[dict], dataset: str) -> list[str]:
    """The structures whose mean test metric on ``dataset`` is at most dense's (lower is better everywhere)."""
    dense = mean_where(rows, "test", dataset=dataset, transition="dense")
    return [t for t in TRANSITIONS[1:] if mean_where(rows, "test", dataset=dataset, transition=t) <= dense]


def verdict(rows: list[dict], datasets: list[str]) -> str:
    """Which structures match or beat dense at equal wall-clock on at least two of the data sets run."""
    wins = {t: [d for d in datasets if t in matching(rows, d)] for t in TRANSITIONS[1:]}
    lines = [f"- `{t}`: {', '.join(found) if found else 'none'}" for t, found in wins.items()]
    holding = [t for t, found in wins.items() if len(found) >= 2]
    goal = (
        f"holds for {', '.join(f'`{t}`' for t in holding)}"
        if holding
        else "holds for none (one seed per run is a noisy judge: see the curves)"
    )
    return (
        "Data sets on which each structure's mean test metric is at or below dense's:\n\n"
        + "\n".join(lines)
        + f"\n\nThe goal, a structure at or below dense on at least two data sets, {goal}."
    )


def report(
    scale: str,
    rows: list[dict],
    datasets: list[str],
    command: str,
    jobs: int | None,
    seconds: float,
    run_root: Path,
) -> str:
    """The markdown report: a table and a curve figure per data set, the command at the foot; its runs trained
    ``jobs`` at a time (None: runs trained by an earlier command, reported by ``--from-runs``)."""
    sections = [
        f"## {dataset}\n\nConfig `{DATASETS[dataset][0]}-{scale}`, budget {BUDGETS[scale][dataset]} min per run.\n\n"
        f"{table(rows, dataset)}\n\n![{dataset}](figures/transitions-{scale}-{dataset}.png)"
        for dataset in datasets
    ]
    body = "\n\n".join(sections + [f"## Verdict\n\n{verdict(rows, datasets)}"])
    return f"""# Structured transitions at an equal wall-clock budget ({scale} scale)

Each data set's shipped config, trained with each structure of A (`warp.transition`) under the same
`train.time_budget`, the learning rate annealed over it (cosine) and no early stopping: a cheaper transition
spends it on more epochs. `dense` is the paper's A; `diagonal`
has real eigenvalues in (0, 1); `block:16` free 16 x 16 blocks; `lowrank:16` is `I + U V^T` of rank 16 (see
`src/warprnn/transition.py`). Test metric of the best validation checkpoint, mean ± std over seeds; the
figures are the validation metric against wall-clock time (seed 0). MSD: physical scale; LV: scaled to
[-1, 1]; MNIST: the completion's MSE on [0, 1]. {NO_TUNING}

{body}

## Provenance

- command: `{command}` ({seconds / 60:.1f} min)
- machine: {machine(jobs)}
- run folders: `{run_root}` (not committed)
"""
