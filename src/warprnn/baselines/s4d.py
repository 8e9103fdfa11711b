r"""S4D: a diagonal state-space layer (Gu et al., "On the Parameterization and Initialization of
Diagonal State Space Models", NeurIPS 2022), with its two equal views.

Per channel h, N/2 complex modes n (the conjugate half is implied, hence the factor 2 Re):

    s_t = dA s_{t-1} + dB u_t          dA = exp(dt A),  dB = (dA - 1) / A     (zero-order hold)
    y_t = 2 Re(C s_t) + D u_t                                                  recurrent view
        = sum_{k<=t} K_{t-k} u_k + D u_t,   K_l = 2 Re(C dB dA^l)              convolutional view

with ``A = -exp(log_A_real) + i A_imag`` initialised S4D-Lin (``-1/2 + i pi n``) and
``dt = exp(log_dt)``, log-uniform in [1e-3, 1e-1].
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..config import WarpConfig
from .base import Baseline


class S4DLayer(nn.Module):
    """One S4D layer on ``(batch, T, H)``: the state-space convolution, then GELU and a linear mix.

    Args:
        width: H, the channels. state_size: N, the state size per channel (N/2 complex modes).
    """

    def __init__(self, width: int, state_size: int = 64, *, device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        modes = state_size // 2
        self.log_dt = nn.Parameter(torch.empty(width, **factory))
        self.log_A_real = nn.Parameter(torch.empty(width, modes, **factory))
        self.A_imag = nn.Parameter(torch.empty(width, modes, **factory))
        self.C = nn.Parameter(torch.empty(width, modes, 2, **factory))  # real and imaginary parts
        self.D = nn.Parameter(torch.empty(width, **factory))
        self.mix = nn.Linear(width, width, **factory)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """S4D-Lin initialisation; C ~ N(0, 1/2) per real part, D ~ N(0, 1)."""
        with torch.no_grad():
            self.log_dt.uniform_(math.log(1e-3), math.log(1e-1))
            self.log_A_real.fill_(math.log(0.5))
            self.A_imag.copy_(math.pi * torch.arange(self.A_imag.shape[1]).expand_as(self.A_imag))
            self.C.normal_(std=0.5**0.5)
            self.D.normal_()
            self.mix.reset_parameters()

    def discretised(self) -> tuple[Tensor, Tensor, Tensor]:
        """dA, dB (ZOH) and C as complex tensors, each ``(H, N/2)``."""
        A = torch.complex(-self.log_A_real.exp(), self.A_imag)
        dtA = A * self.log_dt.exp().unsqueeze(-1)
        dA = dtA.exp()
        dB = (dA - 1) / A
        return dA, dB, torch.view_as_complex(self.C)

    def kernel(self, length: int) -> Tensor:
        """The convolution kernel ``K_l = 2 Re(C dB dA^l)`` for ``l < length``, shape ``(H, length)``."""
        dA, dB, C = self.discretised()
        powers = dA.unsqueeze(-1) ** torch.arange(length, device=dA.device)  # (H, N/2, length)
        return 2 * torch.einsum("hn,hnl->hl", C * dB, powers).real

    def ssm(self, u: Tensor) -> Tensor:
        """Convolutional view by FFT: u ``(batch, T, H)`` -> ``(batch, T, H)``."""
        T = u.shape[1]
        K_f = torch.fft.rfft(self.kernel(T), n=2 * T)  # (H, F)
        u_f = torch.fft.rfft(u.transpose(1, 2), n=2 * T)  # (batch, H, F)
        y = torch.fft.irfft(u_f * K_f, n=2 * T)[..., :T].transpose(1, 2)
        return y + u * self.D

    def ssm_step(self, u_t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """Recurrent view, one step: u_t ``(batch, H)``, s ``(batch, H, N/2)`` complex -> (y_t, s_t)."""
        dA, dB, C = self.discretised()
        s = dA * s + dB * u_t.unsqueeze(-1)
        return 2 * torch.einsum("hn,bhn->bh", C, s).real + u_t * self.D, s

    def initial_state(self, batch: int) -> Tensor:
        """A zero state ``(batch, H, N/2)`` complex."""
        return torch.zeros(batch, *self.A_imag.shape, dtype=torch.complex(self.D, self.D).dtype, device=self.D.device)

    def forward(self, u: Tensor) -> Tensor:
        """The layer over ``u`` ``(batch, T, H)`` by convolution: ``(batch, T, H)``."""
        return self.mix(nn.functional.gelu(self.ssm(u)))

    def step(self, u_t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """One step of the layer, as a recurrence: ``u_t`` ``(batch, H)`` -> output ``(batch, H)`` and the new state."""
        y, s = self.ssm_step(u_t, s)
        return self.mix(nn.functional.gelu(y)), s


class S4DBaseline(Baseline):
    """S4D: input projection to ``width`` channels, then ``layers`` residual S4D layers (``S4DLayer``)."""

    def __init__(
        self, config: WarpConfig, width: int, layers: int = 2, state_size: int = 64, *, device=None, dtype=None
    ):
        super().__init__(config, width, device=device, dtype=dtype)
        self.embed = nn.Linear(config.in_channels, width, device=device, dtype=dtype)
        self.layers = nn.ModuleList(S4DLayer(width, state_size, device=device, dtype=dtype) for _ in range(layers))

    def encode(self, x: Tensor) -> Tensor:
        """The layers over ``x`` ``(batch, T, C)``: ``(batch, T, width)``."""
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
        """One step of every layer: ``x_t`` ``(batch, C)`` -> ``(batch, width)`` and the layers' new states."""
        h = self.embed(x_t)
        inner = [layer.initial_state(x_t.shape[0]) for layer in self.layers] if inner is None else inner
        states = []
        for layer, s in zip(self.layers, inner):
            y, s = layer.step(h, s)
            h = h + y
            states.append(s)
        return h, states
