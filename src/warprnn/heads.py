"""Output heads and the autoregressive feeding protocol, shared by WARP and every baseline.

A model produces a raw output ``(..., out_features)`` per step (``WarpConfig.out_features``); the head
reads it as
- ``point``: the mean, through the final activation (none, tanh or clip);
- ``gaussian``: the mean as above and ``softplus(raw) + std_floor`` as the standard deviation;
- ``classification``: class logits, taken at the last valid step of each sequence or averaged over its
  valid steps (``WarpConfig.class_pool``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import check_context, check_probability
from .config import WarpConfig


@dataclass
class WarpOutput:
    """What a forward pass returns. Shapes are for ``forward``; ``step`` drops the time axis.

    Attributes:
        mean: ``(batch, T, C)`` prediction of the next value (regression heads), zero past each length.
        std: ``(batch, T, C)`` its standard deviation (``gaussian`` head), else None.
        logits: ``(batch, num_classes)`` at the last valid step, or their mean over the valid steps
            (``classification`` head, ``class_pool``), else None.
        theta: ``(batch, T, D)`` the hidden states (WARP: the weight-space states theta_t), zero past
            each length.
    """

    mean: Tensor | None
    std: Tensor | None
    logits: Tensor | None
    theta: Tensor


def mean(config: WarpConfig, raw: Tensor) -> Tensor:
    """The predicted mean: the final activation of the first C raw outputs. ``dtanh`` here is fixed at
    ``dtanh_init`` (the baselines'); WARP trains its parameters (``warprnn.authors.mean``)."""
    value = raw[..., : config.target_channels]
    if config.final_activation == "dtanh":
        a, b, alpha, beta = config.dtanh_init
        return alpha * torch.tanh((value - b) / a) + beta
    if config.final_activation == "tanh":
        return torch.tanh(value)
    if config.final_activation == "clip":
        return value.clamp(-config.final_clip, config.final_clip)
    return value


def std(config: WarpConfig, raw: Tensor) -> Tensor:
    """The predicted standard deviation: ``softplus(raw) + std_floor`` (``gaussian`` head)."""
    return F.softplus(raw[..., config.target_channels :]) + config.std_floor


def with_covariates(config: WarpConfig, prediction: Tensor, x: Tensor) -> Tensor:
    """The value an autoregressive step feeds in place of the data ``x`` ``(..., C)``: the ``prediction``
    ``(..., C - k)`` of the forecast channels, then the data of the k covariates, which are known in advance
    (``WarpConfig.covariate_channels``) and never predicted."""
    k = config.covariate_channels
    return torch.cat([prediction, x[..., -k:]], dim=-1) if k else prediction


def feedback(config: WarpConfig, raw: Tensor, noise: Tensor | None) -> Tensor:
    """The value an autoregressive step feeds next: the mean, or ``mean + std * noise``."""
    if noise is None:
        return mean(config, raw)
    return mean(config, raw) + std(config, raw) * noise


def sequence_output(config: WarpConfig, raw: Tensor, hidden: Tensor, valid: Tensor, lengths: Tensor) -> WarpOutput:
    """Applies the head to raw ``(batch, T, out)`` and zeroes the outputs past each sequence's length.

    ``hidden`` ``(batch, T, H)`` must already be zero there (WARP's fast modes zero theta in place, sparing
    a copy of the largest tensor of a step)."""
    keep = valid.unsqueeze(-1)
    if config.head == "classification":
        if config.class_pool == "mean":  # (batch, classes): the mean over each sequence's valid steps
            logits = raw.masked_fill(~keep, 0.0).sum(1) / lengths.unsqueeze(-1).to(raw.dtype)
        else:
            logits = raw[torch.arange(raw.shape[0], device=raw.device), lengths - 1]
        return WarpOutput(mean=None, std=None, logits=logits, theta=hidden)
    sd = std(config, raw).masked_fill(~keep, 0.0) if config.head == "gaussian" else None
    return WarpOutput(mean=mean(config, raw).masked_fill(~keep, 0.0), std=sd, logits=None, theta=hidden)


def step_output(config: WarpConfig, raw: Tensor, hidden: Tensor) -> WarpOutput:
    """Applies the head to one step's raw output ``(batch, out)``."""
    if config.head == "classification":
        return WarpOutput(mean=None, std=None, logits=raw, theta=hidden)
    sd = std(config, raw) if config.head == "gaussian" else None
    return WarpOutput(mean=mean(config, raw), std=sd, logits=None, theta=hidden)


def feeding(
    config: WarpConfig, x: Tensor, context: int | None, teacher_forcing: float | None, generator: torch.Generator | None
) -> tuple[Tensor, Tensor | None]:
    """Which steps an autoregressive run feeds the data, and the noise of sampled feedback.

    Steps < L (``context``, default 1) are fed the data; each later step is fed the data with
    probability ``teacher_forcing`` (default 0), otherwise the previous step's prediction.

    Returns:
        feed_truth ``(batch, T)`` bool, and standard normal noise ``(batch, T, C)`` when a Gaussian head
        feeds samples (``ar_feed="sample"``), else None.
    """
    if config.head == "classification":
        raise ValueError("context/teacher_forcing: the classification head has no autoregressive mode")
    batch, T, _ = x.shape
    context = 1 if context is None else context
    teacher_forcing = 0.0 if teacher_forcing is None else teacher_forcing
    check_context(context, T)
    check_probability("teacher_forcing", teacher_forcing)
    draws = torch.rand(batch, T, generator=generator, device=x.device)
    feed_truth = (torch.arange(T, device=x.device) < context) | (draws < teacher_forcing)
    noise = None
    if config.head == "gaussian" and config.ar_feed == "sample":
        shape = (*x.shape[:-1], config.target_channels)
        noise = torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)
    return feed_truth, noise
