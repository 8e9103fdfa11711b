"""The real benchmarks, each split by its published protocol: MNIST and Fashion-MNIST pixel sequences,
ETT (the Time-Series-Library protocol), UEA multivariate classification, PEMS08 traffic flow.

Files are read by ``files.py`` from ``data.root``. ``num_train`` / ``num_val`` / ``num_test`` keep a
random subset (drawn with ``data.seed``) of each split.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch
from torch import Tensor

from . import files
from .config import DataConfig
from .types import SequenceData, Split, StandardScaler, full_lengths

logger = logging.getLogger(__name__)

SMALL_VALIDATION = 20  # fewer validation cases than this: a classification metric too coarse to select on
PIXEL_BIN = 2 / 255  # the spacing of 8-bit pixels mapped to [-1, 1] by p / 127.5 - 1


def random_subset(count: int, n: int | None, generator: torch.Generator) -> Tensor:
    """Sorted indices of a random subset of ``range(count)`` of size n (all of it when n is None or larger)."""
    if n is None or n >= count:
        return torch.arange(count)
    return torch.randperm(count, generator=generator)[:n].sort().values


def carve(
    count: int, fraction: float, generator: torch.Generator, labels: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Sorted indices of a random ``fraction`` of ``range(count)``, and of the rest.

    With ``labels`` ``(count,)`` the fraction is drawn class by class (at least one case of each class
    that has two or more), so that the held part holds every class in proportion."""
    if labels is None:
        order = torch.randperm(count, generator=generator)
        held = round(fraction * count)
        return order[:held].sort().values, order[held:].sort().values
    held = []
    for label in labels.unique().tolist():
        members = (labels == label).nonzero().squeeze(1)
        order = members[torch.randperm(len(members), generator=generator)]
        held.append(order[: max(round(fraction * len(members)), int(len(members) > 1))])
    kept = torch.cat(held).sort().values
    rest = torch.ones(count, dtype=torch.bool)
    rest[kept] = False
    return kept, rest.nonzero().squeeze(1)


