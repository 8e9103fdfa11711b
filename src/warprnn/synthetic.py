"""Synthetic sequence generators: seeded, vectorised over trajectories, ready in seconds.

Each returns float32 tensors, batch-first ``(n, T, channels)``, drawn from a ``torch.Generator`` so that
a seed fixes the data. Parameters are drawn in float64 and the dynamics evaluated in float64.

- ``mass_spring_damper``: m x'' + c x' + k x = 0, closed form (``roots.damped_oscillator``).
- ``lotka_volterra``: x' = a x - b x y, y' = c x y - d y, batched fixed-step RK4.
- ``repeat_copy``: the Lotka-Volterra repeat-copy task built from trajectories.
- ``sine``: sin(2 pi t + phase).
- ``linear_regression_tokens``: in-context linear regression sequences; ``icl_layout`` lays them out
  for WARP.
- ``spirals``: clockwise and anticlockwise 2-D spirals, for classification.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .roots import damped_oscillator


def uniform(n: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    """n draws from U(low, high) in float64."""
    return torch.rand(n, generator=generator, dtype=torch.float64) * (high - low) + low


def mass_spring_damper(n: int, seq_len: int, *, m: tuple[float, float], k: tuple[float, float],
                       c: tuple[float, float], generator: torch.Generator,
                       x0_jitter: float = 0.0) -> tuple[Tensor, Tensor]:
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


def lotka_volterra(n: int, seq_len: int, *, ad: tuple[float, float], bc: tuple[float, float],
                   generator: torch.Generator, substeps: int = 20) -> tuple[Tensor, Tensor]:
    """Trajectories of ``x' = a x - b x y``, ``y' = c x y - d y`` from (1, 1) on t in [0, 1].

    Args:
        n: number of trajectories. ad: range of a and d. bc: range of b and c (uniform draws).
        substeps: RK4 steps between two saved steps.

    Returns:
        states ``(n, seq_len, 2)`` float32 holding (x, y), and parameters ``(n, 4)`` holding (a, b, c, d).
    """
    a, d = uniform(n, *ad, generator), uniform(n, *ad, generator)
    b, c = uniform(n, *bc, generator), uniform(n, *bc, generator)

    def f(s: Tensor) -> Tensor:  # s: (n, 2)
        x, y = s[:, 0], s[:, 1]
        return torch.stack([a * x - b * x * y, c * x * y - d * y], dim=-1)

    state = torch.ones(n, 2, dtype=torch.float64)
    dt = 1.0 / (seq_len - 1) / substeps
    saved = [state]
    for _ in range((seq_len - 1) * substeps):
        k1 = f(state)
        k2 = f(state + dt / 2 * k1)
        k3 = f(state + dt / 2 * k2)
        k4 = f(state + dt * k3)
        state = state + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        saved.append(state)
    states = torch.stack(saved[::substeps], dim=1)  # (n, T, 2)
    return states.float(), torch.stack([a, b, c, d], dim=-1)


def repeat_copy(trajectories: Tensor, cuts: Tensor, gap: int) -> tuple[Tensor, Tensor]:
    """The repeat-copy task: the input is the trajectory zeroed from step r on; the target repeats the
    first r steps, each copy followed by ``gap`` zero steps, up to the sequence length.

    Args:
        trajectories: ``(n, T, C)``. cuts: ``(n,)`` integers r. gap: zero steps after each copy.

    Returns:
        inputs and targets, both ``(n, T, C)``.
    """
    n, T, _ = trajectories.shape
    steps = torch.arange(T)
    inputs = trajectories * (steps[None, :] < cuts[:, None]).unsqueeze(-1)
    period = cuts[:, None] + gap  # (n, 1)
    phase = steps[None, :] % period  # (n, T): position inside the current copy-plus-gap
    source = trajectories.gather(1, phase.clamp_max(T - 1).unsqueeze(-1).expand_as(trajectories))
    targets = source * (phase < cuts[:, None]).unsqueeze(-1)
    return inputs, targets


def sine(n: int, seq_len: int, *, phase: tuple[float, float], generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``sin(2 pi t + phase)`` on ``seq_len`` uniform steps of t in [0, 1].

    Returns:
        values ``(n, seq_len, 1)`` and phases ``(n,)``.
    """
    phases = uniform(n, *phase, generator)
    t = torch.linspace(0, 1, seq_len, dtype=torch.float64)
    return torch.sin(2 * math.pi * t[None, :] + phases[:, None]).unsqueeze(-1).float(), phases


