"""Baselines with WARP's interface: GRU, LSTM, a causal Transformer and S4D, matched in size.

Every baseline is a causal encoder of the fed values followed by a linear readout to the same raw output
as WARP's root (``WarpConfig.out_features``), read by the same heads (``warprnn.heads``): the same inputs,
lengths, heads, autoregressive protocol (context L, teacher forcing, mean or sampled feedback) and
streaming ``init_state`` / ``step``. At step t a baseline sees the fed values ``x_0 .. x_t`` and its
output predicts ``x_{t+1}``, exactly as WARP. It sees no time channel: WARP's tau is part of how its
root decodes, while a recurrent or attention model already knows its position (the Transformer through
its positional encoding).

``build_model(name, config)`` returns WARP or a baseline whose width ``match_width`` chooses so that its
trainable parameter count is the closest to WARP's (within a few percent for any realistic size).
"""

from __future__ import annotations

import typing
from typing import Literal

from torch import nn

from ..checks import check_choice
from ..config import WarpConfig
from ..model import WARP
from .base import Baseline, BaselineState
from .rnn import RNNBaseline
from .s4d import S4DBaseline
from .transformer import TransformerBaseline

ModelName = Literal["warp", "gru", "lstm", "transformer", "s4d"]
"""The models of the library: WARP and its baselines (``ExperimentConfig.model``)."""
MODELS: tuple[str, ...] = typing.get_args(ModelName)

BASELINES = {
    "gru": lambda config, width, **factory: RNNBaseline(config, width, "gru", **factory),
    "lstm": lambda config, width, **factory: RNNBaseline(config, width, "lstm", **factory),
    "transformer": TransformerBaseline,
    "s4d": S4DBaseline,
}
assert set(BASELINES) == set(MODELS) - {"warp"}, "every baseline of ModelName has a builder"


def count_parameters(module: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def match_width(name: str, config: WarpConfig, target: int | None = None) -> int:
    """The width of baseline ``name`` whose parameter count is the closest to ``target`` (default: the
    WARP model of ``config``). Candidate models are built on the meta device: no memory is used."""
    check_choice("model", name, tuple(BASELINES))
    target = count_parameters(WARP(config, device="meta")) if target is None else target

    def count(width):
        return count_parameters(BASELINES[name](config, width, device="meta"))

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


__all__ = [
    "Baseline",
    "RNNBaseline",
    "TransformerBaseline",
    "S4DBaseline",
    "BaselineState",
    "MODELS",
    "build_model",
    "match_width",
    "count_parameters",
    "relative_size",
]
