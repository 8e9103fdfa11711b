"""Gradient-free test-time adaptation: a trained WARP model forecasting out-of-distribution MSD dynamics.

theta_t evolves with the data, so the root network the model decodes with changes along each sequence
without any gradient step. This module measures the forecast error of a trained MSD model
in distribution (validation split, drawn from the training ranges of (m, k, c)) and out of distribution
(test split, wider ranges), the latter binned by how far each trajectory's parameters lie outside the
training ranges, and draws theta_t along the most out-of-distribution test trajectory.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from ..data import SequenceData, Split
from ..data.synthetic import MSD_TRAIN_RANGES, msd_draws
from ..training import load_run, plots
from ..training.evaluation import forecast
from .report import MODEL_NAMES

# (low, high] bins of the distance outside the training ranges, in units of each range's width; the
# first holds the test trajectories inside the training ranges.
BINS = ((-math.inf, 0.0), (0.0, 0.1), (0.1, 0.25), (0.25, math.inf))


def outside_distance(params: Tensor, ranges: dict = MSD_TRAIN_RANGES) -> Tensor:
    """How far each trajectory's (m, k, c) lies outside ``ranges``: the largest excess over the three
    parameters, relative to the width of that parameter's range (0 inside).

    Args:
        params: ``(N, 3)`` holding (m, k, c).

    Returns:
        ``(N,)`` distances >= 0.
    """
    low = torch.tensor([ranges[p][0] for p in "mkc"], dtype=params.dtype)
    high = torch.tensor([ranges[p][1] for p in "mkc"], dtype=params.dtype)
    excess = torch.maximum(low - params, params - high).clamp_min(0) / (high - low)
    return excess.amax(dim=-1)


def sequence_errors(model, split: Split, context: int, batch_size: int, device) -> tuple[Tensor, Tensor]:
    """Per-sequence squared and absolute forecast errors, averaged over the steps after ``context`` and the
    channels, of the autoregressive forecast (no gradient step). Returns two ``(N,)`` tensors."""
    pred = forecast(model, split, context, batch_size, device)["mean"]
    diff = (pred - split.y)[:, context:]
    return diff.pow(2).mean(dim=(1, 2)), diff.abs().mean(dim=(1, 2))


def id_vs_ood(model, data: SequenceData, test_params: Tensor, batch_size: int = 256, device="cpu") -> dict:
    """Forecast errors in distribution (``data.val``) and out of distribution (``data.test``).

    Args:
        model: a trained forecasting model. data: an MSD data set. test_params: ``(N_test, 3)`` (m, k, c)
        of the test trajectories.

    Returns:
        ``id_mse``, ``id_mae``, ``ood_mse``, ``ood_mae`` and ``bins``: per distance bin of ``BINS`` its
        ``low`` and ``high`` edges, the number of test trajectories in it (``count``) and their ``mse``.
    """
    if test_params.shape != (len(data.test), 3):
        raise ValueError(f"test_params: expected shape ({len(data.test)}, 3), got {tuple(test_params.shape)}")
    id_se, id_ae = sequence_errors(model, data.val, data.context, batch_size, device)
    ood_se, ood_ae = sequence_errors(model, data.test, data.context, batch_size, device)
    distance = outside_distance(test_params)
    bins = []
    for low, high in BINS:
        inside = (distance > low) & (distance <= high)
        bins.append({"low": low, "high": high, "count": int(inside.sum()), "mse": mean_or_nan(ood_se[inside])})
    return {
        "id_mse": id_se.mean().item(),
        "id_mae": id_ae.mean().item(),
        "ood_mse": ood_se.mean().item(),
        "ood_mae": ood_ae.mean().item(),
        "bins": bins,
    }


def mean_or_nan(values: Tensor) -> float:
    """The mean of ``values`` ``(n,)``, NaN when empty."""
    return values.mean().item() if len(values) else float("nan")


def bin_label(low: float, high: float) -> str:
    """A distance bin of ``BINS`` in words."""
    if low == -math.inf:
        return "inside the training ranges"
    if high == math.inf:
        return f"outside by more than {low:g} range widths"
    return f"outside by ({low:g}, {high:g}] range widths"


def markdown(results: dict[str, dict]) -> str:
    """``id_vs_ood`` results of several models (by display name) as one markdown table: forecast MSE (and
    MAE for the whole splits) per model, the test trajectories binned by distance outside the ranges."""
    names = list(results)
    first = results[names[0]]
    rows = [
        "| split | " + " | ".join(f"{n} MSE | {n} MAE" for n in names) + " |",
        "|---|" + "---|---|" * len(names),
        "| in distribution (validation split, training ranges) | "
        + " | ".join(f"{r['id_mse']:.4g} | {r['id_mae']:.4g}" for r in results.values())
        + " |",
        "| out of distribution (test split, wider ranges) | "
        + " | ".join(f"{r['ood_mse']:.4g} | {r['ood_mae']:.4g}" for r in results.values())
        + " |",
    ]
    for i, b in enumerate(first["bins"]):
        cells = " | ".join(f"{r['bins'][i]['mse']:.4g} | " for r in results.values())
        rows.append(f"| test trajectories {bin_label(b['low'], b['high'])} ({b['count']}) | {cells} |")
    return "\n".join(rows)


def report(runs: dict[str, Path], figure: Path) -> str:
    """The adaptation section for MSD runs by model name (``warp`` among them): one table of every model's
    errors in and out of distribution, and the theta_t figure of WARP (first coordinates of theta_t along the
    most out-of-distribution test trajectory) written to ``figure``."""
    results, warp = {}, None
    for name, run_dir in runs.items():
        config, data, model, device = load_run(Path(run_dir))
        if config.data.name != "msd":
            raise ValueError(f"run {str(run_dir)!r}: adaptation needs an 'msd' run, got data.name={config.data.name!r}")
        test_params = msd_draws(config.data)[2][1]
        results[MODEL_NAMES.get(name, name)] = id_vs_ood(model, data, test_params, config.train.batch_size, device)
        if name == "warp":
            warp = model, data, device, test_params
    model, data, device, test_params = warp
    farthest = int(outside_distance(test_params).argmax())
    theta = forecast(model, data.test.batch(torch.tensor([farthest])), data.context, 1, device, theta=True)["theta"][0]
    plots.plot_theta_trajectory(theta, figure, context=data.context)
    m, k, c = test_params[farthest].tolist()
    return (
        f"Every model (seed 0) forecasts MSD after the {data.context}-step context with no gradient step at "
        f"test time: WARP's theta_t, like the recurrent baselines' hidden states, moves with the data. Errors "
        f"per trajectory, averaged, on the same splits:\n\n{markdown(results)}\n\n"
        f"WARP's theta_t along the most out-of-distribution test trajectory (m={m:.3g}, k={k:.3g}, c={c:.3g}), "
        f"context boundary dotted:\n\n![theta](figures/{figure.name})"
    )
