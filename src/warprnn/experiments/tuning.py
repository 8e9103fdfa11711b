"""Equal tuning for every model of a comparison (``warprnn reproduce real --lr-grid 0.3 1 3``).

Each model trains seed 0 once per factor of the grid, with its config's learning rates multiplied by it
(``optim.lr`` and, where the config sets one, WARP's ``optim.lr_A``: the ratio between them is the
config's), under the same budget as the reported runs. Each model's factor is the one whose best
validation is best (``loop.selection_key``: the validation metric, ties to the lower validation loss);
the test split plays no part. That trial is the model's seed-0 run, and its other seeds train with the
same factor. Every trial is recorded (``ROW_FIELDS``), so a report shows what each model was offered and
what it chose.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..training import ExperimentConfig
from ..training.loop import selection_key
from .report import MODEL_NAMES, NO_TUNING, read_history

ROW_FIELDS = ("task", "model", "factor", "lr", "lr_A", "best_val", "best_val_loss", "chosen", "run_dir")


def check_factors(factors: list[float]) -> list[float]:
    """The ``--lr-grid`` factors, each checked to be a positive finite number, without repeats."""
    bad = [f for f in factors if not (math.isfinite(f) and f > 0)]
    if bad or len(set(factors)) != len(factors):
        raise ValueError(f"--lr-grid: expected distinct positive factors of the configs' learning rates, got {factors}")
    return list(factors)


def lr_overrides(config: ExperimentConfig, factor: float) -> tuple[str, ...]:
    """The overrides that multiply ``config``'s learning rates by ``factor``: ``optim.lr``, and ``optim.lr_A``
    where the config gives A a rate of its own as a number."""
    optim = config.optim
    words = [f"optim.lr={optim.lr * factor:.4g}"]
    if isinstance(optim.lr_A, float):
        words.append(f"optim.lr_A={optim.lr_A * factor:.4g}")
    return tuple(words)


def trial_name(name: str, model: str, factor: float) -> str:
    """The run folder name of one trial: seed 0 of ``model`` on task ``name`` at ``factor``."""
    return f"{name}-{model}-s0-lr{factor:g}"


def best_validation(history: list[dict], metric: str) -> tuple[float, float]:
    """A run's best validation, as ``(metric, val_loss)`` (NaN, NaN where none was finite): the one its best
    checkpoint was chosen at (``loop.selection_key``)."""
    rows = [
        {metric: float(r[metric]), "val_loss": float(r.get("val_loss") or math.nan)}
        for r in history
        if r.get(metric) and math.isfinite(float(r[metric]))
    ]
    if not rows:
        return math.nan, math.nan
    best = min(rows, key=lambda r: selection_key(metric, r))
    return best[metric], best["val_loss"]


def choose(trials: list[dict], metric: str) -> float:
    """The factor of the best of one model's ``trials`` (rows with ``factor``, ``best_val``,
    ``best_val_loss``); a trial with no finite validation is never chosen unless all are so."""

    def key(row: dict) -> tuple[float, float]:
        if not math.isfinite(row["best_val"]):
            return math.inf, math.inf
        loss = row["best_val_loss"]
        return selection_key(metric, {metric: row["best_val"], "val_loss": loss if math.isfinite(loss) else math.inf})

    return min(trials, key=key)["factor"]


def trial_row(task: str, model: str, factor: float, config: ExperimentConfig, run_dir: Path, metric: str) -> dict:
    """One ``ROW_FIELDS`` row of a trial (``chosen`` left False; ``mark_chosen`` sets it)."""
    value, loss = best_validation(read_history(run_dir), metric)
    lr_A = config.optim.lr_A
    return dict(
        task=task,
        model=model,
        factor=factor,
        lr=config.optim.lr * factor,
        lr_A=lr_A * factor if isinstance(lr_A, float) else math.nan,
        best_val=value,
        best_val_loss=loss,
        chosen=False,
        run_dir=str(run_dir),
    )


def mark_chosen(rows: list[dict], metric: str) -> dict[str, float]:
    """Sets ``chosen`` on each model's best trial among ``rows``; returns the factor chosen per model."""
    picked = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        picked[model] = choose(mine, metric)
        for row in mine:
            row["chosen"] = row["factor"] == picked[model]
    return picked


def tuning_text(rows: list[dict], metric: str) -> str:
    """The paragraph of a report that says how its models were tuned: the grid and a table of every trial's
    best validation ``metric`` (the chosen one in bold), or, without ``rows``, that no model was."""
    if not rows:
        return NO_TUNING
    factors = sorted(dict.fromkeys(float(r["factor"]) for r in rows))
    lines = [
        f"Tuning: every model was offered the same grid, its config's learning rates times "
        f"{', '.join(f'{f:g}' for f in factors)} (`--lr-grid`; WARP's `optim.lr_A` scaled with `optim.lr`), "
        f"seed 0, the same budget as the runs above; each model's factor is the one with the best validation "
        f"`{metric}` (ties to the lower validation loss), never a test figure. Best validation `{metric}` per trial "
        f"(chosen in bold; learning rate in brackets):",
        "",
        "| model | " + " | ".join(f"x{f:g}" for f in factors) + " |",
        "|---|" + "---|" * len(factors),
    ]
    for model in dict.fromkeys(r["model"] for r in rows):
        cells = []
        for factor in factors:
            found = [r for r in rows if r["model"] == model and float(r["factor"]) == factor]
            if not found:
                cells.append("")
                continue
            row = found[0]
            cell = f"{row['best_val']:.4g} ({row['lr']:.2g})"
            cells.append(f"**{cell}**" if str(row["chosen"]) in ("True", "1", "true") else cell)
        lines.append(f"| {MODEL_NAMES.get(model, model)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
