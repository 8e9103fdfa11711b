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
from functools import partial
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from . import cache, loaders, synthetic
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
        bin_width: quantisation bin of the values on the normalised scale (pixels: 2/255 in [-1, 1]),
            for bits per dimension; None for continuous data.
        key_channels: the last channels that hold a key for WARP's root (``WarpConfig.key_channels``).
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
    key_channels: int = 0

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


def msd_draws(config: DataConfig, x0_jitter: float = 0.0,
              default_sizes=(20480, 2048, 4096)) -> list[tuple[Tensor, Tensor]]:
    """The train, validation and test draws of ``msd``: per split, the states ``(N, T, 2)`` and the
    parameters ``(N, 3)`` holding (m, k, c) of each trajectory."""
    n_train, n_val, n_test = sizes(config, *default_sizes)
    seq_len, generator = config.seq_len or 256, torch.Generator().manual_seed(config.seed)
    draw = lambda n, ranges: synthetic.mass_spring_damper(n, seq_len, generator=generator, x0_jitter=x0_jitter,
                                                          **ranges)
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


ICL_TOKENS, ICL_DIM = 32, 1


def icl_tokens(config: DataConfig) -> list[tuple[Tensor, Tensor]]:
    """The tokens ``(n, N, D + 1)`` and weights ``(n, D)`` of the ``icl`` train, validation and test splits."""
    generator = torch.Generator().manual_seed(config.seed)
    num_tokens, dim = config.seq_len or ICL_TOKENS, config.dim or ICL_DIM
    return [synthetic.linear_regression_tokens(n, num_tokens, dim, generator) for n in sizes(config, 8192, 1024, 1024)]


def icl(config: DataConfig) -> SequenceData:
    """In-context linear regression (the paper's ICL experiment): per sequence a weight w ~ U(-1, 1)^D and
    N = ``seq_len`` (default 32) tokens, keys x_i ~ U(-1, 1)^D, values y_i = w . x_i, D = ``dim`` (default
    1); the last token is the query, its value hidden from the input. Laid out by ``synthetic.icl_layout``
    (cumulative sums, then the next key for the root); run teacher-forced, the output at step t predicting
    y_{t+1} from the tokens up to t. 8,192 / 1,024 / 1,024 sequences. The harness's MSE averages every
    position and all 2D + 1 channels; ``warprnn.icl`` reports the query's."""
    splits = []
    for tokens, _ in icl_tokens(config):
        inputs, targets = synthetic.icl_layout(tokens)
        splits.append(Split(inputs, targets, full_lengths(inputs)))
    dim = splits[0].x.shape[-1] // 2
    names = tuple(f"sum_x{i}" for i in range(dim)) + ("sum_y",) + tuple(f"next_x{i}" for i in range(dim))
    return SequenceData(*splits, task="sequence", context=1, channel_names=names, key_channels=dim)


DATASETS: dict[str, tuple[Callable[[DataConfig], SequenceData], str]] = {
    "msd-small": (msd_small, "mass-spring-damper reconstruction, small and quick (synthetic)"),
    "msd": (msd, "mass-spring-damper reconstruction, out-of-distribution test (synthetic, paper Sec. 4.3)"),
    "msd-zero": (msd_zero, "mass-spring-damper with random initial states (synthetic, paper Sec. 4.3)"),
    "lv-copy": (lv_copy, "Lotka-Volterra repeat-copy (synthetic, paper Sec. 4.3)"),
    "sine": (sine, "phase-shifted sines, nested training sizes (synthetic, paper Sec. 4.4)"),
    "spirals": (spirals, "clockwise vs anticlockwise spirals, classification (synthetic)"),
    "icl": (icl, "in-context linear regression, keys of dimension `dim` (synthetic, the paper's ICL task)"),
}


CACHED = ("msd-small", "msd", "msd-zero", "lv-copy", "sine", "spirals")  # synthetic: see ``warprnn.cache``


def build_dataset(config: DataConfig) -> SequenceData:
    """The data set ``config.name``: generated (synthetic sets, cached on disk) or loaded."""
    if config.name not in DATASETS:
        raise ValueError(f"data.name: expected one of {sorted(DATASETS)}, got {config.name!r}")
    build = DATASETS[config.name][0]
    data = cache.cached(config, build) if config.name in CACHED else build(config)
    if data.task == "forecast" and not 1 <= data.context < data.train.x.shape[1]:
        raise ValueError(f"data.context: expected an integer in [1, {data.train.x.shape[1] - 1}], got {data.context}")
    return data


# ======================================================================================================
# Real data sets: files read by ``warprnn.loaders`` from ``data.root``, split by each benchmark's protocol.
# ``num_train`` / ``num_val`` / ``num_test`` keep a random subset (drawn with ``data.seed``) of each split.
# ======================================================================================================

