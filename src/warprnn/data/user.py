"""Data sets of your own files, named by ``data.path``: ``csv``, ``array`` and ``ts``.

- ``csv``: a long series in the Time-Series-Library ``custom`` layout (a header, a ``date`` column and
  numeric columns), forecast in windows of ``context`` + ``horizon`` steps, split in time 7:1:2 (or
  ``data.split_rows``), scaled with the training part (``benchmarks.series_data``, as ETT).
- ``array``: sequences in a ``.npy`` or ``.npz`` file (``array_data`` says which arrays).
- ``ts``: a classification set of the UEA/UCR ``.ts`` format, ``NAME_TRAIN.ts`` and ``NAME_TEST.ts``, split
  as the ``uea-*`` sets (``benchmarks.ts_pair``).

Bad input raises ``files.CorruptDataError`` (or ``FileNotFoundError``), one line naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..checks import check_memory
from . import benchmarks, dates, files
from .config import DataConfig
from .types import SequenceData, Split


def user_path(config: DataConfig, suffixes: tuple[str, ...]) -> Path:
    """The existing file ``data.path``, with one of ``suffixes``."""
    if config.path is None:
        raise ValueError(f"data.path: the {config.name!r} data set reads a file; set data.path")
    path = Path(config.path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"data.path: {str(path)!r} does not exist")
    if not path.name.endswith(suffixes):
        raise ValueError(f"data.path: {str(path)!r} is not a {' or '.join(suffixes)} file")
    return path


def csv(config: DataConfig) -> SequenceData:
    """A CSV series, every column but ``date`` (or the ``data.target`` column alone), see the module."""
    path = user_path(config, (".csv",))
    covariates = list(config.covariates or [])
    columns = None if config.target is None else [config.target]
    if covariates:
        if config.target is None:
            header = files.read_dated_csv(path, None, require_date=True, header_only=True)[0]
            columns = [name for name in header if name not in covariates]
        columns = [*columns, *covariates]
    names, values, cells = files.read_dated_csv(path, columns)
    n_train, n_test = int(0.7 * len(values)), int(0.2 * len(values))  # the Time-Series-Library custom loader
    rows = config.split_rows or (n_train, len(values) - n_train - n_test, n_test)
    data = benchmarks.series_data(values, names, tuple(rows), config, path)
    every = dates.step_of(cells, str(path))
    data = dataclasses.replace(data, frequency=None if every is None else every.total_seconds())
    return with_covariates(data, len(covariates))


def with_covariates(data: SequenceData, k: int) -> SequenceData:
    """``data`` whose last ``k`` channels are covariates: its targets ``y`` are the other channels."""
    if not k:
        return data
    splits = [Split(s.x, s.y[..., :-k], s.lengths) for s in (data.train, data.val, data.test)]
    return dataclasses.replace(data, train=splits[0], val=splits[1], test=splits[2], covariate_channels=k)


def ts(config: DataConfig) -> SequenceData:
    """The ``.ts`` pair whose TRAIN file is ``data.path``."""
    train = user_path(config, ("_TRAIN.ts",))
    test = train.with_name(train.name[: -len("_TRAIN.ts")] + "_TEST.ts")
    if not test.is_file():
        raise FileNotFoundError(f"data.path: {str(train)!r} has no test file {str(test)!r} beside it")
    return benchmarks.ts_pair(config, train, test)


def array(config: DataConfig) -> SequenceData:
    """Sequences from ``data.path``: a ``.npy`` of x, or a ``.npz`` of the arrays ``array_data`` takes."""
    path = user_path(config, (".npy", ".npz"))
    try:
        check_loaded_size(path)
        if path.suffix == ".npy":
            arrays = {"x": np.load(path, allow_pickle=False)}
        else:
            with np.load(path, allow_pickle=False) as loaded:
                arrays = dict(loaded)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise files.CorruptDataError(f"{path}: not a readable {path.suffix} file ({error})") from None
    return array_data(arrays, config, path)


LOADED_COPIES = 3
"""Copies of an array file's values that loading holds at once: as stored, in float64, and as tensors."""


