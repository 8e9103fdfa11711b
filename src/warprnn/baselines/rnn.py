"""GRU and LSTM baselines (``torch.nn``) with WARP's interface."""

from __future__ import annotations

from torch import Tensor, nn

from ..config import WarpConfig
from .base import Baseline


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
