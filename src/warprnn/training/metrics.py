"""Metrics: regression and forecasting errors, Gaussian likelihood, bits per dimension, classification.

Every regression metric takes a boolean ``mask`` broadcastable to the prediction and averages over the
masked-in entries only (padding, the context part of a forecast, MAPE's zero targets); a mask of numbers
weighs each entry by its count (the authors' loss steps, drawn with replacement).

Definitions (N the number of masked-in entries):
    MSE  = sum (pred - y)^2 / N              RMSE = sqrt(MSE)            MAE = sum |pred - y| / N
    MAPE = 100 * sum |pred - y| / |y| / N over entries with y != 0 (zero targets are masked out)
    NLL  = sum [0.5 log(2 pi std^2) + (y - pred)^2 / (2 std^2)] / N, in nats per dimension
    BPD  = (NLL - log(bin)) / log 2: bits per dimension of the density discretised into bins of width
           ``bin`` on the scale the model sees. 8-bit pixels p mapped to [-1, 1] by p / 127.5 - 1 are 2/255
           apart, so BPD = NLL / log 2 + log2(127.5): bits per dimension of the density on the pixel scale.

The WARP authors' conventions for pixels, reported beside ours (``value_range``): ``mse_01``, the MSE
with the values (prediction and truth) mapped from their range to [0, 1]; ``bpd_cont_01``, the
continuous Gaussian NLL in bits with the values and the mean mapped to [0, 1] and the predicted std *not*
rescaled (so it is not a density on [0, 1] and can be negative; it is what their code reports as bits per
dimension).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _masked_mean(values: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return values.mean()
    mask = mask.expand_as(values)
    if mask.dtype != torch.bool:  # weights: how many times each entry counts (the authors' loss steps)
        return (values * mask).sum() / mask.sum()
    return values[mask].mean()


def mse(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared error over the masked-in entries."""
    return _masked_mean((pred - target) ** 2, mask)


