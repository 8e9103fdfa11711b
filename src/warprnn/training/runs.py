"""What a run folder gives once trained: the best checkpoint's test metrics and figures, the model
loaded back, and its forecasts or class probabilities (``warprnn evaluate`` and ``warprnn predict``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..checks import check_memory
from ..data import DataCard, SequenceData, StandardScaler, build_dataset, read_card
from ..data.benchmarks import prepare_cases
from ..errors import InputError
from . import plots, rundir
from .build import build_model, loading_device
from .config import ExperimentConfig
from .evaluation import evaluate, forecast, naive_metrics


def finish(
    run_dir: Path, config: ExperimentConfig, data: SequenceData, model, device, history: list[dict]
) -> tuple[dict, list[Path]]:
    """Evaluates the best checkpoint on the test split and draws the run's figures (``train.plots``).

    Returns:
        the test metrics and the figures' paths.
    """
    test = score_best(run_dir, config, data, model, device)
    t = config.train
    return test, draw_plots(run_dir, model, data, device, history, t.batch_size, t.metric) if t.plots else []


def score_best(run_dir: Path, config: ExperimentConfig, data: SequenceData, model, device) -> dict:
    """Loads the best checkpoint into ``model``, writes and returns its test metrics."""
    rundir.load_weights(model, rundir.checkpoint_path(run_dir, "best"))
    t = config.train
    test = evaluate(model, data.test, data, t.loss, t.batch_size, device, t.mode, "test_")
    if data.task == "forecast":
        test.update(naive_metrics(data.test, data, "test_"))
    rundir.write_test_metrics(run_dir, test)
    return test


@dataclass(frozen=True)
class RunEnding:
    """How a run folder's training ended, read from its last checkpoint and test metrics (``run_ending``).

    Attributes:
        status: ``finished``, or ``non-finite`` for a run that a NaN or Inf training loss stopped (its test
            metrics, if any, are those of the best checkpoint validated before it). A run with no test
            metrics at all (stopped so before any validation, by an earlier version, or not finished) also
            reads ``non-finite``.
        ended: the run finished or stopped (by a NaN or Inf loss, the time budget or patience), as opposed
            to killed before its end: ``train(None, run_dir)`` resumes that from its last checkpoint.
        rollbacks: how many times a NaN or Inf loss sent it back to earlier weights (``train.rollbacks``).
        stopped_by: what ended it: ``patience`` (early stopping), ``time budget``, ``epochs`` (None: it did
            not end, a NaN or Inf loss ended it, or it was trained before this was kept).
    """

    status: str
    ended: bool
    rollbacks: int
    stopped_by: str | None = None


def run_ending(run_dir: Path) -> RunEnding:
    """The ``RunEnding`` of ``run_dir`` (one read of its last checkpoint)."""
    scored = (run_dir / "test_metrics.json").is_file()
    last = rundir.checkpoint_path(run_dir, "last")
    saved = rundir.load_checkpoint(last, ()) if last.is_file() else {}
    return RunEnding(
        status=saved.get("status", "finished") if scored else "non-finite",
        ended=scored or bool(saved.get("stopped", False)),
        rollbacks=saved.get("rollbacks", 0),
        stopped_by=saved.get("stopped_by"),
    )


def load_run(run_dir: Path):
    """The config, data and best model of a run folder."""
    config = rundir.read_config(run_dir)
    device = loading_device(config.train.device)
    data = build_dataset(config.data)
    return config, data, best_model(run_dir, config, data, device), device


def best_model(run_dir: Path, config: ExperimentConfig, data: SequenceData | DataCard, device) -> torch.nn.Module:
    """The model of ``config`` with the weights of the run's best checkpoint, in eval mode."""
    model = build_model(config, data, device)
    rundir.load_weights(model, rundir.checkpoint_path(run_dir, "best"))
    return model.eval()


def evaluate_run(run_dir: Path) -> dict:
    """Test metrics of a run's best checkpoint (also written to its ``test_metrics.json``)."""
    config, data, model, device = load_run(run_dir)
    return score_best(run_dir, config, data, model, device)


def load_trained(run_dir: Path):
    """What forecasting or classifying with a run needs, without its data: the config, the data card
    (``data.json``; for a run trained before cards were kept, made from its data, which must then be
    there), the best model and the device."""
    config = rundir.read_config(run_dir)
    card = read_card(run_dir)
    if card is None:
        card = DataCard.of(build_dataset(config.data))
    device = loading_device(config.train.device)
    return config, card, best_model(run_dir, config, card, device), device


