"""Input checks for the public entry points: each failure is an ``InputError`` (a ``ValueError``) that
names the argument, what was expected and what was received; and the memory check that runs before a
large allocation (``TooLargeError``, a ``MemoryError``)."""

from __future__ import annotations

import os

import torch
from torch import Tensor

from .errors import InputError, TooLargeError

GiB = 2**30
SMALL = 256 * 2**20  # allocations below this many bytes are not checked


def check_sequence(x: Tensor, channels: int, lengths: Tensor | None, dtype: torch.dtype) -> Tensor:
    """Checks a batch of sequences and returns its valid lengths.

    Args:
        x: ``(batch, time, channels)`` tensor of ``dtype``, finite on its valid part.
        channels: the number of channels the model was configured with.
        dtype: the dtype of the model's parameters; x is not converted.
        lengths: ``(batch,)`` integer lengths in ``[2, time]``, or None for full length.

    Returns:
        lengths: ``(batch,)`` int64 on x's device.
    """
    if not isinstance(x, Tensor):
        raise InputError(f"x: expected a torch.Tensor of shape (batch, time, channels), got {type(x).__name__}")
    if x.dim() != 3:
        raise InputError(f"x: expected a 3-D tensor (batch, time, channels), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"x: expected a floating-point tensor, got dtype {x.dtype}")
    check_dtype("x", x, dtype)
    batch, T, C = x.shape
    if C != channels:
        raise InputError(f"x: expected {channels} channels (config.in_channels), got {C} in shape {tuple(x.shape)}")
    if batch == 0:
        raise InputError(f"x: expected a non-empty batch, got shape {tuple(x.shape)}")
    if T < 2:
        raise InputError(f"x: sequences need at least 2 steps, got time = {T}")
    if lengths is None:
        lengths = torch.full((batch,), T, dtype=torch.long, device=x.device)
    else:
        if not isinstance(lengths, Tensor) or lengths.shape != (batch,) or lengths.is_floating_point():
            if not isinstance(lengths, Tensor):
                got = type(lengths).__name__
            else:
                got = tuple(lengths.shape) if lengths.shape != (batch,) else f"dtype {lengths.dtype}"
            raise InputError(f"lengths: expected an integer tensor of shape ({batch},), got {got}")
        if lengths.min() < 2 or lengths.max() > T:
            raise InputError(
                f"lengths: expected values in [2, {T}], got min {int(lengths.min())}, max {int(lengths.max())}"
            )
        lengths = lengths.to(device=x.device, dtype=torch.long)
    valid = torch.arange(T, device=x.device) < lengths[:, None]
    if not torch.isfinite(x[valid]).all():
        raise InputError("x: contains NaN or Inf on its valid part")
    return lengths


def check_choice(name: str, value, allowed: tuple) -> None:
    """Raises if ``value`` is not one of ``allowed``."""
    if value not in allowed:
        raise InputError(f"{name}: expected one of {list(allowed)}, got {value!r}")


def check_context(context: int, T: int) -> None:
    """The context length L of autoregressive mode must lie in ``[1, T]``."""
    if not isinstance(context, int) or isinstance(context, bool) or not 1 <= context <= T:
        raise InputError(f"context: expected an integer in [1, {T}] (the sequence length), got {context!r}")


def check_probability(name: str, p: float) -> None:
    """``p`` must be a number in ``[0, 1]``."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise InputError(f"{name}: expected a probability in [0, 1], got {p!r}")


def check_dtype(name: str, x: Tensor, dtype: torch.dtype) -> None:
    """``x`` must have the model's dtype: torch would otherwise fail deep inside a matrix product."""
    if x.dtype != dtype:
        raise InputError(
            f"{name}: expected dtype {dtype} (the model's parameters), got {x.dtype}; "
            f"convert it with {name}.to({dtype}), or the model with model.to({x.dtype})"
        )


def available_memory(device: torch.device) -> int | None:
    """Bytes that can still be allocated on ``device`` (None: unknown, e.g. on the meta device)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(what: str, nbytes: int, device, advice: str) -> None:
    """Raises ``TooLargeError`` when ``nbytes`` for ``what`` exceed the memory available on ``device``.

    Sizes under 256 MiB pass without asking the system. ``advice`` says how to ask for less.
    """
    if nbytes < SMALL:
        return
    device = torch.device("cpu" if device is None else device)
    free = available_memory(device)
    if free is not None and nbytes > free:
        raise TooLargeError(
            f"{what} needs {nbytes / GiB:.1f} GiB, more than the {free / GiB:.1f} GiB available on {device}; {advice}"
        )