def validation_part(config: DataConfig, labels: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """The validation and training indices of a training part whose cases have ``labels`` ``(N,)``
    (``data.val_fraction``, ``data.stratify``); warns when the validation part is too small to select
    a checkpoint on."""
    val, train = carve(len(labels), config.val_fraction, generator, labels if config.stratify else None)
    if len(val) < SMALL_VALIDATION:
        logger.warning(
            "data: the validation split has %d cases (data.val_fraction %g of %d): its accuracy moves in "
            "steps of %.3g%%, too coarse to pick a checkpoint on; a larger data.val_fraction or "
            "data.split=resplit gives more",
            len(val),
            config.val_fraction,
            len(labels),
            100 / max(len(val), 1),
        )
    return val, train


def subsample(splits: list[Split], config: DataConfig, generator: torch.Generator) -> list[Split]:
    """Train, validation and test splits cut to ``num_train``, ``num_val``, ``num_test``."""
    sizes = (config.num_train, config.num_val, config.num_test)
    return [
        s if n is None or n >= len(s) else s.batch(random_subset(len(s), n, generator)) for s, n in zip(splits, sizes)
    ]


def fit_scaler(values: np.ndarray, scaling: str, source: str) -> StandardScaler:
    """A per-channel scaler from training values ``(steps, C)`` (NaN ignored), computed in float64.

    ``standard``: mean and population standard deviation (as scikit-learn's ``StandardScaler``);
    ``minmax``: centre and half-range, so that the training range maps to [-1, 1]. A channel whose
    statistics are not finite in float32 (values near 1e38, or beyond 1e154 squared) raises
    ``CorruptDataError`` naming ``source`` and the channel; a channel missing throughout is left NaN.
    A channel constant over the training values (its spread below float32's resolution of its centre) is
    centred and scaled by 1, with a warning naming it: divided by its spread, 0, any later change in it
    would become astronomical (1e8 times its size), and refusing it would refuse a covariate or sensor
    that only varies later; its later values keep their own size.
    """
    if scaling == "minmax":
        low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
        centre, scale = (high + low) / 2, (high - low) / 2
    else:
        centre, scale = np.nanmean(values, axis=0), np.nanstd(values, axis=0)

    centre, scale = (torch.as_tensor(a, dtype=torch.float32) for a in (centre, scale))
    observed = torch.from_numpy(~np.isnan(values).all(axis=0))
    bad = observed & ~(centre.isfinite() & scale.isfinite())
    if bad.any():
        c = int(bad.nonzero()[0])
        raise files.CorruptDataError(
            f"{source}: channel {c}'s training values are too large to normalise in float32 "
            f"(centre {centre[c].item():.3g}, scale {scale[c].item():.3g})"
        )
    constant = observed & (scale <= torch.finfo(torch.float32).eps * centre.abs())
    if constant.any():
        channels = constant.nonzero().squeeze(1).tolist()
        listed = f"{channels[:10]}" if len(channels) <= 10 else f"{channels[:10]} and {len(channels) - 10} more"
        logger.warning(
            "%s: channel(s) %s are constant over the training part; scaled by 1 (centred only), so that their "
            "later values keep their size",
            source,
            listed,
        )
    return StandardScaler(centre, torch.where(constant, 1.0, scale.clamp_min(1e-8)))


def windows(series: Tensor, length: int) -> Split:
    """Every window of ``length`` consecutive steps of ``series`` ``(T, C)``, sliding by one step.

    The windows ``(T - length + 1, length, C)`` are a view of ``series`` (no copy); they are their own targets.
    """
    if len(series) < length:
        raise ValueError(f"data.context + data.horizon: {length} steps exceed a split of {len(series)} steps")
    x = series.unfold(0, length, 1).transpose(1, 2)  # (windows, length, C)
    return Split(x, x, full_lengths(x))


# ----- MNIST and Fashion-MNIST: pixel sequences ------------------------------------------------------


def pixel_data(config: DataConfig, source: str, classify: bool) -> SequenceData:
    """The 28x28 images of ``source`` as sequences of 784 pixels ``(N, 784, 1)`` in raster order, scaled
    to [-1, 1] (``p / 127.5 - 1``, as the WARP authors do). 60,000 training images, of which a random 10%
    is kept for validation, and 10,000 test images.

    Completion (``classify`` False): the first ``context`` pixels (default 300) are given, the rest is
    forecast autoregressively and scored (MSE, and bits per dimension for Gaussian heads). Classification:
    the digit (or garment) from the whole sequence.
    """
    paths = files.require(source, config.root)
    parts = {}
    for part in ("train", "t10k"):
        images = files.read_idx(paths[f"{part}-images-idx3-ubyte.gz"])
        labels = files.read_idx(paths[f"{part}-labels-idx1-ubyte.gz"])
        if images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
            raise files.CorruptDataError(
                f"{source} {part}: images {images.shape} and labels {labels.shape} "
                f"do not match (expected (N, 28, 28) and (N,))"
            )
        parts[part] = images, labels
    generator = torch.Generator().manual_seed(config.seed)
    val, train = validation_part(config, torch.from_numpy(parts["train"][1].astype(np.int64)), generator)
    chosen = [("train", train), ("train", val), ("t10k", torch.arange(len(parts["t10k"][1])))]
    splits = []
    for (part, index), n in zip(chosen, (config.num_train, config.num_val, config.num_test)):
        index = index[random_subset(len(index), n, generator)].numpy()
        images, labels = parts[part]
        x = torch.from_numpy(images[index].reshape(len(index), 784, 1).astype(np.float32)) / 127.5 - 1
        y = torch.from_numpy(labels[index].astype(np.int64)) if classify else x
        splits.append(Split(x, y, full_lengths(x)))
    if classify:
        return SequenceData(*splits, task="classification", context=1, num_classes=10, channel_names=("pixel",))
    return SequenceData(
        *splits,
        task="forecast",
        context=config.context or 300,
        channel_names=("pixel",),
        bin_width=PIXEL_BIN,
        value_range=(-1.0, 1.0),
    )


# ----- ETT: the Time-Series-Library protocol ---------------------------------------------------------


def ett(config: DataConfig, source: str) -> SequenceData:
    """ETTh1/ETTh2 (hourly) or ETTm1/ETTm2 (15-minute) electricity transformer data, all 7 channels.

    The Time-Series-Library protocol: months of 30 days; train the first 12 months, validation the next
    4, test the next 4 (the 15-minute files take the same months, 4 times as many rows), cut into
    windows by ``series_data``. ETTh1 with 96 + 96 gives 8,449 / 2,785 / 2,785 windows.
    """
    path = files.require(source, config.root)[f"{source[:3].upper()}{source[3:]}.csv"]
    names, values = files.read_csv(path)
    month = 30 * 24 * (4 if source.startswith("ettm") else 1)
    if len(values) < 20 * month:
        raise files.CorruptDataError(
            f"{path}: {len(values)} rows, fewer than the 20 months ({20 * month}) the protocol splits"
        )
    data = series_data(values, names, (12 * month, 4 * month, 4 * month), config, path)
    return dataclasses.replace(data, frequency=900.0 if source.startswith("ettm") else 3600.0)


def series_data(
    values: np.ndarray, names: tuple[str, ...], rows: tuple[int, int, int], config: DataConfig, source
) -> SequenceData:
    """A long series ``(T, C)`` split in time and cut into forecasting windows (the Time-Series-Library
    protocol, of ETT and of the ``csv`` data set).

    The first ``rows[0]`` steps train, the next ``rows[1]`` validate, the next ``rows[2]`` test; each of
    validation and test starts ``context`` steps early so that its first window's input lies before it.
    The scaler (``data.scaling``) is fitted on the training part. Every window of ``context`` (default 96)
    + ``horizon`` (default 96) steps, sliding by one, is one sequence: its first ``context`` steps are
    given and the ``horizon`` steps after them forecast and scored. ``source`` names the data in errors.
    """
    context, horizon = config.context or 96, config.horizon or 96
    train, val, test = rows
    if train + val + test > len(values):
        raise files.CorruptDataError(f"{source}: {len(values)} rows, fewer than the {train} + {val} + {test} split")
    borders = ((0, train), (train - context, train + val), (train + val - context, train + val + test))
    for part, (start, end) in zip(("training", "validation", "test"), borders):
        if end - max(start, 0) < context + horizon:
            raise files.CorruptDataError(
                f"{source}: the {part} part has {end - max(start, 0)} rows, fewer than one window of "
                f"context + horizon = {context + horizon} rows"
            )
    scaler = fit_scaler(values[:train], config.scaling, str(source))
    series = scaler.transform(torch.as_tensor(values, dtype=torch.float32))  # (T, C)
    splits = [windows(series[start:end], context + horizon) for start, end in borders]
    splits = subsample(splits, config, torch.Generator().manual_seed(config.seed))
    return SequenceData(*splits, task="forecast", context=context, scaler=scaler, channel_names=names)


# ----- UEA multivariate classification ---------------------------------------------------------------


def fill_missing(case: np.ndarray) -> np.ndarray:
    """A case ``(T, C)`` with each NaN replaced by the previous value of its channel, leading NaNs by the
    first value, and the channels that are missing throughout by 0 (the training mean once normalised)."""
    filled = case.copy()
    for c in range(case.shape[1]):
        valid = np.flatnonzero(~np.isnan(case[:, c]))
        if len(valid) == 0:
            filled[:, c] = 0.0
            continue
        previous = np.maximum.accumulate(np.where(np.isnan(case[:, c]), 0, np.arange(len(case))))
        filled[:, c] = case[np.maximum(previous, valid[0]), c]
    return filled


def pad(cases: list[np.ndarray]) -> tuple[Tensor, Tensor]:
    """Cases of different lengths as a zero-padded batch ``(N, T_max, C)`` and their lengths ``(N,)``."""
    lengths = torch.tensor([len(case) for case in cases])
    x = torch.zeros(len(cases), int(lengths.max()), cases[0].shape[1])
    for i, case in enumerate(cases):
        x[i, : len(case)] = torch.from_numpy(case)
    return x, lengths


def prepare_cases(cases: list[np.ndarray], scaler: StandardScaler) -> tuple[Tensor, Tensor]:
    """Cases ``(T_i, C)`` on their original scale, standardised by ``scaler``, their missing values filled
    (``fill_missing``) and zero-padded: ``(N, T_max, C)`` and lengths ``(N,)``."""
    mean, std = scaler.mean.double().numpy(), scaler.std.double().numpy()
    return pad([fill_missing((case - mean) / std).astype(np.float32) for case in cases])


def resplit(count: int, generator: torch.Generator) -> list[Tensor]:
    """Sorted indices of a random 70:15:15 split of ``range(count)`` into train, validation and test."""
    order = torch.randperm(count, generator=generator)
    n_train, n_val = round(0.7 * count), round(0.15 * count)
    parts = (order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :])
    return [part.sort().values for part in parts]


