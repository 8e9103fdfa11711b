"""Input checks for the public entry points: each failure is a ``ValueError`` that names the argument,
what was expected and what was received."""

from __future__ import annotations

import torch
from torch import Tensor


def check_sequence(x: Tensor, channels: int, lengths: Tensor | None) -> Tensor:
    """Checks a batch of sequences and returns its valid lengths.

    Args:
        x: ``(batch, time, channels)`` floating-point tensor, finite on its valid part.
        channels: the number of channels the model was configured with.
        lengths: ``(batch,)`` integer lengths in ``[2, time]``, or None for full length.

    Returns:
        lengths: ``(batch,)`` int64 on x's device.
    """
    if not isinstance(x, Tensor):
        raise ValueError(f"x: expected a torch.Tensor of shape (batch, time, channels), got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(f"x: expected a 3-D tensor (batch, time, channels), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"x: expected a floating-point tensor, got dtype {x.dtype}")
    batch, T, C = x.shape
    if C != channels:
        raise ValueError(f"x: expected {channels} channels (config.in_channels), got {C} in shape {tuple(x.shape)}")
    if batch == 0:
        raise ValueError(f"x: expected a non-empty batch, got shape {tuple(x.shape)}")
    if T < 2:
        raise ValueError(f"x: sequences need at least 2 steps, got time = {T}")
    if lengths is None:
        lengths = torch.full((batch,), T, dtype=torch.long, device=x.device)
    else:
        if not isinstance(lengths, Tensor) or lengths.shape != (batch,) or lengths.is_floating_point():
            shape = tuple(lengths.shape) if isinstance(lengths, Tensor) else type(lengths).__name__
            raise ValueError(f"lengths: expected an integer tensor of shape ({batch},), got {shape}")
        if lengths.min() < 2 or lengths.max() > T:
            raise ValueError(
                f"lengths: expected values in [2, {T}], got min {int(lengths.min())}, max {int(lengths.max())}"
            )
        lengths = lengths.to(device=x.device, dtype=torch.long)
    valid = torch.arange(T, device=x.device) < lengths[:, None]
    if not torch.isfinite(x[valid]).all():
        raise ValueError("x: contains NaN or Inf on its valid part")
    return lengths


def check_choice(name: str, value, allowed: tuple) -> None:
    """Raises if ``value`` is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name}: expected one of {list(allowed)}, got {value!r}")


def check_context(context: int, T: int) -> None:
    """The context length L of autoregressive mode must lie in ``[1, T]``."""
    if not isinstance(context, int) or isinstance(context, bool) or not 1 <= context <= T:
        raise ValueError(f"context: expected an integer in [1, {T}] (the sequence length), got {context!r}")


def check_probability(name: str, p: float) -> None:
    """``p`` must be a number in ``[0, 1]``."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: expected a probability in [0, 1], got {p!r}")
