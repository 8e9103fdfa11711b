"""A causal Transformer baseline with WARP's interface."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..config import WarpConfig
from .base import Baseline


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
        layer = nn.TransformerEncoderLayer(
            width, math.gcd(width, 4), 2 * width, dropout=0.0, batch_first=True, norm_first=True, **factory
        )
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
