"""The part every baseline shares: input checks, teacher-forced and autoregressive runs, streaming
``init_state`` / ``step``, and a linear readout to WARP's raw output, read by WARP's heads."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .. import heads, instance_norm
from ..checks import check_choice, check_dtype, check_sequence
from ..config import Mode, WarpConfig
from ..errors import InputError
from ..heads import WarpOutput

MODES = typing.get_args(Mode)  # accepted for interface parity: a baseline has one path


@dataclass
class BaselineState:
    """Streaming state of ``Baseline.step``: the encoder's state after ``t`` steps."""

    inner: Any  # the encoder's own state, None before the first step
    t: int
    seq_len: int


class Baseline(nn.Module):
    """The shared part: input checks, teacher-forced and autoregressive runs, streaming, the readout.

    Subclasses define ``encode(x)`` ``(batch, T, C) -> (batch, T, H)`` (causal),
    ``encode_step(x_t, inner)`` ``(batch, C) -> ((batch, H), inner)`` and ``encode_prefix(x)``, which is
    ``encode`` that also returns the state after the last step.
    """

    def __init__(self, config: WarpConfig, width: int, *, device=None, dtype=None):
        super().__init__()
        self.config, self.width = config, width
        self.readout = nn.Linear(width, config.out_features, device=device, dtype=dtype)
        self.norm_steps = config.normalisation_steps()  # None: no instance normalisation

    def reset_parameters(self) -> None:
        """Re-initialises every submodule with its own default initialisation."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(
        self,
        x: Tensor,
        lengths: Tensor | None = None,
        *,
        context: int | None = None,
        teacher_forcing: float | None = None,
        mode: Mode = "scan",
        generator: torch.Generator | None = None,
    ) -> WarpOutput:
        """Same arguments and output as ``WARP.forward``; ``theta`` holds the encoder's features."""
        lengths = check_sequence(x, self.config.in_channels, lengths, self.readout.weight.dtype)
        check_choice("mode", mode, MODES)
        T = x.shape[1]
        valid = torch.arange(T, device=x.device) < lengths[:, None]  # (batch, T)
        x = x.masked_fill(~valid.unsqueeze(-1), 0.0)
        if self.norm_steps is not None:
            x, loc, scale = instance_norm.normalise(x, lengths, valid, self.norm_steps, self.config.instance_norm)
        if context is None and teacher_forcing is None:
            hidden = self.encode(x)  # (batch, T, H)
            raw = self.readout(hidden)
        else:
            feed_truth, noise = heads.feeding(self.config, x, context, teacher_forcing, generator)
            hidden, raw = self.autoregressive(x, 1 if context is None else context, feed_truth, noise)
        hidden = hidden.masked_fill(~valid.unsqueeze(-1), 0.0)
        out = heads.sequence_output(self.config, raw, hidden, valid, lengths)
        return out if self.norm_steps is None else instance_norm.denormalise(out, loc, scale, valid)

    def autoregressive(
        self, x: Tensor, context: int, feed_truth: Tensor, noise: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """The first ``context`` steps (all fed the data) in one call, then step by step, feeding the data
        where ``feed_truth`` ``(batch, T)`` says, else the previous step's prediction.

        Returns:
            features ``(batch, T, H)`` and raw outputs ``(batch, T, out)``.
        """
        prefix, inner = self.encode_prefix(x[:, :context])  # (batch, L, H)
        hiddens, raws = list(prefix.unbind(1)), list(self.readout(prefix).unbind(1))
        for t in range(context, x.shape[1]):
            prediction = heads.feedback(self.config, raws[-1], None if noise is None else noise[:, t - 1])
            fed = torch.where(feed_truth[:, t, None], x[:, t], heads.with_covariates(self.config, prediction, x[:, t]))
            hidden, inner = self.encode_step(fed, inner)
            hiddens.append(hidden)
            raws.append(self.readout(hidden))
        return torch.stack(hiddens, dim=1), torch.stack(raws, dim=1)

    def init_state(self, batch_size: int, seq_len: int) -> BaselineState:
        """An empty streaming state (``seq_len`` bounds the number of steps, as for WARP)."""
        if not isinstance(seq_len, int) or seq_len < 2:
            raise InputError(f"seq_len: expected an integer >= 2, got {seq_len!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
        instance_norm.check_streamable(self.norm_steps)
        return BaselineState(inner=None, t=0, seq_len=seq_len)

    def step(self, x_t: Tensor, state: BaselineState) -> tuple[WarpOutput, BaselineState]:
        """Feeds ``x_t`` ``(batch, C)``; the output predicts the next value."""
        if not isinstance(x_t, Tensor) or x_t.dim() != 2 or x_t.shape[1] != self.config.in_channels:
            shape = tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__
            raise InputError(f"x_t: expected shape (batch, {self.config.in_channels}), got {shape}")
        check_dtype("x_t", x_t, self.readout.weight.dtype)
        if not torch.isfinite(x_t).all():
            raise InputError("x_t: contains NaN or Inf")
        if state.t >= state.seq_len:
            raise InputError(f"state: all {state.seq_len} steps of seq_len have been taken")
        hidden, inner = self.encode_step(x_t, state.inner)
        out = heads.step_output(self.config, self.readout(hidden), hidden)
        return out, BaselineState(inner=inner, t=state.t + 1, seq_len=state.seq_len)
