"""GRU and LSTM baselines (``torch.nn``) with WARP's interface."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import WarpConfig
from .base import Baseline


class RNNBaseline(Baseline):
    """GRU or LSTM (``torch.nn``), ``layers`` layers of ``width`` units."""

    def __init__(self, config: WarpConfig, width: int, cell: str = "gru", layers: int = 1, *, device=None, dtype=None):
        super().__init__(config, width, device=device, dtype=dtype)
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.rnn = rnn(config.in_channels, width, layers, batch_first=True, device=device, dtype=dtype)

    def run(self, x: Tensor, inner=None):
        """The cell over ``x`` ``(batch, T, C)``, in the weights' type even under ``torch.autocast`` (the
        recurrence stays fp32 under mixed precision, as WARP's does; CPU LSTMs have no bf16 kernel)."""
        with torch.autocast(x.device.type, enabled=False):
            return self.rnn(x.to(self.rnn.weight_ih_l0.dtype), inner)

    def encode(self, x: Tensor) -> Tensor:
        """The cell's outputs ``(batch, T, width)``."""
        return self.run(x)[0]

    def encode_prefix(self, x: Tensor):
        """The cell's outputs ``(batch, T, width)`` and its state after the last step."""
        return self.run(x)

    def encode_step(self, x_t: Tensor, inner):
        """One step of the cell: ``x_t`` ``(batch, C)`` -> output ``(batch, width)`` and the new state."""
        out, inner = self.run(x_t.unsqueeze(1), inner)
        return out[:, 0], inner
