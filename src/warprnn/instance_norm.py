"""Instance normalisation of forecasting windows (``warp.instance_norm``; RevIN without its affine part,
Kim et al., "Reversible Instance Normalization for Accurate Time-Series Forecasting", ICLR 2022).

Each sequence is shifted by the mean of its first ``norm_steps`` steps (the forecast's context, which is
always fed the data), per channel, and with ``scale`` divided by their standard deviation; the model runs
on the normalised sequence, and its predicted mean and standard deviation are mapped back. The loss and the
metrics stay on the data's own scale. A level or spread that drifts between the training period and the
test period (ETT's transformer loads) then no longer has to be extrapolated by the model. Not part of the
WARP paper; every model of this package reads it, so that comparisons stay fair.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from .errors import InputError

EPS = 1e-5  # added to the variance: a constant context has scale sqrt(EPS), not 0


def statistics(x: Tensor, lengths: Tensor, steps: int, kind: str) -> tuple[Tensor, Tensor]:
    """The per-sequence, per-channel location and scale of the first ``steps`` valid steps.

    Args:
        x: ``(batch, T, C)`` sequences, zero past each length. lengths: ``(batch,)``. steps: the number
            of leading steps to read (fewer where a sequence is shorter). kind: ``shift`` (scale 1) or
            ``scale`` (``warp.instance_norm``).

    Returns:
        loc ``(batch, 1, C)``, their mean, and scale ``(batch, 1, C)``: ``sqrt(variance + EPS)``
        (population variance) for ``scale``, ones for ``shift``.
    """
    T = x.shape[1]
    count = lengths.clamp(max=steps).to(x.dtype)[:, None, None]  # (batch, 1, 1)
    read = (torch.arange(T, device=x.device) < lengths.clamp(max=steps)[:, None]).unsqueeze(-1)  # (batch, T, 1)
    loc = x.masked_fill(~read, 0.0).sum(1, keepdim=True) / count
    if kind == "shift":
        return loc, torch.ones_like(loc)
    var = ((x - loc).masked_fill(~read, 0.0) ** 2).sum(1, keepdim=True) / count
    return loc, (var + EPS).sqrt()


def normalise(x: Tensor, lengths: Tensor, valid: Tensor, steps: int, kind: str) -> tuple[Tensor, Tensor, Tensor]:
    """The sequence the model sees, ``(x - loc) / scale`` ``(batch, T, C)``, zero past each length
    (``valid`` ``(batch, T)``), with the ``loc`` and ``scale`` of ``statistics`` that ``denormalise`` needs."""
    loc, scale = statistics(x, lengths, steps, kind)  # (batch, 1, C) each
    return ((x - loc) / scale).masked_fill(~valid.unsqueeze(-1), 0.0), loc, scale


def denormalise(out, loc: Tensor, scale: Tensor, valid: Tensor):
    """The output ``out`` (a ``WarpOutput`` of the normalised sequence) on the data's scale: the mean
    ``mean * scale + loc`` and the standard deviation ``std * scale``, still zero past each length
    (``valid`` ``(batch, T)``)."""
    keep = valid.unsqueeze(-1)
    mean = (out.mean * scale + loc).masked_fill(~keep, 0.0)
    std = None if out.std is None else out.std * scale
    return dataclasses.replace(out, mean=mean, std=std)


def check_streamable(norm_steps: int | None) -> None:
    """Streaming (``init_state`` / ``step``) sees one step at a time, before the statistics exist.

    Raises:
        InputError: instance normalisation is on (``norm_steps`` not None).
    """
    if norm_steps is not None:
        raise InputError(
            f"init_state: instance_norm scales each sequence by its first {norm_steps} steps, which a stream "
            "has not seen yet; run forward() on whole sequences"
        )