def linear_regression_tokens(n: int, num_tokens: int, dim: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """In-context linear regression: per sequence a weight w and keys x ~ U(-1, 1)^dim, values y = w.x.

    Returns:
        tokens ``(n, num_tokens, dim + 1)`` holding (x, y), and weights ``(n, dim)``.
    """
    w = torch.rand(n, dim, generator=generator, dtype=torch.float64) * 2 - 1
    x = torch.rand(n, num_tokens, dim, generator=generator, dtype=torch.float64) * 2 - 1
    y = torch.einsum("ntd,nd->nt", x, w)
    return torch.cat([x, y.unsqueeze(-1)], dim=-1).float(), w.float()


def icl_layout(tokens: Tensor) -> tuple[Tensor, Tensor]:
    """In-context regression tokens as WARP inputs and targets; the last token is the query.

    Input channels at step t: the cumulative sums of the keys and of the values up to t, with the
    query's value counted as 0 (hidden), so that the differences ``x_t - x_{t-1}`` are the tokens (the
    paper's cumulative-sum transform); then the next key x_{t+1} (0 at the last step), which the root reads
    (``WarpConfig.key_channels``). The output at step t predicts y_{t+1}: the target's value channel
    holds y_t, every other channel 0.

    Args:
        tokens: ``(n, N, D + 1)`` keys and values (``linear_regression_tokens``).

    Returns:
        inputs and targets, both ``(n, N, 2 D + 1)``.
    """
    keys, values = tokens[..., :-1], tokens[..., -1:]
    hidden = torch.cat([values[:, :-1], torch.zeros_like(values[:, -1:])], dim=1)
    next_keys = torch.cat([keys[:, 1:], torch.zeros_like(keys[:, :1])], dim=1)
    inputs = torch.cat([keys.cumsum(1), hidden.cumsum(1), next_keys], dim=-1)
    targets = torch.cat([torch.zeros_like(keys), values, torch.zeros_like(keys)], dim=-1)
    return inputs, targets


def spirals(n: int, seq_len: int, generator: torch.Generator, noise: float = 0.05) -> tuple[Tensor, Tensor]:
    """2-D spirals ``r(t) (cos, sin)(theta_0 -+ 2 pi t)``, label 0 anticlockwise and 1 clockwise.

    Radius ``r(t) = r_0 (1 - 0.8 t)`` with r_0 ~ U(0.5, 1.5), start angle ~ U(0, 2 pi), t in [0, 1],
    Gaussian noise of std ``noise`` on every point.

    Returns:
        points ``(n, seq_len, 2)`` and labels ``(n,)`` int64.
    """
    labels = torch.randint(0, 2, (n,), generator=generator)
    start, r0 = uniform(n, 0, 2 * math.pi, generator), uniform(n, 0.5, 1.5, generator)
    t = torch.linspace(0, 1, seq_len, dtype=torch.float64)[None, :]
    direction = 1 - 2 * labels[:, None].double()  # +1 anticlockwise, -1 clockwise
    angle = start[:, None] + direction * 2 * math.pi * t
    radius = r0[:, None] * (1 - 0.8 * t)
    points = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=-1)
    points = points + noise * torch.randn(points.shape, generator=generator, dtype=torch.float64)
    return points.float(), labels