def mae(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean absolute error over the masked-in entries."""
    return _masked_mean((pred - target).abs(), mask)


def mape(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean absolute percentage error (in %), with entries whose target is exactly 0 masked out."""
    nonzero = target != 0
    mask = nonzero if mask is None else mask.expand_as(target) & nonzero
    return 100 * _masked_mean((pred - target).abs() / target.abs().clamp_min(1e-12), mask)


def gaussian_nll(mean: Tensor, std: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Gaussian negative log-likelihood in nats per dimension, constant term included."""
    nll = 0.5 * math.log(2 * math.pi) + std.log() + 0.5 * ((target - mean) / std) ** 2
    return _masked_mean(nll, mask)


def gaussian_crps(mean: Tensor, std: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """The continuous ranked probability score of Gaussian forecasts, per dimension, in the data's units
    (closed form, Gneiting and Raftery 2007): ``std * (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi))`` with
    ``z = (target - mean) / std``; lower is better, and it equals the MAE for a std of 0."""
    z = (target - mean) / std
    density = torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    crps = std * (z * (2 * torch.special.ndtr(z) - 1) + 2 * density - 1 / math.sqrt(math.pi))
    return _masked_mean(crps, mask)


COVERAGE = 0.8
"""The central interval whose coverage ``forecast_metrics`` reports (``coverage_80``)."""


def gaussian_coverage(mean: Tensor, std: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """The share of targets inside the central ``COVERAGE`` interval of Gaussian forecasts: near 0.8 when
    the predicted stds are calibrated, lower when they are too narrow."""
    half = std * torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(0.5 + COVERAGE / 2)).item()
    return _masked_mean(((target - mean).abs() <= half).to(mean.dtype), mask)


def bits_per_dim(nll: float, bin_width: float) -> float:
    """Bits per dimension from a NLL in nats per dimension and the data's quantisation bin width."""
    return (nll - math.log(bin_width)) / math.log(2)


def forecast_metrics(
    pred: Tensor,
    target: Tensor,
    *,
    context: int,
    lengths: Tensor | None = None,
    std: Tensor | None = None,
    scaler=None,
    bin_width: float | None = None,
    value_range: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Errors of forecasts on the forecast part only: steps ``context <= t < length``.

    Args:
        pred: ``(N, T, C)`` predictions aligned with ``target`` (``pred[:, t]`` is the forecast of
            ``target[:, t]``), on the normalised scale. target: ``(N, T, C)``.
        context: L; steps before it were given to the model and are not scored.
        lengths: ``(N,)`` valid lengths (None: all T).
        std: ``(N, T, C)`` predicted standard deviations, for ``nll`` (and ``bpd`` with ``bin_width``).
        scaler: maps back to the original scale; adds ``*_orig`` metrics and computes MAPE there.
        bin_width: quantisation bin of the data on the normalised scale (pixels), for ``bpd``.
        value_range: (low, high), the interval the data was mapped to (pixels: (-1, 1)), for the
            authors' conventions ``mse_01`` and ``bpd_cont_01``.

    Returns:
        ``mse``, ``mae``, ``rmse``, ``mape``; with ``std``, ``nll``, ``crps`` and ``coverage_80``
        (``gaussian_crps``, ``gaussian_coverage``), and ``bpd`` with a ``bin_width``; ``mse_orig``,
        ``mae_orig``, ``rmse_orig`` with a scaler; ``mse_01`` (and ``bpd_cont_01`` with ``std``) with a
        ``value_range``.
    """
    N, T, _ = target.shape
    lengths = torch.full((N,), T) if lengths is None else lengths.cpu()
    steps = torch.arange(T)
    mask = ((steps >= context) & (steps < lengths[:, None])).unsqueeze(-1)  # (N, T, 1)
    results = _errors(pred, target, mask, "")
    if std is not None:
        results["nll"] = gaussian_nll(pred, std, target, mask).item()
        results["crps"] = gaussian_crps(pred, std, target, mask).item()
        results["coverage_80"] = gaussian_coverage(pred, std, target, mask).item()
        if bin_width is not None:
            results["bpd"] = bits_per_dim(results["nll"], bin_width)
    if value_range is not None:
        low, high = value_range
        pred_01, target_01 = (pred - low) / (high - low), (target - low) / (high - low)
        results["mse_01"] = mse(pred_01, target_01, mask).item()
        if std is not None:
            results["bpd_cont_01"] = gaussian_nll(pred_01, std, target_01, mask).item() / math.log(2)
    if scaler is not None:
        pred_orig, target_orig = scaler.inverse(pred), scaler.inverse(target)
        results.update(_errors(pred_orig, target_orig, mask, "_orig"))
        results["mape"] = mape(pred_orig, target_orig, mask).item()
    else:
        results["mape"] = mape(pred, target, mask).item()
    return results


def _errors(pred: Tensor, target: Tensor, mask: Tensor, suffix: str) -> dict[str, float]:
    value = mse(pred, target, mask).item()
    return {f"mse{suffix}": value, f"mae{suffix}": mae(pred, target, mask).item(), f"rmse{suffix}": math.sqrt(value)}


def classification_metrics(logits: Tensor, labels: Tensor, num_classes: int) -> dict[str, float]:
    """Accuracy and macro-F1 (the mean F1 over the classes present in the labels or the predictions).

    Args:
        logits: ``(N, num_classes)``. labels: ``(N,)`` integers.
    """
    pred = logits.argmax(-1)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((labels.long(), pred), torch.ones_like(pred), accumulate=True)  # rows: truth
    tp = confusion.diag().double()
    support, predicted = confusion.sum(1).double(), confusion.sum(0).double()
    f1 = 2 * tp / (support + predicted).clamp_min(1)
    present = (support + predicted) > 0
    return {"accuracy": (pred == labels).double().mean().item(), "f1": f1[present].mean().item()}