VAL_FRACTION = 0.1  # of the training part, kept for validation when a benchmark has no validation split
PIXEL_BIN = 2 / 255  # the spacing of 8-bit pixels mapped to [-1, 1] by p / 127.5 - 1


def random_subset(count: int, n: int | None, generator: torch.Generator) -> Tensor:
    """Sorted indices of a random subset of ``range(count)`` of size n (all of it when n is None or larger)."""
    if n is None or n >= count:
        return torch.arange(count)
    return torch.randperm(count, generator=generator)[:n].sort().values


def carve(count: int, fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Sorted indices of a random ``fraction`` of ``range(count)``, and of the rest."""
    order = torch.randperm(count, generator=generator)
    held = round(fraction * count)
    return order[:held].sort().values, order[held:].sort().values


def subsample(splits: list[Split], config: DataConfig, generator: torch.Generator) -> list[Split]:
    """Train, validation and test splits cut to ``num_train``, ``num_val``, ``num_test``."""
    sizes = (config.num_train, config.num_val, config.num_test)
    return [s if n is None or n >= len(s) else s.batch(random_subset(len(s), n, generator))
            for s, n in zip(splits, sizes)]


def fit_scaler(values: np.ndarray, scaling: str) -> StandardScaler:
    """A per-channel scaler from training values ``(steps, C)`` (NaN ignored), computed in float64.

    ``standard``: mean and population standard deviation (as scikit-learn's ``StandardScaler``);
    ``minmax``: centre and half-range, so that the training range maps to [-1, 1].
    """
    if scaling == "minmax":
        low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
        centre, scale = (high + low) / 2, (high - low) / 2
    else:
        centre, scale = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32)
    return StandardScaler(as_tensor(centre), as_tensor(scale).clamp_min(1e-8))


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
    files = loaders.require(source, config.root)
    parts = {}
    for part in ("train", "t10k"):
        images = loaders.read_idx(files[f"{part}-images-idx3-ubyte.gz"])
        labels = loaders.read_idx(files[f"{part}-labels-idx1-ubyte.gz"])
        if images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
            raise loaders.CorruptDataError(f"{source} {part}: images {images.shape} and labels {labels.shape} "
                                           f"do not match (expected (N, 28, 28) and (N,))")
        parts[part] = images, labels
    generator = torch.Generator().manual_seed(config.seed)
    val, train = carve(len(parts["train"][1]), VAL_FRACTION, generator)
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
    return SequenceData(*splits, task="forecast", context=config.context or 300, channel_names=("pixel",),
                        bin_width=PIXEL_BIN)


# ----- ETT: the Time-Series-Library protocol ---------------------------------------------------------

def ett(config: DataConfig, source: str) -> SequenceData:
    """ETTh1/ETTh2 (hourly) or ETTm1/ETTm2 (15-minute) electricity transformer data, all 7 channels.

    The Time-Series-Library protocol: months of 30 days; train the first 12 months, validation the next
    4, test the next 4 (the 15-minute files take the same months, 4 times as many rows); each of validation
    and test starts ``context`` steps early so that its first window's input lies before it. The scaler is
    fitted on the training months. Every window of ``context`` (default 96) + ``horizon`` (default 96)
    steps, sliding by one, is one sequence: its first ``context`` steps are given and the ``horizon``
    steps after them forecast and scored (MSE and MAE on the normalised scale, as that literature reports
    them). ETTh1 with 96 + 96 gives 8,449 / 2,785 / 2,785 windows.
    """
    path = loaders.require(source, config.root)[f"{source[:3].upper()}{source[3:]}.csv"]
    names, values = loaders.read_ett_csv(path)
    month = 30 * 24 * (4 if source.startswith("ettm") else 1)
    context, horizon = config.context or 96, config.horizon or 96
    if len(values) < 20 * month:
        raise loaders.CorruptDataError(f"{path}: {len(values)} rows, fewer than the 20 months ({20 * month}) "
                                       f"the protocol splits")
    scaler = fit_scaler(values[:12 * month], config.scaling)
    series = scaler.transform(torch.as_tensor(values, dtype=torch.float32))  # (T, C)
    borders = ((0, 12 * month), (12 * month - context, 16 * month), (16 * month - context, 20 * month))
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
        x[i, :len(case)] = torch.from_numpy(case)
    return x, lengths


def uea(config: DataConfig, name: str) -> SequenceData:
    """A UEA multivariate classification set, read from its ``.ts`` files.

    Splits (``data.split``): ``archive`` keeps the archive's TEST part for testing and a random 10% of its
    TRAIN part for validation; ``resplit`` pools all cases and splits them 70:15:15 at random (the
    protocol of the paper's baselines; the permutation is drawn with ``data.seed``). Each channel is
    standardised with the mean and standard deviation of the training cases' values. Missing values
    (``?``) are then filled per channel with the last value before them (leading ones with the first
    value after; a channel missing throughout with 0). Unequal lengths are zero-padded, with ``lengths``.
    """
    files = loaders.require(f"uea-{name}", config.root)
    parts = [loaders.read_ts(files[f"{name}_{part}.ts"]) for part in ("TRAIN", "TEST")]
    classes = parts[0].classes
    if set(parts[1].classes) != set(classes) or parts[0].cases[0].shape[1] != parts[1].cases[0].shape[1]:
        raise loaders.CorruptDataError(f"uea/{name}: the TRAIN and TEST files declare different classes "
                                       f"or channels")
    cases = parts[0].cases + parts[1].cases
    labels = torch.tensor([classes.index(label) for part in parts for label in part.labels])
    generator = torch.Generator().manual_seed(config.seed)
    if config.split == "resplit":
        order = torch.randperm(len(cases), generator=generator)
        n_train, n_val = round(0.7 * len(cases)), round(0.15 * len(cases))
        index = [order[:n_train].sort().values, order[n_train:n_train + n_val].sort().values,
                 order[n_train + n_val:].sort().values]
    else:
        val, train = carve(len(parts[0].cases), VAL_FRACTION, generator)
        index = [train, val, torch.arange(len(parts[0].cases), len(cases))]
    scaler = fit_scaler(np.concatenate([cases[i] for i in index[0].tolist()]), "standard")
    mean, std = scaler.mean.double().numpy(), scaler.std.double().numpy()
    splits = []
    for part in index:
        x, lengths = pad([fill_missing((cases[i] - mean) / std).astype(np.float32) for i in part.tolist()])
        splits.append(Split(x, labels[part], lengths))
    splits = subsample(splits, config, generator)
    return SequenceData(*splits, task="classification", context=1, scaler=scaler, num_classes=len(classes),
                        channel_names=tuple(f"dim{c}" for c in range(splits[0].x.shape[-1])))


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
    path = loaders.require("pems08", config.root)["PEMS08.npz"]
    flow = loaders.read_npz(path, "data", ndim=3)[:, :, 0].astype(np.float64)  # (T, sensors)
    T, sensors = flow.shape
    context, horizon = config.context or 12, config.horizon or 12
    borders = (0, int(0.6 * T), int(0.8 * T), T)
    scaler = fit_scaler(flow[:borders[1]].reshape(-1, 1), config.scaling)
    series = scaler.transform(torch.as_tensor(flow, dtype=torch.float32).unsqueeze(-1)).squeeze(-1)
    generator = torch.Generator().manual_seed(config.seed)
    splits = []
    for start, end, n in zip(borders[:-1], borders[1:], (config.num_train, config.num_val, config.num_test)):
        if end - start < context + horizon:
            raise ValueError(f"data.context + data.horizon: {context + horizon} steps exceed a split of "
                             f"{end - start} steps")
        per_sensor = series[start:end].unfold(0, context + horizon, 1)  # (windows, sensors, length) view
        index = random_subset(per_sensor.shape[0] * sensors, n, generator)
        x = per_sensor[index // sensors, index % sensors].unsqueeze(-1)  # (sequences, length, 1)
        splits.append(Split(x, x, full_lengths(x)))
    return SequenceData(*splits, task="forecast", context=context, scaler=scaler, channel_names=("flow",))


DATASETS.update({
    "mnist": (partial(pixel_data, source="mnist", classify=False),
              "MNIST pixel-sequence completion after `context` pixels (default 300), in [-1, 1]"),
    "fashion-mnist": (partial(pixel_data, source="fashion-mnist", classify=False),
                      "Fashion-MNIST pixel-sequence completion, as mnist"),
    "mnist-class": (partial(pixel_data, source="mnist", classify=True), "sequential MNIST classification"),
    "fashion-mnist-class": (partial(pixel_data, source="fashion-mnist", classify=True),
                            "sequential Fashion-MNIST classification"),
    **{source: (partial(ett, source=source), f"ETT{source[3:]} forecasting, TSL protocol, `context` + `horizon`")
       for source in ("etth1", "etth2", "ettm1", "ettm2")},
    **{f"uea-{name}": (partial(uea, name=name), f"UEA {name} classification, `split` archive or resplit")
       for name in loaders.UEA_SETS},
    "pems08": (pems08, "PEMS08 traffic flow, 12 in / 12 out per sensor, 6:2:2 in time"),
})