def case_data(
    cases: list[np.ndarray],
    labels: Tensor,
    classes: tuple[str, ...],
    index: list[Tensor],
    config: DataConfig,
    generator: torch.Generator,
    source: str,
) -> SequenceData:
    """A classification set from its cases ``(T_i, C)`` (NaN where missing), their labels ``(N,)`` (indices
    into ``classes``) and the indices of its train, validation and test cases (which may overlap); the
    splits are then cut to ``num_train`` etc. with ``generator``. ``source`` names the data in errors.

    Each channel is standardised with the mean and standard deviation of the training cases' values;
    missing values are then filled (``fill_missing``); unequal lengths are zero-padded, with ``lengths``.
    """
    scaler = fit_scaler(np.concatenate([cases[i] for i in index[0].tolist()]), "standard", source)
    splits = []
    for part in index:
        x, lengths = prepare_cases([cases[i] for i in part.tolist()], scaler)
        splits.append(Split(x, labels[part], lengths))
    splits = subsample(splits, config, generator)
    return SequenceData(
        *splits,
        task="classification",
        context=1,
        scaler=scaler,
        num_classes=len(classes),
        channel_names=tuple(f"dim{c}" for c in range(splits[0].x.shape[-1])),
        class_names=classes,
    )


def uea(config: DataConfig, name: str) -> SequenceData:
    """A set of the UEA/UCR archive (any name), read from its ``.ts`` files by ``ts_pair``."""
    paths = files.require(f"uea-{name}", config.root)
    return ts_pair(config, paths[f"{name}_TRAIN.ts"], paths[f"{name}_TEST.ts"])


