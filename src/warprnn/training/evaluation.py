"""Losses and evaluation: what the trainer optimises and what it reports.

Alignment: the model's output at step t predicts the target at step t+1, so ``aligned[:, t]`` (the
prediction of ``y[:, t]``) is ``mean[:, t-1]``. Under the authors' semantics (``warprnn.authors``, choice
``reconstruct``) the output at t is scored against ``y[:, t]`` itself. Forecasts are made autoregressively
after the context L and scored on steps ``t >= L`` only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..authors import OURS, Choices, model_choices
from ..data import SequenceData, Split
from ..heads import WarpOutput
from . import metrics


def step_mask(
    lengths: Tensor, T: int, num_steps: int | None = None, generator: torch.Generator | None = None
) -> Tensor:
    """Which predictions ``mean[:, t]`` (t < T-1) have a target: ``t + 1 < length``, ``(batch, T-1)``.

    With ``num_steps``, only that many randomly drawn steps (the same for the whole batch) count.
    """
    mask = torch.arange(1, T, device=lengths.device) < lengths[:, None]
    if num_steps is not None and num_steps < T - 1:
        chosen = torch.randperm(T - 1, generator=generator)[:num_steps].to(lengths.device)
        keep = torch.zeros(T - 1, dtype=torch.bool, device=lengths.device)
        keep[chosen] = True
        mask = mask & keep
    return mask


def authors_steps(
    lengths: Tensor, T: int, num_steps: int | None, generator: torch.Generator | None = None
) -> Tensor | None:
    """The authors' loss steps (``warprnn.authors``): ``num_steps`` steps of ``[0, T)`` drawn with
    replacement for each sequence, as counts ``(batch, T)`` (a step drawn twice counts twice; steps past a
    length count 0). None: every valid step counts once."""
    if num_steps is None:
        return None
    chosen = torch.randint(0, T, (lengths.shape[0], num_steps), generator=generator).to(lengths.device)
    counts = torch.zeros(lengths.shape[0], T, device=lengths.device).scatter_add_(
        1, chosen, torch.ones(chosen.shape, device=lengths.device)
    )
    return counts * (torch.arange(T, device=lengths.device) < lengths[:, None])


def loss_mask(choices: Choices, lengths: Tensor, T: int, num_steps: int | None, generator) -> Tensor:
    """The steps of a training batch's loss: ``step_mask`` ``(batch, T-1)``, or under the authors'
    ``reconstruct`` choice their draw ``authors_steps`` ``(batch, T)`` (every valid step when None)."""
    if not choices.reconstruct:
        return step_mask(lengths, T, num_steps, generator)
    counts = authors_steps(lengths, T, num_steps, generator)
    return torch.arange(T, device=lengths.device) < lengths[:, None] if counts is None else counts


def compute_loss(
    out: WarpOutput, batch: Split, loss: str, mask: Tensor | None = None, choices: Choices = OURS
) -> Tensor:
    """The training loss: ``mse`` or ``nll`` of next-step predictions, or ``ce`` of class logits.

    Args:
        out: the model's output on ``batch.x``. batch: inputs, targets and lengths.
        loss: ``mse``, ``nll`` or ``ce``. mask: ``(batch, T-1)`` steps that count (``step_mask``).
        choices: the semantics (``warprnn.authors``): with ``reconstruct``, output t is scored against
            ``y[:, t]`` on every step and ``mask`` is ``(batch, T)`` bool or counts (``loss_mask``); with
            ``loss_constants``, the authors' NLL (no ``0.5 log 2 pi``) and MSE (halved).
    """
    if loss == "ce":
        return F.cross_entropy(out.logits, batch.y)
    if choices.reconstruct:
        T = batch.x.shape[1]
        mask = loss_mask(choices, batch.lengths, T, None, None) if mask is None else mask
        pred, sd, target = out.mean, out.std, batch.y
    else:
        mask = step_mask(batch.lengths, batch.x.shape[1]) if mask is None else mask
        pred, sd, target = out.mean[:, :-1], None if out.std is None else out.std[:, :-1], batch.y[:, 1:]
    mask = mask.unsqueeze(-1)
    if loss == "nll":
        constant = 0.5 * math.log(2 * math.pi) if choices.loss_constants else 0.0
        return metrics.gaussian_nll(pred, sd, target, mask) - constant
    return metrics.mse(pred, target, mask) * (0.5 if choices.loss_constants else 1.0)


def align(y: Tensor, mean: Tensor) -> Tensor:
    """Predictions aligned with targets: ``[y_0, mean_0, ..., mean_{T-2}]``, shape of y."""
    return torch.cat([y[:, :1], mean[:, :-1]], dim=1)


def last_value_forecast(y: Tensor, context: int) -> Tensor:
    """The naive forecast: every step from L on repeats the last context value ``y[:, L-1]``."""
    pred = y.clone()
    pred[:, context:] = y[:, context - 1 : context]
    return pred


@torch.no_grad()
def forecast(
    model, split: Split, context: int | None, batch_size: int, device, theta: bool = False
) -> dict[str, Tensor]:
    """Autoregressive forecasts of a whole split after ``context`` steps (None: teacher-forced
    predictions, for sequence tasks), on the CPU.

    Returns:
        ``mean`` and ``std`` (or None) aligned with ``split.y`` (``align``; the authors' semantics score
        output t against ``y[:, t]``), and with ``theta`` the states ``(N, T, D)`` (else None: on the 10,000
        MNIST test images they would take 6.5 GB, twice while concatenated).
    """
    reconstruct = model_choices(model).reconstruct
    parts = {"mean": [], "std": [], "theta": []}
    for start in range(0, len(split), batch_size):
        batch = split.batch(torch.arange(start, min(start + batch_size, len(split))))
        y = batch.y.to(device)
        out = model(batch.x.to(device), batch.lengths.to(device), context=context)
        mean, std = out.mean, out.std
        if not reconstruct:
            mean, std = align(y, mean), None if std is None else align(torch.zeros_like(y), std)
        parts["mean"].append(mean.cpu())
        parts["std"].append(None if std is None else std.cpu())
        parts["theta"].append(out.theta.cpu() if theta else None)
    return {k: None if v[0] is None else torch.cat(v) for k, v in parts.items()}


@torch.no_grad()
def evaluate(
    model, split: Split, data: SequenceData, loss: str, batch_size: int, device, mode: str, prefix: str
) -> dict[str, float]:
    """Metrics of ``model`` on ``split``, keys prefixed (``val_``, ``test_``).

    Always the teacher-forced ``loss``; for forecasting, the metrics of ``metrics.forecast_metrics`` on the
    autoregressive forecast after the context; for sequence tasks, the same on the teacher-forced
    predictions from step 1; for classification, accuracy and macro-F1.
    """
    model.eval()
    total, logits = 0.0, []
    for start in range(0, len(split), batch_size):
        batch = split.batch(torch.arange(start, min(start + batch_size, len(split))))
        batch = Split(batch.x.to(device), batch.y.to(device), batch.lengths.to(device))
        out = model(batch.x, batch.lengths, mode=mode)
        total += compute_loss(out, batch, loss, choices=model_choices(model)).item() * len(batch)
        if out.logits is not None:
            logits.append(out.logits.cpu())
    results = {"loss": total / len(split)}
    if data.task == "classification":
        results.update(metrics.classification_metrics(torch.cat(logits), split.y, data.num_classes))
    else:
        pred = forecast(model, split, data.forecast_context, batch_size, device)
        results.update(
            metrics.forecast_metrics(
                pred["mean"],
                split.y,
                context=data.context,
                lengths=split.lengths,
                std=pred["std"],
                scaler=data.target_scaler,
                bin_width=data.bin_width,
                value_range=data.value_range,
            )
        )
    return {f"{prefix}{k}": v for k, v in results.items()}


def metric_names(data: SequenceData, gaussian: bool, prefix: str) -> list[str]:
    """The keys of the metrics ``evaluate`` returns for ``data`` (``gaussian``: the head predicts a std),
    known before any model runs, so that ``train.metric`` is checked before training."""
    if data.task == "classification":
        names = ["loss", "accuracy", "f1"]
    else:
        names = ["loss", "mse", "mae", "rmse", "mape"]
        if gaussian:
            names += ["nll", "crps", "coverage_80"] + (["bpd"] if data.bin_width is not None else [])
        if data.scaler is not None:
            names += ["mse_orig", "mae_orig", "rmse_orig"]
    return [prefix + name for name in names]


def naive_metrics(split: Split, data: SequenceData, prefix: str) -> dict[str, float]:
    """Forecast metrics of the naive last-value forecast on ``split``, keys ``{prefix}naive_*``."""
    pred = last_value_forecast(split.y, data.context)
    results = metrics.forecast_metrics(
        pred,
        split.y,
        context=data.context,
        lengths=split.lengths,
        scaler=data.target_scaler,
        value_range=data.value_range,
    )
    return {f"{prefix}naive_{k}": v for k, v in results.items()}
