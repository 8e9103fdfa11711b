"""Data sets of the library, each split into train / validation / test.

A data set is built by name (``build_dataset``) from a ``DataConfig``. Sequences are batch-first
``(N, T, C)`` float32, either normalised with statistics of the training split (the ``scaler`` maps
back to the original scale) or on their physical scale (``scaler`` None). Forecasting and sequence sets
have targets ``y`` of the same shape as ``x`` (the model predicts ``y[:, t+1]`` at step t);
classification sets have integer labels ``(N,)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from . import synthetic
from .config import DataConfig


@dataclass
class StandardScaler:
    """Per-channel ``(x - mean) / std``; mean and std are ``(C,)``."""

    mean: Tensor
    std: Tensor

    @classmethod
    def fit(cls, x: Tensor, lengths: Tensor | None = None) -> "StandardScaler":
        """Statistics of the valid steps of x ``(N, T, C)``."""
        valid = torch.ones(x.shape[:2], dtype=torch.bool) if lengths is None else \
            torch.arange(x.shape[1]) < lengths[:, None]
        values = x[valid]  # (steps, C)
        return cls(values.mean(0), values.std(0).clamp_min(1e-8))

    def transform(self, x: Tensor) -> Tensor:
        return (x - self.mean.to(x)) / self.std.to(x)

    def inverse(self, x: Tensor) -> Tensor:
        return x * self.std.to(x) + self.mean.to(x)


@dataclass
class Split:
    """One split: inputs x ``(N, T, C)``, targets y (``(N, T, C)`` or labels ``(N,)``), lengths ``(N,)``."""

    x: Tensor
    y: Tensor
    lengths: Tensor

    def __len__(self) -> int:
        return self.x.shape[0]

    def batch(self, index: Tensor) -> "Split":
        """The sequences at ``index``."""
        return Split(self.x[index], self.y[index], self.lengths[index])


@dataclass
class SequenceData:
    """A data set ready for training.

    Attributes:
        train, val, test: the splits.
        task: ``forecast`` (x is its own target, forecast autoregressively after ``context`` steps),
            ``sequence`` (x maps to a different target y of the same length, run teacher-forced and
            scored from step 1) or ``classification``.
        context: L, the steps fed the truth before forecasting (forecast tasks).
        scaler: maps normalised values back to the original scale, or None.
        num_classes: number of classes (classification), else None.
        channel_names: a name per channel, for plots.
        bin_width: quantisation bin of the values on the normalised scale (pixels: 2/256 in [-1, 1]),
            for bits per dimension; None for continuous data.
    """

    train: Split
    val: Split
    test: Split
    task: str
    context: int
    scaler: StandardScaler | None = None
    num_classes: int | None = None
    channel_names: tuple[str, ...] = ()
    bin_width: float | None = None

    @property
    def forecast_context(self) -> int | None:
        """The context L to forecast after, or None for sequence tasks (their inputs are never replaced)."""
        return self.context if self.task == "forecast" else None

    @property
    def channels(self) -> int:
        return self.train.x.shape[-1]


def full_lengths(x: Tensor) -> Tensor:
    """Lengths of unpadded sequences x ``(N, T, C)``."""
    return torch.full((x.shape[0],), x.shape[1], dtype=torch.long)


def forecast_splits(train: Tensor, val: Tensor, test: Tensor, context: int, names: tuple[str, ...]) -> SequenceData:
    """Forecasting data whose targets are the inputs, normalised with training statistics."""
    scaler = StandardScaler.fit(train)
    normalised = [scaler.transform(s) for s in (train, val, test)]
    splits = [Split(s, s, full_lengths(s)) for s in normalised]
    return SequenceData(*splits, task="forecast", context=context, scaler=scaler, channel_names=names)


def msd_small(config: DataConfig) -> SequenceData:
    """A small mass-spring-damper reconstruction task for quick runs (the default job).

    The paper's training ranges m ~ U(0.02, 0.04), k ~ U(4, 16), c ~ U(0.01, 0.2), start (1, 0), state
    (x, v) on t in [0, 1]; defaults: 512 / 128 / 256 trajectories of 64 steps, context 16.
    """
    seq_len = config.seq_len or 64
    sizes = (config.num_train or 512, config.num_val or 128, config.num_test or 256)
    generator = torch.Generator().manual_seed(config.seed)
    ranges = dict(m=(0.02, 0.04), k=(4.0, 16.0), c=(0.01, 0.2))
    splits = [synthetic.mass_spring_damper(n, seq_len, generator=generator, **ranges)[0] for n in sizes]
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


def msd(config: DataConfig, x0_jitter: float = 0.0, default_sizes=(20480, 2048, 4096)) -> SequenceData:
    """Mass-spring-damper reconstruction (paper Sec. 4.3): (x, v) of ``m x'' + c x' + k x = 0`` over 256
    steps of t in [0, 1] from (1, 0). Train and validation draw m ~ U(0.02, 0.04), k ~ U(4, 16),
    c ~ U(0.01, 0.2); the test set the wider out-of-distribution ranges m ~ U(0.01, 0.05), k ~ U(2, 18),
    c ~ U(0.01, 0.3). Context 100. Physical scale (no normalisation)."""
    n_train, n_val, n_test = sizes(config, *default_sizes)
    seq_len, generator = config.seq_len or 256, torch.Generator().manual_seed(config.seed)
    draw = lambda n, ranges: synthetic.mass_spring_damper(n, seq_len, generator=generator, x0_jitter=x0_jitter,
                                                          **ranges)[0]
    splits = draw(n_train, MSD_TRAIN_RANGES), draw(n_val, MSD_TRAIN_RANGES), draw(n_test, MSD_TEST_RANGES)
    return raw_splits(*splits, context=config.context or 100, names=("x", "v"))


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
    draws = [synthetic.lotka_volterra(n, seq_len, ad=ad, bc=bc, generator=generator)[0]
             for n, ad, bc in ((n_train, (20, 50), (80, 120)), (n_val, (20, 50), (80, 120)),
                               (n_test, (10, 60), (70, 130)))]
    low, high = draws[0].amin(dim=(0, 1)), draws[0].amax(dim=(0, 1))
    splits = []
    for trajectories in draws:
        scaled = 2 * (trajectories - low) / (high - low) - 1
        cuts = torch.randint(32, 64, (len(scaled),), generator=generator)
        inputs, targets = synthetic.repeat_copy(scaled, cuts, gap=50)
        splits.append(Split(inputs, targets, full_lengths(inputs)))
    return SequenceData(*splits, task="sequence", context=1, channel_names=("prey", "predator"))


def sine(config: DataConfig) -> SequenceData:
    """SINE (paper Sec. 4.4): sin(2 pi t + phase), phase ~ U(-pi/6, pi/6), 16 steps of t in [0, 1],
    context 1. Training sets are nested: ``num_train`` n takes the first n of 10,000 fixed draws (the
    paper's 1 / 10 / 100 / 1,000 / 10,000); 1,000 validation and 1,000 test sequences."""
    n_train, n_val, n_test = sizes(config, 10000, 1000, 1000)
    seq_len, generator = config.seq_len or 16, torch.Generator().manual_seed(config.seed)
    draw = lambda n: synthetic.sine(n, seq_len, phase=(-math.pi / 6, math.pi / 6), generator=generator)[0]
    pool = draw(max(n_train, 10000))
    return raw_splits(pool[:n_train], draw(n_val), draw(n_test), context=config.context or 1, names=("sin",))


def spirals(config: DataConfig) -> SequenceData:
    """Spirals: classify 2-D spirals as anticlockwise (0) or clockwise (1); 64 steps, 1,024 / 256 / 256."""
    n_train, n_val, n_test = sizes(config, 1024, 256, 256)
    seq_len, generator = config.seq_len or 64, torch.Generator().manual_seed(config.seed)
    splits = []
    for n in (n_train, n_val, n_test):
        points, labels = synthetic.spirals(n, seq_len, generator)
        splits.append(Split(points, labels, full_lengths(points)))
    return SequenceData(*splits, task="classification", context=1, num_classes=2, channel_names=("x", "y"))


DATASETS: dict[str, tuple[Callable[[DataConfig], SequenceData], str]] = {
    "msd-small": (msd_small, "mass-spring-damper reconstruction, small and quick (synthetic)"),
    "msd": (msd, "mass-spring-damper reconstruction, out-of-distribution test (synthetic, paper Sec. 4.3)"),
    "msd-zero": (msd_zero, "mass-spring-damper with random initial states (synthetic, paper Sec. 4.3)"),
    "lv-copy": (lv_copy, "Lotka-Volterra repeat-copy (synthetic, paper Sec. 4.3)"),
    "sine": (sine, "phase-shifted sines, nested training sizes (synthetic, paper Sec. 4.4)"),
    "spirals": (spirals, "clockwise vs anticlockwise spirals, classification (synthetic)"),
}


def build_dataset(config: DataConfig) -> SequenceData:
    """The data set ``config.name``, built or loaded."""
    if config.name not in DATASETS:
        raise ValueError(f"data.name: expected one of {sorted(DATASETS)}, got {config.name!r}")
    data = DATASETS[config.name][0](config)
    if data.task == "forecast" and not 1 <= data.context < data.train.x.shape[1]:
        raise ValueError(f"data.context: expected an integer in [1, {data.train.x.shape[1] - 1}], got {data.context}")
    return data
