"""The registry of data sets: every name that ``data.name`` accepts, and ``build_dataset``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from ..checks import check_memory
from ..errors import ConfigError
from . import benchmarks, cache, files, synthetic, user
from .config import DataConfig
from .types import SequenceData


@dataclass(frozen=True)
class Entry:
    """One data set.

    Attributes:
        build: makes the data set of a config. description: one line for ``warprnn list``.
        cached: a pure function of the config's generation fields (``cache.GENERATION_FIELDS``),
            generated once and kept on disk.
    """

    build: Callable[[DataConfig], SequenceData]
    description: str
    cached: bool = False


DATASETS: dict[str, Entry] = {
    "msd-small": Entry(synthetic.msd_small, "mass-spring-damper reconstruction, small and quick (synthetic)", True),
    "msd": Entry(
        synthetic.msd, "mass-spring-damper reconstruction, out-of-distribution test (synthetic, paper Sec. 4.3)", True
    ),
    "msd-zero": Entry(
        synthetic.msd_zero, "mass-spring-damper with random initial states (synthetic, paper Sec. 4.3)", True
    ),
    "lv-copy": Entry(synthetic.lv_copy, "Lotka-Volterra repeat-copy (synthetic, paper Sec. 4.3)", True),
    "sine": Entry(synthetic.sine, "phase-shifted sines, nested training sizes (synthetic, paper Sec. 4.4)", True),
    "spirals": Entry(synthetic.spirals, "clockwise vs anticlockwise spirals, classification (synthetic)", True),
    "icl": Entry(
        synthetic.icl, "in-context linear regression, keys of dimension `dim` (synthetic, the paper's ICL task)"
    ),
    "mnist": Entry(
        partial(benchmarks.pixel_data, source="mnist", classify=False),
        "MNIST pixel-sequence completion after `context` pixels (default 300), in [-1, 1]",
    ),
    "fashion-mnist": Entry(
        partial(benchmarks.pixel_data, source="fashion-mnist", classify=False),
        "Fashion-MNIST pixel-sequence completion, as mnist",
    ),
    "mnist-class": Entry(
        partial(benchmarks.pixel_data, source="mnist", classify=True), "sequential MNIST classification"
    ),
    "fashion-mnist-class": Entry(
        partial(benchmarks.pixel_data, source="fashion-mnist", classify=True), "sequential Fashion-MNIST classification"
    ),
    **{
        source: Entry(
            partial(benchmarks.ett, source=source), f"ETT{source[3:]} forecasting, TSL protocol, `context` + `horizon`"
        )
        for source in ("etth1", "etth2", "ettm1", "ettm2")
    },
    **{
        f"uea-{name}": Entry(
            partial(benchmarks.uea, name=name), f"UEA {name} classification, `split` archive or resplit"
        )
        for name in files.UEA_SETS
    },
    "pems08": Entry(benchmarks.pems08, "PEMS08 traffic flow, 12 in / 12 out per sensor, 6:2:2 in time"),
    "csv": Entry(user.csv, "your CSV at `path` (date + numeric columns, or the `target` one), windows, 7:1:2 in time"),
    "array": Entry(user.array, "your sequences at `path`: .npy (N, T, C), or .npz with labels, lengths, splits"),
    "ts": Entry(user.ts, "your .ts classification pair: `path` NAME_TRAIN.ts, with NAME_TEST.ts beside it"),
}
UEA_ANY = ("uea-NAME", "any other set of the UEA/UCR archive, by its name (as the uea-* sets)")


def find(name: str) -> Entry:
    """The entry of data set ``name``: registered, or ``uea-NAME`` for any set of the UEA/UCR archive."""
    if name in DATASETS:
        return DATASETS[name]
    if name.startswith("uea-") and files.is_uea_name(name[4:]):
        return Entry(partial(benchmarks.uea, name=name[4:]), UEA_ANY[1])
    raise ConfigError(f"data.name: expected one of {sorted(DATASETS)} or uea-NAME, got {name!r}")


def build_dataset(config: DataConfig) -> SequenceData:
    """The data set ``config.name``: generated (synthetic sets, cached on disk) or loaded."""
    entry = find(config.name)
    seq_len = config.seq_len or synthetic.SEQ_LEN.get(config.name)
    if config.context is not None and seq_len is not None:  # before anything is generated or cached
        check_context(config.context, seq_len)
    if entry.cached:
        check_generated_size(config, seq_len)
    data = cache.cached(config, entry.build) if entry.cached else entry.build(config)
    if data.task == "forecast":
        check_context(data.context, data.train.x.shape[1])
    return data


SMALLEST_SPLIT = 128
"""Fewer sequences than any synthetic set generates by default for a split: what ``check_generated_size``
counts for a split whose size is not given, so that its estimate is a lower bound."""


def check_generated_size(config: DataConfig, seq_len: int | None) -> None:
    """Refuses, in one line and before anything is generated, a synthetic set that could not fit in memory:
    its splits' sequences counted at one float32 channel, inputs and targets (a lower bound)."""
    count = sum(n if n is not None else SMALLEST_SPLIT for n in (config.num_train, config.num_val, config.num_test))
    check_memory(
        f"data: generating {count:,} sequences of {seq_len or 1:,} steps",
        2 * 4 * count * (seq_len or 1),
        None,
        "ask for fewer or shorter (data.num_train, data.num_val, data.num_test, data.seq_len)",
    )


def check_context(context: int, seq_len: int) -> None:
    """A forecasting set's context L must leave at least one of its ``seq_len`` steps to forecast."""
    if not 1 <= context < seq_len:
        raise ConfigError(
            f"data.context: expected an integer in [1, {seq_len - 1}] (sequences of {seq_len} steps), got {context}"
        )
