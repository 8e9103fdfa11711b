"""Synthetic data: seeded generators, and the synthetic data sets built from them.

Generators return float32 tensors, batch-first ``(n, T, channels)``, drawn from a ``torch.Generator``
so that a seed fixes the data. Parameters are drawn in float64 and the dynamics evaluated in float64.

- ``mass_spring_damper``: m x'' + c x' + k x = 0, closed form (``physics.damped_oscillator``).
- ``lotka_volterra``: x' = a x - b x y, y' = c x y - d y, batched fixed-step RK4.
- ``repeat_copy``: the Lotka-Volterra repeat-copy task built from trajectories.
- ``sine_waves``: sin(2 pi t + phase).
- ``linear_regression_tokens``: in-context linear regression sequences; ``icl_layout`` lays them out
  for WARP.
- ``spiral_points``: clockwise and anticlockwise 2-D spirals, for classification.

Data sets (``DataConfig`` -> ``SequenceData``, registered in ``registry.py``): ``msd_small``, ``msd``,
``msd_zero``, ``lv_copy``, ``sine``, ``spirals``, ``icl``. Each is a pure function of its config, so it
is cached on disk (``cache.py``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..physics import damped_oscillator
from .config import DataConfig
from .types import SequenceData, Split, StandardScaler, full_lengths


def uniform(n: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    """n draws from U(low, high) in float64."""
    return torch.rand(n, generator=generator, dtype=torch.float64) * (high - low) + low


def mass_spring_damper(
    n: int,
    seq_len: int,
    *,
    m: tuple[float, float],
    k: tuple[float, float],
    c: tuple[float, float],
    generator: torch.Generator,
    x0_jitter: float = 0.0,
) -> tuple[Tensor, Tensor]:
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


def lotka_volterra(
    n: int,
    seq_len: int,
    *,
    ad: tuple[float, float],
    bc: tuple[float, float],
    generator: torch.Generator,
    substeps: int = 20,
) -> tuple[Tensor, Tensor]:
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


def sine_waves(
    n: int, seq_len: int, *, phase: tuple[float, float], generator: torch.Generator
) -> tuple[Tensor, Tensor]:
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


def spiral_points(n: int, seq_len: int, generator: torch.Generator, noise: float = 0.05) -> tuple[Tensor, Tensor]:
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


# ----- data sets ------------------------------------------------------------------------------------


def forecast_splits(train: Tensor, val: Tensor, test: Tensor, context: int, names: tuple[str, ...]) -> SequenceData:
    """Forecasting data whose targets are the inputs, normalised with training statistics."""
    scaler = StandardScaler.fit(train)
    normalised = [scaler.transform(s) for s in (train, val, test)]
    splits = [Split(s, s, full_lengths(s)) for s in normalised]
    return SequenceData(*splits, task="forecast", context=context, scaler=scaler, channel_names=names)


SEQ_LEN = {"msd-small": 64, "msd": 256, "msd-zero": 256, "sine": 16}
"""The default sequence length of each synthetic forecasting set (``data.seq_len`` overrides it)."""


def msd_small(config: DataConfig) -> SequenceData:
    """A small mass-spring-damper reconstruction task for quick runs (the default job).

    The paper's training ranges m ~ U(0.02, 0.04), k ~ U(4, 16), c ~ U(0.01, 0.2), start (1, 0), state
    (x, v) on t in [0, 1]; defaults: 512 / 128 / 256 trajectories of 64 steps, context 16.
    """
    seq_len = config.seq_len or SEQ_LEN["msd-small"]
    sizes = (config.num_train or 512, config.num_val or 128, config.num_test or 256)
    generator = torch.Generator().manual_seed(config.seed)
    ranges = dict(m=(0.02, 0.04), k=(4.0, 16.0), c=(0.01, 0.2))
    splits = [mass_spring_damper(n, seq_len, generator=generator, **ranges)[0] for n in sizes]
    return forecast_splits(*splits, context=config.context or 16, names=("x", "v"))


# ----- the paper's synthetic experiments (Sec. 4.3, 4.4) ---------------------------------------------

MSD_TRAIN_RANGES = dict(m=(0.02, 0.04), k=(4.0, 16.0), c=(0.01, 0.2))
MSD_TEST_RANGES = dict(m=(0.01, 0.05), k=(2.0, 18.0), c=(0.01, 0.3))  # wider: out of distribution


def sizes(config: DataConfig, train: int, val: int, test: int) -> tuple[int, int, int]:
    """Split sizes: the config's where given, else the data set's defaults."""
    return config.num_train or train, config.num_val or val, config.num_test or test


def raw_splits(train: Tensor, val: Tensor, test: Tensor, context: int, names: tuple[str, ...]) -> SequenceData:
    """Forecasting data on its physical scale (no scaler), so that WARP-Phys roots can express it."""
    splits = [Split(s, s, full_lengths(s)) for s in (train, val, test)]
    return SequenceData(*splits, task="forecast", context=context, channel_names=names)


def msd_draws(
    config: DataConfig, x0_jitter: float = 0.0, default_sizes=(20480, 2048, 4096)
) -> list[tuple[Tensor, Tensor]]:
    """The train, validation and test draws of ``msd``: per split, the states ``(N, T, 2)`` and the
    parameters ``(N, 3)`` holding (m, k, c) of each trajectory."""
    n_train, n_val, n_test = sizes(config, *default_sizes)
    seq_len, generator = config.seq_len or SEQ_LEN["msd"], torch.Generator().manual_seed(config.seed)

    def draw(n, ranges):
        return mass_spring_damper(n, seq_len, generator=generator, x0_jitter=x0_jitter, **ranges)

    return [draw(n_train, MSD_TRAIN_RANGES), draw(n_val, MSD_TRAIN_RANGES), draw(n_test, MSD_TEST_RANGES)]


def msd(config: DataConfig, x0_jitter: float = 0.0, default_sizes=(20480, 2048, 4096)) -> SequenceData:
    """Mass-spring-damper reconstruction (paper Sec. 4.3): (x, v) of ``m x'' + c x' + k x = 0`` over 256
    steps of t in [0, 1] from (1, 0). Train and validation draw m ~ U(0.02, 0.04), k ~ U(4, 16),
    c ~ U(0.01, 0.2); the test set the wider out-of-distribution ranges m ~ U(0.01, 0.05), k ~ U(2, 18),
    c ~ U(0.01, 0.3). Context 100. Physical scale (no normalisation)."""
    states = [x for x, _ in msd_draws(config, x0_jitter, default_sizes)]
    return raw_splits(*states, context=config.context or 100, names=("x", "v"))


def msd_zero(config: DataConfig) -> SequenceData:
    """MSD-Zero: as ``msd`` with the initial state (1, 0) + U(-0.5, 0.5)^2 per trajectory; 8,192 / 1,024 /
    2,048 trajectories."""
    return msd(config, x0_jitter=0.5, default_sizes=(8192, 1024, 2048))


def lv_copy(config: DataConfig) -> SequenceData:
    """Lotka-Volterra repeat-copy (paper Sec. 4.3): x' = a x - b x y, y' = c x y - d y from (1, 1), 256
    steps of t in [0, 1]. The input is the trajectory zeroed from a cut r ~ U{32, ..., 63}; the target
    repeats its first r steps, each copy followed by 50 zero steps. Train and validation draw
    a, d ~ U(20, 50), b, c ~ U(80, 120); test a, d ~ U(10, 60), b, c ~ U(70, 130). Trajectories are
    scaled to [-1, 1] per channel with the training minimum and maximum before the task is built."""
    n_train, n_val, n_test = sizes(config, 15000, 1500, 3000)
    seq_len, generator = config.seq_len or 256, torch.Generator().manual_seed(config.seed)
    draws = [
        lotka_volterra(n, seq_len, ad=ad, bc=bc, generator=generator)[0]
        for n, ad, bc in ((n_train, (20, 50), (80, 120)), (n_val, (20, 50), (80, 120)), (n_test, (10, 60), (70, 130)))
    ]
    low, high = draws[0].amin(dim=(0, 1)), draws[0].amax(dim=(0, 1))
    splits = []
    for trajectories in draws:
        scaled = 2 * (trajectories - low) / (high - low) - 1
        cuts = torch.randint(32, 64, (len(scaled),), generator=generator)
        inputs, targets = repeat_copy(scaled, cuts, gap=50)
        splits.append(Split(inputs, targets, full_lengths(inputs)))
    return SequenceData(*splits, task="sequence", context=1, channel_names=("prey", "predator"))


def sine(config: DataConfig) -> SequenceData:
    """SINE (paper Sec. 4.4): sin(2 pi t + phase), phase ~ U(-pi/6, pi/6), 16 steps of t in [0, 1],
    context 1. Training sets are nested: ``num_train`` n takes the first n of 10,000 fixed draws (the
    paper's 1 / 10 / 100 / 1,000 / 10,000); 1,000 validation and 1,000 test sequences."""
    n_train, n_val, n_test = sizes(config, 10000, 1000, 1000)
    seq_len, generator = config.seq_len or SEQ_LEN["sine"], torch.Generator().manual_seed(config.seed)

    def draw(n):
        return sine_waves(n, seq_len, phase=(-math.pi / 6, math.pi / 6), generator=generator)[0]

    pool = draw(max(n_train, 10000))
    return raw_splits(pool[:n_train], draw(n_val), draw(n_test), context=config.context or 1, names=("sin",))


def spirals(config: DataConfig) -> SequenceData:
    """Spirals: classify 2-D spirals as anticlockwise (0) or clockwise (1); 64 steps, 1,024 / 256 / 256."""
    n_train, n_val, n_test = sizes(config, 1024, 256, 256)
    seq_len, generator = config.seq_len or 64, torch.Generator().manual_seed(config.seed)
    splits = []
    for n in (n_train, n_val, n_test):
        points, labels = spiral_points(n, seq_len, generator)
        splits.append(Split(points, labels, full_lengths(points)))
    return SequenceData(*splits, task="classification", context=1, num_classes=2, channel_names=("x", "y"))


ICL_TOKENS, ICL_DIM = 32, 1


def icl_tokens(config: DataConfig) -> list[tuple[Tensor, Tensor]]:
    """The tokens ``(n, N, D + 1)`` and weights ``(n, D)`` of the ``icl`` train, validation and test splits."""
    generator = torch.Generator().manual_seed(config.seed)
    num_tokens, dim = config.seq_len or ICL_TOKENS, config.dim or ICL_DIM
    return [linear_regression_tokens(n, num_tokens, dim, generator) for n in sizes(config, 8192, 1024, 1024)]


def icl(config: DataConfig) -> SequenceData:
    """In-context linear regression (the paper's ICL experiment): per sequence a weight w ~ U(-1, 1)^D and
    N = ``seq_len`` (default 32) tokens, keys x_i ~ U(-1, 1)^D, values y_i = w . x_i, D = ``dim`` (default
    1); the last token is the query, its value hidden from the input. Laid out by ``icl_layout``
    (cumulative sums, then the next key for the root); run teacher-forced, the output at step t predicting
    y_{t+1} from the tokens up to t. 8,192 / 1,024 / 1,024 sequences. The harness's MSE averages every
    position and all 2D + 1 channels; ``warprnn.experiments.icl`` reports the query's."""
    splits = []
    for tokens, _ in icl_tokens(config):
        inputs, targets = icl_layout(tokens)
        splits.append(Split(inputs, targets, full_lengths(inputs)))
    dim = splits[0].x.shape[-1] // 2
    names = tuple(f"sum_x{i}" for i in range(dim)) + ("sum_y",) + tuple(f"next_x{i}" for i in range(dim))
    return SequenceData(*splits, task="sequence", context=1, channel_names=names, key_channels=dim)
