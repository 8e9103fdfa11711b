"""What a run folder gives once trained: the best checkpoint's test metrics and figures, the model
loaded back, and its forecasts or class probabilities (``warprnn evaluate`` and ``warprnn predict``)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..checks import check_memory
from ..data import DataCard, SequenceData, Split, StandardScaler, build_dataset, read_card
from ..data.benchmarks import prepare_cases
from ..errors import InputError
from . import plots, rundir
from .build import build_model, loading_device
from .config import ExperimentConfig, apply_overrides
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
    test = scored_on_test(config, data, model, device)
    rundir.write_test_metrics(run_dir, test)
    return test


def scored_on_test(config: ExperimentConfig, data: SequenceData, model, device) -> dict:
    """``model``'s metrics on the test split of ``data``, and the naive forecast's for forecasting."""
    t = config.train
    test = evaluate(model, data.test, data, t.loss, t.batch_size, device, t.mode, "test_")
    if data.task == "forecast":
        test.update(naive_metrics(data.test, data, "test_"))
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


def evaluate_run(run_dir: Path, overrides: list[str] = ()) -> dict:
    """Test metrics of a run's best checkpoint: on its own test split (also written to its
    ``test_metrics.json``), or, with ``data.KEY=VALUE`` ``overrides`` (another file, another split), on the
    test split of that data, prepared as the run's data was (the run's scaler) and returned only.

    Raises:
        InputError: an override outside ``data``, or data the model cannot read (other channels or
            classes); the run's own data gone (named, with how to give it again).
    """
    config = rundir.read_config(run_dir)
    outside = [word for word in overrides if not word.startswith("data.")]
    if outside:
        raise InputError(
            f"evaluate: {outside[0]!r} would change the trained model; only data.KEY=VALUE overrides are taken"
        )
    if overrides:
        config = ExperimentConfig.from_dict(apply_overrides(config.to_dict(), list(overrides)))
    try:
        data = build_dataset(config.data)
    except FileNotFoundError as error:
        raise InputError(
            f"evaluate: {error}; the test split is read from the run's data (data.path in "
            f"{Path(run_dir) / 'config.yaml'}): give it with data.path=FILE"
        ) from None
    card = read_card(run_dir) or DataCard.of(data)
    if overrides:
        check_compatible(card, data)
        data = rescaled(data, card.scaler)  # the scale the model was trained on
    device = loading_device(config.train.device)
    model = best_model(run_dir, config, card, device)
    if not overrides:
        return score_best(run_dir, config, data, model, device)
    return scored_on_test(config, data, model, device)


def rescaled(data: SequenceData, scaler: StandardScaler | None) -> SequenceData:
    """``data`` on the scale of ``scaler`` (the run's) instead of its own: each split mapped back to the
    original scale by its own scaler, then by ``scaler``; targets too where they are the inputs' channels
    (forecasting; a classification set's labels stay as they are)."""
    own = data.scaler
    if own is None and scaler is None:
        return data

    def move(values: torch.Tensor, k: int) -> torch.Tensor:
        original = values if own is None else own.head(k).inverse(values)
        return original if scaler is None else scaler.head(k).transform(original)

    splits = []
    for split in (data.train, data.val, data.test):
        y = move(split.y, split.y.shape[-1]) if data.task != "classification" else split.y
        splits.append(Split(move(split.x, split.x.shape[-1]), y, split.lengths))
    return dataclasses.replace(data, train=splits[0], val=splits[1], test=splits[2], scaler=scaler)


def check_compatible(card: DataCard, data: SequenceData) -> None:
    """Raises ``InputError`` unless the model of ``card`` can read ``data``: the same task, channels (and
    names, where both have them) and classes."""
    if (data.task, data.channels, data.num_classes) != (card.task, card.channels, card.num_classes):
        raise InputError(
            f"evaluate: the data is a {data.task} set of {data.channels} channel(s)"
            f"{f', {data.num_classes} classes' if data.num_classes else ''}; the run was trained on a "
            f"{card.task} set of {card.channels}{f', {card.num_classes} classes' if card.num_classes else ''}"
        )
    if card.channel_names and data.channel_names and tuple(data.channel_names) != card.channel_names:
        raise InputError(
            f"evaluate: the data's channels are {list(data.channel_names)}; the run reads {list(card.channel_names)}"
        )


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


@dataclass(frozen=True)
class Forecast:
    """A forecast on the original scale: ``mean`` ``(N, H, C)``; for a Gaussian head ``std`` ``(N, H, C)``,
    and where the model feeds samples back (``warp.ar_feed=sample``) the sampled paths' draws ``samples``
    ``(S, N, H, C)``, whose mean is ``mean``."""

    mean: torch.Tensor
    std: torch.Tensor | None = None
    samples: torch.Tensor | None = None

    def quantiles(self, levels: list[float]) -> torch.Tensor:
        """The forecast's quantiles at ``levels`` (each in (0, 1)), ``(Q, N, H, C)``: of the sampled draws
        where there are samples, else of each step's Gaussian ``N(mean, std)``.

        Raises:
            InputError: the model predicts no std (a point head), or a level is outside (0, 1).
        """
        if any(not 0 < q < 1 for q in levels) or not levels:
            raise InputError(f"--quantiles: expected levels strictly between 0 and 1, got {levels}")
        if self.std is None:
            raise InputError(
                "--quantiles: the run's head predicts no std (warp.head=point); train with warp.head=gaussian"
            )
        q = torch.tensor(levels, dtype=self.mean.dtype)
        if self.samples is not None:
            return torch.quantile(self.samples, q, dim=0)
        z = torch.distributions.Normal(0.0, 1.0).icdf(q).to(self.mean.dtype)
        return self.mean + self.std * z[:, None, None, None]


SAMPLES = 256
"""Paths a forecast samples where the model feeds samples back (``warp.ar_feed=sample``)."""


@torch.no_grad()
def forecast_after(
    model, card: DataCard, values: torch.Tensor, horizon: int | None, device, future: torch.Tensor | None = None
) -> torch.Tensor:
    """The mean of ``forecast_distribution``: ``(N, horizon, C)`` on the original scale."""
    return forecast_distribution(model, card, values, horizon, device, future=future).mean


@torch.no_grad()
def forecast_distribution(
    model,
    card: DataCard,
    values: torch.Tensor,
    horizon: int | None,
    device,
    samples: int = SAMPLES,
    seed: int = 0,
    future: torch.Tensor | None = None,
) -> Forecast:
    """Forecasts ``horizon`` steps after a history with a model trained on the forecasting set of ``card``.

    One rule for the CLI, the estimators and this function: the forecast reads the last ``card.context``
    rows of the history (``history_window``) and the root's time runs on the trained scale
    (``WarpConfig.time_scale``), so that its first k steps are the same for every horizon >= k. A model
    that feeds samples back runs ``samples`` paths (seeded by ``seed``: the same call gives the same
    numbers), each step's draw ``mean + std * z``.

    Args:
        values: ``(T, C)`` or ``(N, T, C)`` on the original scale of the data.
        horizon: steps to forecast (default: the trained horizon, ``card.horizon``, or the rows of
            ``future``); beyond the trained sequence length the root's time input extrapolates past 1.
        future: ``(horizon, k)`` or ``(N, horizon, k)``, the covariates' values over the steps to forecast
            (original scale), which a model with k covariates (``card.covariate_channels``) needs.

    Returns:
        ``Forecast`` of the forecast channels (all but the covariates) on the original scale.
    """
    if card.task != "forecast":
        raise InputError(f"predict: a {card.task} run does not forecast; only forecasting runs do")
    x = values.unsqueeze(0) if values.dim() == 2 else values
    if x.dim() != 3 or x.shape[-1] != card.channels or 0 in x.shape:
        raise InputError(
            f"--input: expected shape (T, {card.channels}) or (N, T, {card.channels}), got {tuple(values.shape)}"
        )
    x = history_window(x, card)
    n, context = x.shape[0], x.shape[1]
    k = card.covariate_channels
    if k and future is None:
        raise InputError(
            f"predict: the run reads {k} covariate(s) ({', '.join(card.channel_names[-k:])}) known in advance; "
            f"give their values over the steps to forecast (--future FILE: one row per step)"
        )
    if future is not None:
        future = future.unsqueeze(0) if future.dim() == 2 else future
        if not k or future.dim() != 3 or future.shape[-1] != k or future.shape[0] not in (1, n):
            raise InputError(
                f"--future: expected shape (horizon, {k}) or ({n}, horizon, {k}) of covariate values, got "
                f"{tuple(future.shape)}" + ("" if k else "; the run reads no covariates")
            )
        if not torch.isfinite(future).all():
            raise InputError("--future: contains NaN or Inf")
        horizon = future.shape[1] if horizon is None else horizon
        if horizon > future.shape[1]:
            raise InputError(f"--future: {future.shape[1]} row(s) of covariates for a horizon of {horizon} steps")
    horizon = card.horizon if horizon is None else horizon
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise InputError(f"--horizon: expected an integer >= 1 of steps to forecast, got {horizon!r}")
    paths = samples if model.config.head == "gaussian" and model.config.ar_feed == "sample" else 1
    state_width = model.d_theta if hasattr(model, "d_theta") else model.width  # WARP's theta, a baseline's features
    check_memory(
        f"forecasting {horizon} steps of {n} sequence(s)" + (f", {paths} sampled paths each" if paths > 1 else ""),
        paths * n * (context + horizon) * (state_width + card.channels) * x.element_size(),
        device,
        "ask for a shorter --horizon",
    )
    scaler = card.scaler or StandardScaler(torch.zeros(card.channels), torch.ones(card.channels))
    ahead = x.new_zeros(n, horizon, x.shape[2])  # (N, H, C): the covariates' values, the rest unread
    if k:
        ahead[..., -k:] = future[:, :horizon].to(x.dtype).expand(n, -1, -1)
    x = scaler.transform(torch.cat([x, ahead], dim=1)).repeat(paths, 1, 1)  # (paths * N, T + H, C), path-major
    padded = x.to(device)
    scaler = scaler.head(card.channels - k)
    generator = torch.Generator(device).manual_seed(seed)
    out = model(padded, context=context, generator=generator)
    mean = out.mean[:, context - 1 : -1].cpu().reshape(paths, n, horizon, -1)  # (paths, N, H, C)
    std = None if out.std is None else out.std[:, context - 1 : -1].cpu().reshape(paths, n, horizon, -1)
    mean, std = scaler.inverse(mean), None if std is None else std * scaler.std.to(std)
    if paths == 1:
        return Forecast(mean[0], None if std is None else std[0])
    draws = mean + std * torch.randn(mean.shape, generator=torch.Generator().manual_seed(seed + 1))
    return Forecast(draws.mean(0), draws.std(0, correction=0), draws)


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
        side = math.isqrt(sample.y.shape[1])
        pixels = data.bin_width is not None and sample.y.shape[-1] == 1 and side * side == sample.y.shape[1]
        if pixels:  # an image read pixel by pixel: its completions drawn as images, not as a trace
            name = type(model).__name__
            figures.append(
                plots.plot_image_completion(
                    sample.y, {name: pred["mean"]}, out / "completions.png", context=data.context, shape=(side, side)
                )
            )
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
