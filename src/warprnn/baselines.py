"""Baselines with WARP's interface: GRU, LSTM, a causal Transformer and S4D, matched in size.

Every baseline is a causal encoder of the fed values followed by a linear readout to the same raw output
as WARP's root (``WarpConfig.out_features``), read by the same heads (``heads.py``): the same inputs,
lengths, heads, autoregressive protocol (context L, teacher forcing, mean or sampled feedback) and
streaming ``init_state`` / ``step``. At step t a baseline sees the fed values ``x_0 .. x_t`` and its
output predicts ``x_{t+1}``, exactly as WARP. It sees no time channel: WARP's tau is part of how its
root decodes, while a recurrent or attention model already knows its position (the Transformer through
its positional encoding).

``build_model(name, config)`` returns WARP or a baseline whose width ``match_width`` chooses so that its
trainable parameter count is the closest to WARP's (within a few percent for any realistic size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from . import heads
from .checks import check_choice, check_sequence
from .config import WarpConfig
from .heads import WarpOutput
from .model import WARP
from .s4d import S4DLayer

MODES = ("reference", "scan", "conv", "auto")  # accepted for interface parity: a baseline has one path


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

    def reset_parameters(self) -> None:
        """Re-initialises every submodule with its own default initialisation."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(self, x: Tensor, lengths: Tensor | None = None, *, context: int | None = None,
                teacher_forcing: float | None = None, mode: str = "scan",
                generator: torch.Generator | None = None) -> WarpOutput:
        """Same arguments and output as ``WARP.forward``; ``theta`` holds the encoder's features."""
        lengths = check_sequence(x, self.config.in_channels, lengths)
        check_choice("mode", mode, MODES)
        T = x.shape[1]
        valid = torch.arange(T, device=x.device) < lengths[:, None]  # (batch, T)
        x = x.masked_fill(~valid.unsqueeze(-1), 0.0)
        if context is None and teacher_forcing is None:
            hidden = self.encode(x)  # (batch, T, H)
            raw = self.readout(hidden)
        else:
            feed_truth, noise = heads.feeding(self.config, x, context, teacher_forcing, generator)
            hidden, raw = self.autoregressive(x, 1 if context is None else context, feed_truth, noise)
        hidden = hidden.masked_fill(~valid.unsqueeze(-1), 0.0)
        return heads.sequence_output(self.config, raw, hidden, valid, lengths)

    def autoregressive(self, x: Tensor, context: int, feed_truth: Tensor,
                       noise: Tensor | None) -> tuple[Tensor, Tensor]:
        """The first ``context`` steps (all fed the data) in one call, then step by step, feeding the data
        where ``feed_truth`` ``(batch, T)`` says, else the previous step's prediction.

        Returns:
            features ``(batch, T, H)`` and raw outputs ``(batch, T, out)``.
        """
        prefix, inner = self.encode_prefix(x[:, :context])  # (batch, L, H)
        hiddens, raws = list(prefix.unbind(1)), list(self.readout(prefix).unbind(1))
        for t in range(context, x.shape[1]):
            prediction = heads.feedback(self.config, raws[-1], None if noise is None else noise[:, t - 1])
            hidden, inner = self.encode_step(torch.where(feed_truth[:, t, None], x[:, t], prediction), inner)
            hiddens.append(hidden)
            raws.append(self.readout(hidden))
        return torch.stack(hiddens, dim=1), torch.stack(raws, dim=1)

    def init_state(self, batch_size: int, seq_len: int) -> BaselineState:
        """An empty streaming state (``seq_len`` bounds the number of steps, as for WARP)."""
        if not isinstance(seq_len, int) or seq_len < 2:
            raise ValueError(f"seq_len: expected an integer >= 2, got {seq_len!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
        return BaselineState(inner=None, t=0, seq_len=seq_len)

    def step(self, x_t: Tensor, state: BaselineState) -> tuple[WarpOutput, BaselineState]:
        """Feeds ``x_t`` ``(batch, C)``; the output predicts the next value."""
        if not isinstance(x_t, Tensor) or x_t.dim() != 2 or x_t.shape[1] != self.config.in_channels:
            shape = tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__
            raise ValueError(f"x_t: expected shape (batch, {self.config.in_channels}), got {shape}")
        if not torch.isfinite(x_t).all():
            raise ValueError("x_t: contains NaN or Inf")
        if state.t >= state.seq_len:
            raise ValueError(f"state: all {state.seq_len} steps of seq_len have been taken")
        hidden, inner = self.encode_step(x_t, state.inner)
        out = heads.step_output(self.config, self.readout(hidden), hidden)
        return out, BaselineState(inner=inner, t=state.t + 1, seq_len=state.seq_len)


class RNNBaseline(Baseline):
    """GRU or LSTM (``torch.nn``), ``layers`` layers of ``width`` units."""

    def __init__(self, config: WarpConfig, width: int, cell: str = "gru", layers: int = 1, *, device=None, dtype=None):
        super().__init__(config, width, device=device, dtype=dtype)
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.rnn = rnn(config.in_channels, width, layers, batch_first=True, device=device, dtype=dtype)

    def encode(self, x: Tensor) -> Tensor:
        return self.rnn(x)[0]

    def encode_prefix(self, x: Tensor):
        return self.rnn(x)

    def encode_step(self, x_t: Tensor, inner):
        out, inner = self.rnn(x_t.unsqueeze(1), inner)
        return out[:, 0], inner


class TransformerBaseline(Baseline):
    """A causal Transformer encoder: input projection, sinusoidal positions, ``layers`` pre-norm layers
    of ``gcd(width, 4)`` attention heads (4 when the width allows), feed-forward width ``2 * width``,
    no dropout.

    ``step`` recomputes the encoder over the prefix fed so far (its state), so it equals ``forward`` at
    the cost of O(t) work per step.
    """

    def __init__(self, config: WarpConfig, width: int, layers: int = 2, *, device=None, dtype=None):
        super().__init__(config, width, device=device, dtype=dtype)
        factory = {"device": device, "dtype": dtype}
        self.embed = nn.Linear(config.in_channels, width, **factory)
        layer = nn.TransformerEncoderLayer(width, math.gcd(width, 4), 2 * width, dropout=0.0, batch_first=True,
                                           norm_first=True, **factory)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width, **factory)

    def positions(self, T: int, like: Tensor) -> Tensor:
        """Sinusoidal encoding of the step index, ``(T, width)``."""
        half = self.width // 2
        freqs = 10000.0 ** (-torch.arange(half, device=like.device, dtype=like.dtype) / half)
        angles = torch.arange(T, device=like.device, dtype=like.dtype)[:, None] * freqs
        pe = torch.cat([angles.sin(), angles.cos()], dim=-1)
        return nn.functional.pad(pe, (0, self.width - 2 * half))

    def encode(self, x: Tensor) -> Tensor:
        T = x.shape[1]
        h = self.embed(x) + self.positions(T, x)
        mask = nn.Transformer.generate_square_subsequent_mask(T, device=x.device, dtype=x.dtype)
        return self.norm(self.encoder(h, mask=mask, is_causal=True))

    def encode_prefix(self, x: Tensor):
        return self.encode(x), x

    def encode_step(self, x_t: Tensor, inner):
        prefix = x_t.unsqueeze(1) if inner is None else torch.cat([inner, x_t.unsqueeze(1)], dim=1)
        return self.encode(prefix)[:, -1], prefix