def predict_run(run_dir: Path, values: torch.Tensor, horizon: int | None = None) -> torch.Tensor:
    """Forecasts ``horizon`` steps after ``values`` with a run's best model (``forecast_after``)."""
    _, card, model, device = load_trained(run_dir)
    return forecast_after(model, card, values, horizon, device)


def history_window(values: torch.Tensor, card: DataCard) -> torch.Tensor:
    """The rows of a history that a forecast reads: the last ``card.context`` (the context the model was
    trained on), all of them when there are fewer. values: ``(N, T, C)``."""
    return values[:, -card.context :]


@torch.no_grad()
def forecast_after(model, card: DataCard, values: torch.Tensor, horizon: int | None, device) -> torch.Tensor:
    """Forecasts ``horizon`` steps after a history with a model trained on the forecasting set of ``card``.

    One rule for the CLI, the estimators and this function: the forecast reads the last ``card.context``
    rows of the history (``history_window``) and the root's time runs on the trained scale
    (``WarpConfig.time_scale``), so that its first k steps are the same for every horizon >= k.

    Args:
        values: ``(T, C)`` or ``(N, T, C)`` on the original scale of the data.
        horizon: steps to forecast (default: the trained horizon, ``card.horizon``); beyond the trained
            sequence length the root's time input extrapolates past 1.

    Returns:
        ``(N, horizon, C)`` forecasts on the original scale.
    """
    if card.task != "forecast":
        raise InputError(f"predict: a {card.task} run does not forecast; only forecasting runs do")
    x = values.unsqueeze(0) if values.dim() == 2 else values
    if x.dim() != 3 or x.shape[-1] != card.channels or 0 in x.shape:
        raise InputError(
            f"--input: expected shape (T, {card.channels}) or (N, T, {card.channels}), got {tuple(values.shape)}"
        )
    x = history_window(x, card)
    context = x.shape[1]
    horizon = card.horizon if horizon is None else horizon
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise InputError(f"--horizon: expected an integer >= 1 of steps to forecast, got {horizon!r}")
    state_width = model.d_theta if hasattr(model, "d_theta") else model.width  # WARP's theta, a baseline's features
    steps, width = context + horizon, state_width + card.channels
    check_memory(
        f"forecasting {horizon} steps of {x.shape[0]} sequence(s)",
        x.shape[0] * steps * width * x.element_size(),
        device,
        "ask for a shorter --horizon",
    )
    scaler = card.scaler
    if scaler is not None:
        x = scaler.transform(x)
    padded = torch.cat([x, x.new_zeros(x.shape[0], horizon, x.shape[2])], dim=1).to(device)
    mean = model(padded, context=context).mean[:, context - 1 : -1].cpu()
    return mean if scaler is None else scaler.inverse(mean)


@torch.no_grad()
def classify(
    model, data: SequenceData | DataCard, cases: list[np.ndarray], device, batch_size: int = 256
) -> torch.Tensor:
    """Class probabilities ``(N, K)`` of cases ``(T_i, C)`` on the original scale (NaN where missing),
    prepared as the classification set ``data`` (or its card) prepared its own (``benchmarks.prepare_cases``)."""
    if data.task != "classification":
        raise ValueError(f"predict: a {data.task} run forecasts; only classification runs classify")
    if any(case.ndim != 2 or case.shape[1] != data.channels for case in cases):
        raise ValueError(f"--input: expected cases of shape (T, {data.channels}), got {[c.shape for c in cases][:3]}")
    channels = data.channels
    scaler = data.scaler or StandardScaler(torch.zeros(channels), torch.ones(channels))
    x, lengths = prepare_cases(cases, scaler)
    logits = [
        model(x[i : i + batch_size].to(device), lengths[i : i + batch_size].to(device), mode="scan").logits.cpu()
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(logits).softmax(-1)


def draw_plots(run_dir: Path, model, data: SequenceData, device, history, batch_size: int, metric: str) -> list[Path]:
    """Loss curves, test predictions with the context marked, and the weight trajectory of one sequence."""
    out = run_dir / "plots"
    figures = [plots.plot_losses(history, out / "losses.png", metric)]
    if data.task != "classification":
        sample = data.test.batch(torch.arange(min(4, len(data.test))))
        pred = forecast(model, sample, data.forecast_context, batch_size, device, theta=True)
        figures.append(
            plots.plot_predictions(
                sample.y,
                pred["mean"],
                out / "predictions.png",
                context=data.context,
                std=pred["std"],
                channel_names=data.channel_names,
            )
        )
        figures.append(
            plots.plot_theta_trajectory(
                pred["theta"][0, : int(sample.lengths[0])], out / "theta.png", context=data.context
            )
        )
    return figures