def check_loaded_size(path: Path) -> None:
    """Refuses, before it is loaded, an array file whose values (uncompressed) would not fit in memory."""
    if path.suffix == ".npz":
        with zipfile.ZipFile(path) as archive:
            size = sum(member.file_size for member in archive.infolist())
    else:
        size = path.stat().st_size
    check_memory(f"data.path: loading {path}", LOADED_COPIES * size, None, "give fewer or shorter cases")


def array_data(arrays: dict[str, np.ndarray], config: DataConfig, source) -> SequenceData:
    """A data set from named arrays (those of a ``.npz`` file; ``source`` names it in errors).

    Arrays:
        x: ``(N, T, C)`` sequences (required). With ``lengths``, steps after a case's length are padding.
        y: ``(N,)`` class labels (numbers or strings): a classification set, classes in sorted order.
            Without it, a forecasting set: each sequence is its own target, forecast after ``context``
            steps (default: half the length).
        lengths: ``(N,)`` valid steps of each case, 1 to T (default: T).
        train, val, test: indices of the cases of each split (all three, or none: a random 70:15:15
            split drawn with ``data.seed``).
        covariates: ``(N, T, k)`` (forecasting sets): channels read but not forecast, known in advance
            (``WarpConfig.covariate_channels``), appended after x's channels.

    Each channel is standardised with the training cases' valid steps. Classification inputs may have
    NaN (filled as in the UEA sets); a forecasting set's values are its targets and must be finite.
    """
    x = _real(_checked(arrays, "x", source, ndim=3), "x", source)
    n, T = x.shape[:2]
    k = 0
    if "covariates" in arrays:
        covariates = _real(_checked(arrays, "covariates", source, ndim=3), "covariates", source)
        if covariates.shape[:2] != (n, T) or "y" in arrays:
            raise files.CorruptDataError(
                f"{source}: 'covariates' must be (N, T, k) = ({n}, {T}, k) beside x, for forecasting (no 'y'); "
                f"got {covariates.shape}"
            )
        x, k = np.concatenate([x, covariates.astype(x.dtype)], axis=-1), covariates.shape[-1]
    lengths = _checked(arrays, "lengths", source, shape=(n,), default=np.full(n, T))
    if not np.issubdtype(lengths.dtype, np.integer) or not ((lengths >= 1) & (lengths <= T)).all():
        raise files.CorruptDataError(f"{source}: 'lengths' must be integers from 1 to {T}")
    generator = torch.Generator().manual_seed(config.seed)
    index = _split_index(arrays, n, source, generator)
    cases = [case[:length] for case, length in zip(x.astype(np.float64), lengths.tolist())]
    check_disjoint(cases, index, source)
    if "y" in arrays:
        labels = _labels(_checked(arrays, "y", source, shape=(n,)), source)
        classes, codes = np.unique(labels, return_inverse=True)
        names = tuple(str(c) for c in classes)
        return benchmarks.case_data(cases, torch.as_tensor(codes), names, index, config, generator, source)
    for i, case in enumerate(cases):
        if not np.isfinite(case).all():
            step, channel = np.argwhere(~np.isfinite(case))[0]
            raise files.CorruptDataError(
                f"{source}: NaN or infinite target in case {i}, step {step}, channel {channel}"
            )
    return with_covariates(sequences(cases, index, config, generator, source), k)


def sequences(
    cases: list[np.ndarray], index: list[torch.Tensor], config: DataConfig, generator, source: str
) -> SequenceData:
    """A forecasting set of sequences ``(T_i, C)``, each its own target, split by ``index``; ``source`` names
    the data in errors."""
    scaler = benchmarks.fit_scaler(np.concatenate([cases[i] for i in index[0].tolist()]), "standard", source)
    x, lengths = benchmarks.pad([scaler.transform(torch.from_numpy(case).float()).numpy() for case in cases])
    splits = [Split(x[part], x[part], lengths[part]) for part in index]
    splits = benchmarks.subsample(splits, config, generator)
    channels = tuple(f"dim{c}" for c in range(x.shape[-1]))
    context = config.context or x.shape[1] // 2
    return SequenceData(*splits, task="forecast", context=context, scaler=scaler, channel_names=channels)


