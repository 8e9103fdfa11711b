"""The containers of a data set: its splits, its scaler, and what the harness needs to know of it.

Sequences are batch-first ``(N, T, C)`` float32, either normalised with statistics of the training
split (the ``scaler`` maps back to the original scale) or on their physical scale (``scaler`` None).
Forecasting and sequence sets have targets ``y`` of the same shape as ``x`` (the model predicts
``y[:, t+1]`` at step t); classification sets have integer labels ``(N,)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class StandardScaler:
    """Per-channel ``(x - mean) / std``; mean and std are ``(C,)``."""

    mean: Tensor
    std: Tensor

    @classmethod
    def fit(cls, x: Tensor, lengths: Tensor | None = None) -> StandardScaler:
        """Statistics of the valid steps of x ``(N, T, C)``."""
        valid = (
            torch.ones(x.shape[:2], dtype=torch.bool)
            if lengths is None
            else torch.arange(x.shape[1]) < lengths[:, None]
        )
        values = x[valid]  # (steps, C)
        return cls(values.mean(0), values.std(0).clamp_min(1e-8))

    def transform(self, x: Tensor) -> Tensor:
        """Standardises ``x`` ``(..., C)``."""
        return (x - self.mean.to(x)) / self.std.to(x)

    def inverse(self, x: Tensor) -> Tensor:
        """Maps standardised ``x`` ``(..., C)`` back to the data's scale."""
        return x * self.std.to(x) + self.mean.to(x)

    def head(self, channels: int) -> StandardScaler:
        """The scaler of the first ``channels`` channels (those forecast, before any covariates)."""
        return StandardScaler(self.mean[:channels], self.std[:channels])


@dataclass
class Split:
    """One split: inputs x ``(N, T, C)``, targets y (``(N, T, C)`` or labels ``(N,)``), lengths ``(N,)``."""

    x: Tensor
    y: Tensor
    lengths: Tensor

    def __len__(self) -> int:
        return self.x.shape[0]

    def batch(self, index: Tensor) -> Split:
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
        class_names: a name per class (classification sets that have them), for predictions.
        value_range: the interval the values were mapped to (pixels: (-1, 1)), for the metrics on [0, 1]
            of the WARP authors' conventions (``warprnn.training.metrics``); None for other data.
        bin_width: quantisation bin of the values on the normalised scale (pixels: 2/255 in [-1, 1]),
            for bits per dimension; None for continuous data.
        key_channels: the last channels that hold a key for WARP's root (``WarpConfig.key_channels``).
        covariate_channels: the last channels are covariates, read but not forecast: ``y`` holds the other
            channels (``WarpConfig.covariate_channels``).
        frequency: seconds between the rows of a dated, evenly spaced series (a CSV's ``date`` column), so
            that forecasts carry dates; None otherwise.
    """

    train: Split
    val: Split
    test: Split
    task: str
    context: int
    scaler: StandardScaler | None = None
    num_classes: int | None = None
    channel_names: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()
    bin_width: float | None = None
    value_range: tuple[float, float] | None = None
    key_channels: int = 0
    frequency: float | None = None
    covariate_channels: int = 0

    @property
    def target_scaler(self) -> StandardScaler | None:
        """The scaler of the forecast channels (``y``'s): ``scaler`` without the covariates'."""
        return None if self.scaler is None else self.scaler.head(self.channels - self.covariate_channels)

    @property
    def forecast_context(self) -> int | None:
        """The context L to forecast after, or None for sequence tasks (their inputs are never replaced)."""
        return self.context if self.task == "forecast" else None

    @property
    def channels(self) -> int:
        """C, the number of channels of the sequences."""
        return self.train.x.shape[-1]

    @property
    def seq_len(self) -> int:
        """The length of the training sequences (padded ones: the longest)."""
        return int(self.train.x.shape[1])


def full_lengths(x: Tensor) -> Tensor:
    """Lengths of unpadded sequences x ``(N, T, C)``."""
    return torch.full((x.shape[0],), x.shape[1], dtype=torch.long)
