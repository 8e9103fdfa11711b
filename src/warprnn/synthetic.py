"""Synthetic sequence generators: vectorised closed forms, seeded, ready in milliseconds."""

from __future__ import annotations

import torch

from .roots import damped_oscillator


def uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """n draws from U(low, high) in float64."""
    return torch.rand(n, generator=generator, dtype=torch.float64) * (high - low) + low


def mass_spring_damper(n: int, seq_len: int, *, m: tuple[float, float], k: tuple[float, float],
                       c: tuple[float, float], generator: torch.Generator,
                       x0_jitter: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Trajectories of ``m x'' + c x' + k x = 0`` on ``seq_len`` uniform steps of t in [0, 1].

    Args:
        n: number of trajectories. m, k, c: (low, high) ranges of the uniform parameter draws.
        x0_jitter: the initial state is ``(1, 0) + U(-x0_jitter, x0_jitter)^2`` (0: exactly (1, 0)).

    Returns:
        states ``(n, seq_len, 2)`` float32 holding (x, v), and parameters ``(n, 3)`` holding (m, k, c).
    """
    m_, k_, c_ = (uniform(n, *r, generator) for r in (m, k, c))
    x0 = 1.0 + uniform(n, -x0_jitter, x0_jitter, generator) if x0_jitter else torch.ones(n, dtype=torch.float64)
    v0 = uniform(n, -x0_jitter, x0_jitter, generator) if x0_jitter else torch.zeros(n, dtype=torch.float64)
    t = torch.linspace(0, 1, seq_len, dtype=torch.float64)[None, :]  # (1, T)
    x, v = damped_oscillator(t, m_[:, None], k_[:, None], c_[:, None], x0[:, None], v0[:, None])
    return torch.stack([x, v], dim=-1).float(), torch.stack([m_, k_, c_], dim=-1)