def _checked(arrays: dict, key: str, source, ndim: int | None = None, shape=None, default=None) -> np.ndarray:
    """``arrays[key]`` (or ``default`` when absent and given), checked to have ``ndim`` dimensions or ``shape``."""
    if key not in arrays:
        if default is None:
            raise files.CorruptDataError(f"{source}: no array {key!r} (it has {sorted(arrays)})")
        return default
    a = arrays[key]
    if (ndim is not None and a.ndim != ndim) or (shape is not None and a.shape != shape):
        expected = f"{ndim} dimensions" if shape is None else f"shape {shape}, one per case of 'x'"
        raise files.CorruptDataError(f"{source}: {key!r} has shape {a.shape}, expected {expected}")
    return a


def _real(a: np.ndarray, key: str, source) -> np.ndarray:
    """``a``, refused unless it holds real numbers (not complex, strings or objects)."""
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating) or a.dtype == bool):
        raise files.CorruptDataError(f"{source}: {key!r} holds {a.dtype} values, expected real numbers")
    return a


def _labels(y: np.ndarray, source) -> np.ndarray:
    """Class labels ``y``: integers, names (strings), or whole numbers stored as floats; a NaN or a fraction
    is refused, naming its case (it would have become a class of its own)."""
    if np.issubdtype(y.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if len(bad):
            raise files.CorruptDataError(
                f"{source}: label {y[bad[0]]} of case {bad[0]} is not a whole number (labels are classes)"
            )
        return y.astype(np.int64)
    if not (np.issubdtype(y.dtype, np.integer) or y.dtype.kind in "bUS"):
        raise files.CorruptDataError(f"{source}: 'y' holds {y.dtype} values, expected integers or names")
    return y


SPLITS = ("train", "val", "test")


def check_disjoint(cases: list[np.ndarray], index: list[torch.Tensor], source) -> None:
    """Refuses a validation or test case identical to a case of an earlier part (training first): it would
    be scored on what the model trained on (or selected with)."""
    seen = {}
    for name, part in zip(SPLITS, index):
        for i in part.tolist():
            key = hashlib.sha256(repr(cases[i].shape).encode() + cases[i].tobytes()).digest()
            first = seen.setdefault(key, (name, i))
            if first[0] != name:
                raise files.CorruptDataError(
                    f"{source}: case {i} ({name!r}) is identical to case {first[1]} ({first[0]!r}): a case in "
                    "two parts is scored on what was trained on"
                )


def _split_index(arrays: dict, n: int, source, generator: torch.Generator) -> list[torch.Tensor]:
    """The indices of the train, validation and test cases: given, or drawn 70:15:15."""
    given = [key for key in ("train", "val", "test") if key in arrays]
    if not given:
        index = benchmarks.resplit(n, generator)
        if min(len(part) for part in index) == 0:
            raise files.CorruptDataError(
                f"{source}: {n} case(s), too few to split 70:15:15; give 'train', 'val', 'test'"
            )
        return index
    if len(given) != 3:
        raise files.CorruptDataError(f"{source}: has split(s) {given}; give all of 'train', 'val' and 'test' or none")
    index = [np.asarray(arrays[key]).reshape(-1) for key in SPLITS]
    for key, part in zip(SPLITS, index):
        if len(part) == 0 or not np.issubdtype(part.dtype, np.integer) or part.min() < 0 or part.max() >= n:
            raise files.CorruptDataError(f"{source}: {key!r} must be a non-empty array of case indices 0 to {n - 1}")
        values, counts = np.unique(part, return_counts=True)
        if (counts > 1).any():
            raise files.CorruptDataError(f"{source}: {key!r} lists case {values[counts > 1][0]} more than once")
    return [torch.as_tensor(part, dtype=torch.long) for part in index]