class S4DBaseline(Baseline):
    """S4D: input projection to ``width`` channels, then ``layers`` residual S4D layers (``s4d.py``)."""

    def __init__(self, config: WarpConfig, width: int, layers: int = 2, state_size: int = 64, *, device=None, dtype=None):
        super().__init__(config, width, device=device, dtype=dtype)
        self.embed = nn.Linear(config.in_channels, width, device=device, dtype=dtype)
        self.layers = nn.ModuleList(S4DLayer(width, state_size, device=device, dtype=dtype) for _ in range(layers))

    def encode(self, x: Tensor) -> Tensor:
        h = self.embed(x)
        for layer in self.layers:
            h = h + layer(h)
        return h

    def encode_prefix(self, x: Tensor):
        """Step by step: the recurrent view gives the states the next steps need."""
        inner, hiddens = None, []
        for t in range(x.shape[1]):
            hidden, inner = self.encode_step(x[:, t], inner)
            hiddens.append(hidden)
        return torch.stack(hiddens, dim=1), inner

    def encode_step(self, x_t: Tensor, inner):
        h = self.embed(x_t)
        inner = [layer.initial_state(x_t.shape[0]) for layer in self.layers] if inner is None else inner
        states = []
        for layer, s in zip(self.layers, inner):
            y, s = layer.step(h, s)
            h = h + y
            states.append(s)
        return h, states


BASELINES = {
    "gru": lambda config, width, **factory: RNNBaseline(config, width, "gru", **factory),
    "lstm": lambda config, width, **factory: RNNBaseline(config, width, "lstm", **factory),
    "transformer": TransformerBaseline,
    "s4d": S4DBaseline,
}
MODELS = ("warp", *BASELINES)


def count_parameters(module: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def match_width(name: str, config: WarpConfig, target: int | None = None) -> int:
    """The width of baseline ``name`` whose parameter count is the closest to ``target`` (default: the
    WARP model of ``config``). Candidate models are built on the meta device: no memory is used."""
    check_choice("model", name, tuple(BASELINES))
    target = count_parameters(WARP(config, device="meta")) if target is None else target
    count = lambda width: count_parameters(BASELINES[name](config, width, device="meta"))
    low, high = 1, 1
    while count(high) < target:
        low, high = high, 2 * high
    while high - low > 1:  # count(low) < target <= count(high)
        middle = (low + high) // 2
        low, high = (middle, high) if count(middle) < target else (low, middle)
    return min((low, high), key=lambda width: abs(count(width) - target))


def build_model(name: str, config: WarpConfig, *, device=None, dtype=None) -> nn.Module:
    """WARP (``name="warp"``) or a baseline with the same heads, parameter-matched to WARP.

    Args:
        name: one of ``MODELS``. config: the WARP architecture (its head options apply to every model).
    """
    check_choice("model", name, MODELS)
    if name == "warp":
        return WARP(config, device=device, dtype=dtype)
    return BASELINES[name](config, match_width(name, config), device=device, dtype=dtype)


def relative_size(model: nn.Module, config: WarpConfig) -> float:
    """The parameter count of ``model`` relative to the WARP model of ``config`` (1.0: equal)."""
    return count_parameters(model) / count_parameters(WARP(config, device="meta"))


__all__ = ["Baseline", "RNNBaseline", "TransformerBaseline", "S4DBaseline", "BaselineState", "MODELS",
           "build_model", "match_width", "count_parameters", "relative_size"]
