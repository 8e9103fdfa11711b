"""The registry of data sets: every name that ``data.name`` accepts, and ``build_dataset``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
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
        reads: the ``DataConfig`` options ``build`` reads (``name`` aside): a run that sets any other
            refuses it (``check_options``), rather than dropping it without a word.
        cached: a pure function of the config's generation fields (``cache.GENERATION_FIELDS``),
            generated once and kept on disk.
    """

    build: Callable[[DataConfig], SequenceData]
    description: str
    reads: frozenset[str]
    cached: bool = False


SUBSETS = frozenset({"num_train", "num_val", "num_test", "seed"})
"""What every data set reads: the split sizes, and the seed that draws them (or generates the data)."""
GENERATED = SUBSETS | {"seq_len"}
CACHED = GENERATED | {"root"}  # a cached set is kept under data.root
WINDOWS = SUBSETS | {"context", "horizon", "scaling"}  # a long series cut into forecasting windows
VALIDATION = frozenset({"val_fraction", "stratify"})  # a validation part carved from the training one
CASES = SUBSETS | VALIDATION | {"split"}  # a .ts classification pair
UEA = CASES | {"root"}


DATASETS: dict[str, Entry] = {
    "msd-small": Entry(
        synthetic.msd_small,
        "mass-spring-damper reconstruction, small and quick (synthetic)",
        CACHED | {"context"},
        True,
    ),
    "msd": Entry(
        synthetic.msd,
        "mass-spring-damper reconstruction, out-of-distribution test (synthetic, paper Sec. 4.3)",
        CACHED | {"context"},
        True,
    ),
    "msd-zero": Entry(
        synthetic.msd_zero,
        "mass-spring-damper with random initial states (synthetic, paper Sec. 4.3)",
        CACHED | {"context"},
        True,
    ),
    "lv-copy": Entry(synthetic.lv_copy, "Lotka-Volterra repeat-copy (synthetic, paper Sec. 4.3)", CACHED, True),
    "sine": Entry(
        synthetic.sine,
        "phase-shifted sines, nested training sizes (synthetic, paper Sec. 4.4)",
        CACHED | {"context"},
        True,
    ),
    "spirals": Entry(synthetic.spirals, "clockwise vs anticlockwise spirals, classification (synthetic)", CACHED, True),
    "icl": Entry(
        synthetic.icl,
        "in-context linear regression, keys of dimension `dim` (synthetic, the paper's ICL task)",
        GENERATED | {"dim"},
    ),
    "mnist": Entry(
        partial(benchmarks.pixel_data, source="mnist", classify=False),
        "MNIST pixel-sequence completion after `context` pixels (default 300), in [-1, 1]",
        SUBSETS | VALIDATION | {"root", "context"},
    ),
    "fashion-mnist": Entry(
        partial(benchmarks.pixel_data, source="fashion-mnist", classify=False),
        "Fashion-MNIST pixel-sequence completion, as mnist",
        SUBSETS | VALIDATION | {"root", "context"},
    ),
    "mnist-class": Entry(
        partial(benchmarks.pixel_data, source="mnist", classify=True),
        "sequential MNIST classification",
        SUBSETS | VALIDATION | {"root"},
    ),
    "fashion-mnist-class": Entry(
        partial(benchmarks.pixel_data, source="fashion-mnist", classify=True),
        "sequential Fashion-MNIST classification",
        SUBSETS | VALIDATION | {"root"},
    ),
    **{
        source: Entry(
            partial(benchmarks.ett, source=source),
            f"ETT{source[3:]} forecasting, TSL protocol, `context` + `horizon`",
            WINDOWS | {"root"},
        )
        for source in ("etth1", "etth2", "ettm1", "ettm2")
    },
    **{
        f"uea-{name}": Entry(
            partial(benchmarks.uea, name=name),
            f"UEA {name} classification, `split` archive or resplit",
            UEA,
        )
        for name in files.UEA_SETS
    },
    "pems08": Entry(
        benchmarks.pems08, "PEMS08 traffic flow, 12 in / 12 out per sensor, 6:2:2 in time", WINDOWS | {"root"}
    ),
    "csv": Entry(
        user.csv,
        "your CSV at `path` (date + numeric columns, or the `target` one), windows, 7:1:2 in time",
        WINDOWS | {"path", "target", "covariates", "split_rows"},
    ),
    "array": Entry(
        user.array,
        "your sequences at `path`: .npy (N, T, C), or .npz with labels, lengths, splits",
        SUBSETS | {"path", "context"},
    ),
    "ts": Entry(
        user.ts,
        "your .ts classification pair: `path` NAME_TRAIN.ts, with NAME_TEST.ts beside it",
        CASES | {"path"},
    ),
}
UEA_ANY = ("uea-NAME", "any other set of the UEA/UCR archive, by its name (as the uea-* sets)")


def find(name: str) -> Entry:
    """The entry of data set ``name``: registered, or ``uea-NAME`` for any set of the UEA/UCR archive."""
    if name in DATASETS:
        return DATASETS[name]
    if name.startswith("uea-") and files.is_uea_name(name[4:]):
        return Entry(partial(benchmarks.uea, name=name[4:]), UEA_ANY[1], UEA)
    raise ConfigError(f"data.name: expected one of {sorted(DATASETS)} or uea-NAME, got {name!r}")


def build_dataset(config: DataConfig) -> SequenceData:
    """The data set ``config.name``: generated (synthetic sets, cached on disk) or loaded."""
    entry = find(config.name)
    check_options(config, entry)
    seq_len = config.seq_len or synthetic.SEQ_LEN.get(config.name)
    if config.context is not None and seq_len is not None:  # before anything is generated or cached
        check_context(config.context, seq_len)
    if entry.cached:
        check_generated_size(config, seq_len)
    data = cache.cached(config, entry.build) if entry.cached else entry.build(config)
    if data.task == "forecast":
        check_context(data.context, data.train.x.shape[1])
    return data


def check_options(config: DataConfig, entry: Entry) -> None:
    """Refuses, in one line, an option set (away from its default) that data set ``config.name`` does not
    read, naming the data sets that do."""
    defaults = DataConfig()
    for field in fields(DataConfig):
        key = field.name
        if key != "name" and key not in entry.reads and getattr(config, key) != getattr(defaults, key):
            raise ConfigError(f"data.{key}: not read by data set {config.name!r} (read by: {readers(key)})")


def readers(key: str) -> str:
    """The data sets that read option ``key``, the ``uea-*`` sets as one."""
    names = [name for name, entry in DATASETS.items() if key in entry.reads and not name.startswith("uea-")]
    if key in UEA:
        names.append(UEA_ANY[0])
    return ", ".join(names)


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