def ts_pair(config: DataConfig, train_path, test_path) -> SequenceData:
    """A classification set from a TRAIN and a TEST ``.ts`` file.

    Splits (``data.split``): ``archive`` keeps the TEST file's cases for testing and a random 10% of the
    TRAIN file's for validation; ``resplit`` pools all cases and splits them 70:15:15 at random (the
    protocol of the paper's baselines). Random draws use ``data.seed``. Normalisation, missing values
    (``?``) and unequal lengths as ``case_data`` treats them.
    """
    parts = [files.read_ts(path) for path in (train_path, test_path)]
    classes = parts[0].classes
    if set(parts[1].classes) != set(classes) or parts[0].cases[0].shape[1] != parts[1].cases[0].shape[1]:
        raise files.CorruptDataError(f"{train_path} and {test_path} declare different classes or channels")
    cases = parts[0].cases + parts[1].cases
    labels = torch.tensor([classes.index(label) for part in parts for label in part.labels])
    generator = torch.Generator().manual_seed(config.seed)
    if config.split == "resplit":
        index = resplit(len(cases), generator)
    else:
        val, train = validation_part(config, labels[: len(parts[0].cases)], generator)
        index = [train, val, torch.arange(len(parts[0].cases), len(cases))]
    return case_data(cases, labels, classes, index, config, generator, str(train_path))


# ----- PEMS08 traffic flow -------------------------------------------------------------------------------


def pems08(config: DataConfig) -> SequenceData:
    """PEMS08 traffic flow (``pems08/PEMS08.npz``, ``data`` of shape (17856, 170, 3), 5-minute steps; the
    flow, channel 0, is used). The standard protocol: the series split 6:2:2 in time, one scaler (mean and
    standard deviation of all training flows), windows of ``context`` 12 inputs and ``horizon`` 12 outputs
    sliding by one step within each part; MAE, RMSE and MAPE on the original scale, MAPE skipping zero
    flows. Each sensor's window is a separate univariate sequence of 24 steps (170 sequences per window),
    so one small WARP is shared by all sensors: 170 channels would make the root's output, and D_theta,
    170 times wider. The model is given the 12 inputs and forecasts the 12 outputs autoregressively.
    """
    path = files.require("pems08", config.root)["PEMS08.npz"]
    flow = files.read_npz(path, "data", ndim=3)[:, :, 0].astype(np.float64)  # (T, sensors)
    T, sensors = flow.shape
    context, horizon = config.context or 12, config.horizon or 12
    borders = (0, int(0.6 * T), int(0.8 * T), T)
    scaler = fit_scaler(flow[: borders[1]].reshape(-1, 1), config.scaling, str(path))
    series = scaler.transform(torch.as_tensor(flow, dtype=torch.float32).unsqueeze(-1)).squeeze(-1)
    generator = torch.Generator().manual_seed(config.seed)
    splits = []
    for start, end, n in zip(borders[:-1], borders[1:], (config.num_train, config.num_val, config.num_test)):
        if end - start < context + horizon:
            raise ValueError(
                f"data.context + data.horizon: {context + horizon} steps exceed a split of {end - start} steps"
            )
        per_sensor = series[start:end].unfold(0, context + horizon, 1)  # (windows, sensors, length) view
        index = random_subset(per_sensor.shape[0] * sensors, n, generator)
        x = per_sensor[index // sensors, index % sensors].unsqueeze(-1)  # (sequences, length, 1)
        splits.append(Split(x, x, full_lengths(x)))
    return SequenceData(*splits, task="forecast", context=context, scaler=scaler, channel_names=("flow",))
