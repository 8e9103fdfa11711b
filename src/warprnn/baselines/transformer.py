"""A causal Transformer baseline with WARP's interface."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..config import WarpConfig
from .base import Baseline

MIN_HEAD_DIM = 16


def attention_heads(width: int) -> int:
    """The number of attention heads for ``width``: the most heads that divide it into heads of at least
    ``MIN_HEAD_DIM`` features each, one below that (24 -> 1, 33 -> 1, 64 -> 4, 96 -> 6).

    Heads are chosen by their dimension because narrow heads make attention slow without making it
    smaller: the parameter count does not depend on the number of heads, and on one CPU thread a causal
    attention over (32, 256) steps at width 24, forward and backward, took 76 ms as 4 heads of 6 and
    15 ms as 1 head of 24 (torch's flash kernel for CPU); lv-copy-cpu's whole training batch, 200 and 55 ms.
    """
    return max((h for h in range(1, width // MIN_HEAD_DIM + 1) if width % h == 0), default=1)


class TransformerBaseline(Baseline):
    """A causal Transformer encoder: input projection, sinusoidal positions, ``layers`` pre-norm layers
    of ``attention_heads(width)`` heads, feed-forward width ``2 * width``, no dropout.

    ``encode`` runs ``torch.nn``'s encoder over a whole sequence. ``step`` and autoregressive runs keep each
    layer's keys and values of the steps fed so far (a key-value cache, the state): step t attends over
    them instead of re-encoding its t-step prefix, and equals ``encode`` (``test_baselines.py`` checks
    values and gradients in float64 against re-encoding the prefix at every step).
    """

    def __init__(self, config: WarpConfig, width: int, layers: int = 2, *, device=None, dtype=None):
        super().__init__(config, width, device=device, dtype=dtype)
        factory = {"device": device, "dtype": dtype}
        self.embed = nn.Linear(config.in_channels, width, **factory)
        layer = nn.TransformerEncoderLayer(
            width, attention_heads(width), 2 * width, dropout=0.0, batch_first=True, norm_first=True, **factory
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width, **factory)

    def positions(self, steps: Tensor) -> Tensor:
        """Sinusoidal encoding of the step indices ``steps`` ``(T,)``: ``(T, width)``."""
        half = self.width // 2
        freqs = 10000.0 ** (-torch.arange(half, device=steps.device, dtype=self.norm.weight.dtype) / half)
        angles = steps[:, None] * freqs
        pe = torch.cat([angles.sin(), angles.cos()], dim=-1)
        return nn.functional.pad(pe, (0, self.width - 2 * half))

    def embedded(self, x: Tensor, t0: int) -> Tensor:
        """The layers' input for ``x`` ``(batch, T, C)`` fed at steps t0 .. t0 + T - 1: ``(batch, T, width)``."""
        return self.embed(x) + self.positions(torch.arange(t0, t0 + x.shape[1], device=x.device))

    def encode(self, x: Tensor) -> Tensor:
        """The causal encoder over ``x`` ``(batch, T, C)``: ``(batch, T, width)``."""
        T = x.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(T, device=x.device, dtype=x.dtype)
        return self.norm(self.encoder(self.embedded(x, 0), mask=mask, is_causal=True))

    def query_key_value(self, layer: nn.TransformerEncoderLayer, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The attention's query, key and value of ``layer`` for its input ``h`` ``(batch, T, width)``, each
        ``(batch, heads, T, width / heads)``."""
        attn = layer.self_attn
        qkv = F.linear(layer.norm1(h), attn.in_proj_weight, attn.in_proj_bias)  # (batch, T, 3 width)
        heads = qkv.view(*h.shape[:2], 3 * attn.num_heads, attn.head_dim).transpose(1, 2)
        return heads.chunk(3, dim=1)

    def attend(self, layer: nn.TransformerEncoderLayer, h: Tensor, past: tuple[Tensor, Tensor] | None):
        """``layer`` on ``h`` ``(batch, T, width)``, the steps fed after those whose keys and values ``past``
        holds (None: none, the steps of ``h`` attend causally among themselves; else each step of ``h`` attends
        over all of ``past`` and itself, for T = 1). Returns the layer's output ``(batch, T, width)`` and the
        keys and values of ``past`` and ``h``, each ``(batch, heads, t + T, head_dim)``: torch's pre-norm layer
        written out, so that its keys and values are kept."""
        q, k, v = self.query_key_value(layer, h)  # (batch, heads, T, head_dim)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=past is None)
        h = h + layer.self_attn.out_proj(attended.transpose(1, 2).reshape(h.shape))
        return h + layer.linear2(layer.activation(layer.linear1(layer.norm2(h)))), (k, v)

    def encode_prefix(self, x: Tensor):
        """``encode`` of ``x`` ``(batch, L, C)``, and the cache: each layer's keys and values, and L."""
        h, cache = self.embedded(x, 0), []
        for layer in self.encoder.layers:
            h, keys_values = self.attend(layer, h, None)
            cache.append(keys_values)
        return self.norm(h), (cache, x.shape[1])

    def encode_step(self, x_t: Tensor, inner):
        """One step fed ``x_t`` ``(batch, C)``: its features ``(batch, width)`` and the cache grown by it."""
        cache, t = (None, 0) if inner is None else inner
        h, grown = self.embedded(x_t.unsqueeze(1), t), []  # (batch, 1, width)
        for i, layer in enumerate(self.encoder.layers):
            h, keys_values = self.attend(layer, h, None if cache is None else cache[i])
            grown.append(keys_values)
        return self.norm(h[:, 0]), (grown, t + 1)


def reference_forecast(model: TransformerBaseline, x: Tensor, context: int) -> Tensor:
    """The reference of the cache: an autoregressive forecast that re-encodes the whole sequence fed so far
    at every step, ``model(fed)``, and feeds its last prediction back. ``x`` ``(batch, T, C)``; returns the
    means ``(batch, T, out)``, equal to ``model(x, context=context).mean``."""
    fed = x[:, :context]
    for _ in range(context, x.shape[1]):
        fed = torch.cat([fed, model(fed).mean[:, -1:]], dim=1)
    return model(fed).mean
