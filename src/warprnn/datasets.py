"""Data sets of the library, each split into train / validation / test.

A data set is built by name (``build_dataset``) from a ``DataConfig``. Sequences are batch-first
``(N, T, C)`` float32, already normalised with statistics of the training split; the ``scaler`` maps
back to the original scale. Forecasting sets have targets ``y`` of the same shape as ``x`` (the model
predicts ``y[:, t+1]`` at step t); classification sets have integer labels ``(N,)``.
"""

from __future__ import annotations

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
        task: ``forecast`` or ``classification``.
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


DATASETS: dict[str, tuple[Callable[[DataConfig], SequenceData], str]] = {
    "msd-small": (msd_small, "mass-spring-damper reconstruction, small and quick (synthetic)"),
}


def build_dataset(config: DataConfig) -> SequenceData:
    """The data set ``config.name``, built or loaded."""
    if config.name not in DATASETS:
        raise ValueError(f"data.name: expected one of {sorted(DATASETS)}, got {config.name!r}")
    data = DATASETS[config.name][0](config)
    if data.task == "forecast" and not 1 <= data.context < data.train.x.shape[1]:
        raise ValueError(f"data.context: expected an integer in [1, {data.train.x.shape[1] - 1}], got {data.context}")
    return data
