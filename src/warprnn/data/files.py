"""Real data files: where they live, their checksums, readers of their formats, and their download.

Files live under a data root (``data.root``, else ``$WARPRNN_DATA``, else ``~/.cache/warprnn``), one folder
per source::

    mnist/train-images-idx3-ubyte.gz ...        fashion-mnist/train-images-idx3-ubyte.gz ...
    ett/ETTh1.csv ...                           uea/BasicMotions/BasicMotions_TRAIN.ts, ..._TEST.ts
    pems08/PEMS08.npz

``uea-NAME`` names any set of the UEA/UCR archive (``uea/NAME/NAME_TRAIN.ts``, ``..._TEST.ts``, from the
archive's ``NAME.zip``), not only those of ``UEA_SETS``; a name the archive lacks fails at download.
Like torchvision, every load verifies the checksums that are known, a missing file raises
``MissingDataError`` naming each missing file and where to download it, and a damaged one raises
``CorruptDataError`` naming the file and what is wrong. ``download`` fetches a source's files, verifies
them, and moves each into place only once it is whole (temporary file, then rename).

A file whose canonical checksum is not published (6 of the 7 UEA sets, PEMS08) is checked against the
sha256 recorded when it was first downloaded or loaded, in ``SHA256SUMS`` beside it (``sha256sum``'s
format): it cannot be checked against the canonical bytes, but a later change to it is caught. The
readers reject non-finite values, except the missing values a format declares (``?`` in ``.ts`` files).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import logging
import math
import os
import re
import shutil
import urllib.request
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import reason, write_text
from ..errors import ConfigError, CorruptDataError, MissingDataError, StorageError, TooLargeError

logger = logging.getLogger(__name__)

DATA_ENV = "WARPRNN_DATA"
DEFAULT_ROOT = "~/.cache/warprnn"
RECORD = "SHA256SUMS"  # the sha256 of each file without a published checksum, as first obtained
MAX_TEXT_BYTES = 2**30
"""The largest CSV or ``.ts`` file read (1 GiB), refused by its size before it is parsed: a text file is parsed
cell by cell in Python, which takes about 10 s and several times the file's size in memory per GiB. A cell
may hold at most ``csv.field_size_limit()`` characters (131,072)."""

__all__ = ["MissingDataError", "CorruptDataError"]  # defined in warprnn.errors, importable from here too


@dataclass(frozen=True)
class Resource:
    """One file of a data source.

    Attributes:
        path: where it lives under the data root, e.g. ``mnist/train-images-idx3-ubyte.gz``.
        url: where ``download`` fetches it (None: no canonical download, see ``where``).
        member: its name inside the zip archive at ``url`` (None: ``url`` is the file itself).
        sha256, md5: its known checksums (None: unknown, not verified); sha256 is preferred.
        where: how to obtain it by hand when there is no ``url``.
    """

    path: str
    url: str | None
    member: str | None = None
    sha256: str | None = None
    md5: str | None = None
    where: str | None = None

    @property
    def name(self) -> str:
        return Path(self.path).name


MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
ETT_URL = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/"
UEA_URL = "https://timeseriesclassification.com/aeon-toolkit/"
PEMS08_WHERE = (
    "no canonical download exists; the processed file (data of shape (17856, 170, 3)) is commonly "
    "taken from the ASTGCN authors' repository github.com/Davidham3/ASTGCN-2019-mxnet "
    "(data/PEMS08/pems08.npz); save it as pems08/PEMS08.npz"
)

# MNIST md5s are torchvision's, sha256s those of the shared copies (identical files); Fashion-MNIST md5s
# are torchvision's and Zalando's; ETT and BasicMotions sha256s are those of the canonical files.
_MNIST = {
    "train-images-idx3-ubyte.gz": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    ),
    "train-labels-idx1-ubyte.gz": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "d53e105ee54ea40749a09fcbcd1e9432",
    ),
    "t10k-images-idx3-ubyte.gz": (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "9fb629c4189551a2d022fa330f9573f3",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "ec29112dd5afa0611ce80d1b7f02629c",
    ),
}
_FASHION_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
_ETT_SHA256 = {
    "ETTh1": "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
    "ETTh2": "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b",
    "ETTm1": "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e",
    "ETTm2": "db973ca252c6410a30d0469b13d696cf919648d0f3fd588c60f03fdbdbadd1fd",
}
_UEA_SHA256 = {
    "BasicMotions_TRAIN.ts": "8dc43cc6306cb679c888c01e26f91772ac4441a916da43bac8b79734a538b9d6",
    "BasicMotions_TEST.ts": "79213102bc6fca1a398ad98ce1185dff0208fa3d1465e687f48288946b0ff8dc",
}
UEA_SETS = (  # the sets of the paper's experiments, listed by ``warprnn list``; any other name works
    "BasicMotions",
    "EigenWorms",
    "EthanolConcentration",
    "Heartbeat",
    "MotorImagery",
    "SelfRegulationSCP1",
    "SelfRegulationSCP2",
)


def _uea(name: str) -> list[Resource]:
    return [
        Resource(
            f"uea/{name}/{name}_{part}.ts",
            f"{UEA_URL}{name}.zip",
            member=f"{name}_{part}.ts",
            sha256=_UEA_SHA256.get(f"{name}_{part}.ts"),
        )
        for part in ("TRAIN", "TEST")
    ]


SOURCES: dict[str, list[Resource]] = {
    "mnist": [Resource(f"mnist/{f}", MNIST_URL + f, sha256=s, md5=m) for f, (s, m) in _MNIST.items()],
    "fashion-mnist": [Resource(f"fashion-mnist/{f}", FASHION_URL + f, md5=m) for f, m in _FASHION_MD5.items()],
    **{
        name.lower(): [Resource(f"ett/{name}.csv", f"{ETT_URL}{name}.csv", sha256=s)] for name, s in _ETT_SHA256.items()
    },
    **{f"uea-{name}": _uea(name) for name in UEA_SETS},
    "pems08": [Resource("pems08/PEMS08.npz", None, where=PEMS08_WHERE)],
}


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root``, else ``$WARPRNN_DATA``, else ``~/.cache/warprnn``; a folder, or not yet there."""
    path = Path(os.path.abspath(Path(root or os.environ.get(DATA_ENV) or DEFAULT_ROOT).expanduser()))
    if path.exists() and not path.is_dir():
        raise ConfigError(f"data.root (or ${DATA_ENV}): {path} is a file, expected a folder")
    return path


def is_uea_name(name: str) -> bool:
    """Whether ``name`` is spelled as a set of the UEA/UCR archive can be (letters and digits)."""
    return re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) is not None


def _source(name: str) -> list[Resource]:
    """The files of ``name``: a source of ``SOURCES``, or ``uea-NAME`` for any set of the archive."""
    if name in SOURCES:
        return SOURCES[name]
    if name.startswith("uea-") and is_uea_name(name[4:]):
        return _uea(name[4:])
    raise ValueError(f"unknown data source {name!r}; known: {sorted(SOURCES)}, or uea-NAME for any UEA/UCR set")


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def recorded(path: Path) -> str | None:
    """The sha256 of ``path`` recorded in the ``SHA256SUMS`` beside it (None: none recorded)."""
    record = path.parent / RECORD
    if not record.is_file():
        return None
    for line in record.read_text(encoding="utf-8", errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        if name == path.name:
            return digest
    return None


def record(path: Path, digest: str) -> None:
    """Records ``digest`` as the sha256 of ``path`` in the ``SHA256SUMS`` beside it."""
    file = path.parent / RECORD
    lines = file.read_text(encoding="utf-8").splitlines() if file.is_file() else []
    kept = [line for line in lines if line.partition("  ")[2] != path.name]
    write_text(file, "\n".join(sorted(kept + [f"{digest}  {path.name}"])) + "\n")


def mismatch(path: Path, resource: Resource, target: Path | None = None) -> str | None:
    """How ``path`` differs from the checksum of ``resource``: the published one, else the one recorded for
    ``target`` (default ``path``) when it was first obtained (None: it matches, or nothing is known)."""
    if resource.sha256 or resource.md5:
        algorithm, expected = ("sha256", resource.sha256) if resource.sha256 else ("md5", resource.md5)
        origin = ""
    else:
        algorithm, expected = "sha256", recorded(target or path)
        origin = f" (recorded in {(target or path).parent / RECORD} when first obtained)"
    if expected is None:
        return None
    actual = _digest(path, algorithm)
    return None if actual == expected else f"{algorithm} is {actual}, expected {expected}{origin}"


def verify(path: Path, resource: Resource, source: str) -> None:
    """Raises ``CorruptDataError`` when ``path`` does not match the checksum of ``resource`` (``mismatch``)."""
    problem = mismatch(path, resource)
    if problem:
        fetch = f"delete it and run 'warprnn download {source}'" if resource.url else "replace it"
        advice = (
            f"a damaged or partial file; {fetch}"
            if resource.sha256 or resource.md5
            else f"it changed since it was first obtained; {fetch}, or, if the new file is intended, delete its "
            f"line in {path.parent / RECORD}"
        )
        raise CorruptDataError(f"{path}: {problem} ({advice})")


def trust_first_use(path: Path, resource: Resource) -> None:
    """Records the sha256 of a file without a published checksum, unless one is recorded already; a data
    root that cannot be written is only warned about."""
    if resource.sha256 or resource.md5 or recorded(path):
        return
    digest = _digest(path, "sha256")
    try:
        record(path, digest)
    except StorageError as error:
        logger.warning("%s has no published checksum and its sha256 could not be recorded: %s", path, error)
        return
    logger.warning(
        "%s: no published checksum; recorded its sha256 %s in %s, which later loads verify",
        path,
        digest,
        path.parent / RECORD,
    )


def require(source: str, root: str | os.PathLike | None = None) -> dict[str, Path]:
    """The verified files of ``source``, by file name.

    Raises:
        MissingDataError: naming every missing file, the folder searched and where to get each file.
        CorruptDataError: a file whose checksum is not the known one.
    """
    resources, base = _source(source), data_root(root)
    missing = [r for r in resources if not (base / r.path).is_file()]
    if missing:
        listed = "; ".join(f"{r.path} ({'from ' + r.url if r.url else r.where})" for r in missing)
        hint = f"; run 'warprnn download {source} --root {base}'" if all(r.url for r in missing) else ""
        raise MissingDataError(
            f"data source {source!r}: {len(missing)} file(s) missing under {base}: {listed}"
            f"{hint}, or point data.root (or ${DATA_ENV}) at a folder that has them"
        )
    for r in resources:
        verify(base / r.path, r, source)
        trust_first_use(base / r.path, r)
    return {r.name: base / r.path for r in resources}


# ----------------------------------------------------------------------------------------------- readers

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (the MNIST format), gzipped when the name ends in ``.gz``.

    The header is two zero bytes, a type byte, the number of dimensions n, then n big-endian uint32 sizes.
    """
    try:
        if str(path).endswith(".gz"):
            with gzip.open(path) as f:
                raw = f.read()
        else:
            raw = Path(path).read_bytes()
    except (OSError, EOFError) as error:
        raise CorruptDataError(f"{path}: not a readable gzip file ({error})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in IDX_TYPES:
        raise CorruptDataError(f"{path}: bad IDX magic number {raw[:4].hex()} (expected 0000TTNN, TT a data type)")
    ndim = raw[3]
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise CorruptDataError(f"{path}: IDX header declares {ndim} dimensions, but the file ends at byte {len(raw)}")
    shape = tuple(int(d) for d in np.frombuffer(raw[4:offset], dtype=">u4"))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = offset + dtype.itemsize * math.prod(shape)
    if len(shape) != ndim or len(raw) != expected:
        raise CorruptDataError(f"{path}: IDX header says shape {shape}, {expected} bytes, but the file has {len(raw)}")
    array = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)
    check_finite(path, array, "IDX entry")
    return array


def check_finite(path: Path, array: np.ndarray, what: str) -> None:
    """Raises ``CorruptDataError`` naming the first non-finite entry of ``array`` (its index, as ``what``)."""
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise CorruptDataError(f"{path}: {what} {index} is {array[index]}, expected a finite number")


def read_csv(
    path: Path, columns: Sequence[str] | None = None, require_date: bool = True
) -> tuple[tuple[str, ...], np.ndarray]:
    """The column names and values ``(T, C)`` float64 of a CSV in the Time-Series-Library layout: a
    header, a ``date`` column (dropped; ``require_date`` False: optional) and numeric columns
    (``read_dated_csv``, without the dates)."""
    names, values, _ = read_dated_csv(path, columns, require_date)
    return names, values


def read_dated_csv(
    path: Path, columns: Sequence[str] | None = None, require_date: bool = True, header_only: bool = False
) -> tuple[tuple[str, ...], np.ndarray, list[str] | None]:
    """``read_csv``, with the cells of the ``date`` column (None: the header has none); ``header_only``:
    the column names but ``date`` alone (no values are read).

    Args:
        columns: the columns to read, in this order (None: every column but ``date``).
        require_date: raise when the header has no ``date`` column.

    Raises:
        CorruptDataError: one line naming the file and what is wrong; rows are numbered as in a
            spreadsheet (the header is row 1): a missing column, a row of the wrong width, a cell that is
            not a number, an empty, NaN or infinite value in a column read.
    """
    check_text_size(path)
    with open(path, newline="", encoding="utf-8-sig") as f:  # a byte-order mark is not a column name
        reader = csv.reader(f)
        try:
            rows = [next(reader, [])] if header_only else list(reader)
        except UnicodeDecodeError as error:
            raise CorruptDataError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
        except csv.Error as error:
            raise CorruptDataError(
                f"{path}, line {reader.line_num}: {error} (a cell longer than {csv.field_size_limit():,} "
                "characters, or a quote left open)"
            ) from None
    header = [name.strip() for name in rows[0]] if rows else []
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise CorruptDataError(
            f"{path}: column {repeated[0]!r} appears {header.count(repeated[0])} times in the header"
        )
    if require_date and "date" not in header:
        raise CorruptDataError(f"{path}: no 'date' column in the header {','.join(header)!r}")
    names = [n for n in header if n != "date"] if columns is None else list(columns)
    if header_only:
        return tuple(names), np.empty((0, len(names))), None
    missing = [n for n in names if n not in header]
    if missing or not names:
        raise CorruptDataError(f"{path}: no column {missing[0] if missing else 'of values'!r} in the header {header}")
    index = [header.index(n) for n in names]
    values = np.empty((len(rows) - 1, len(names)))
    for r, row in enumerate(rows[1:]):
        if len(row) != len(header):
            raise CorruptDataError(f"{path}, row {r + 2}: {len(row)} cells, expected {len(header)} as in the header")
        for c, i in enumerate(index):
            values[r, c] = _number(path, row[i], r + 2, names[c])
    dates = [row[header.index("date")] for row in rows[1:]] if "date" in header else None
    return tuple(names), values, dates


def check_text_size(path: Path) -> None:
    """Refuses a text data file larger than ``MAX_TEXT_BYTES`` before it is read."""
    size = Path(path).stat().st_size
    if size > MAX_TEXT_BYTES:
        raise TooLargeError(
            f"{path}: {size:,} bytes, more than the {MAX_TEXT_BYTES:,} a CSV or .ts file may have "
            "(warprnn.data.files.MAX_TEXT_BYTES); keep the rows you need, or save the values as .npy (data.name=array)"
        )


def _number(path: Path, cell: str, row: int, column: str) -> float:
    """The value of one cell, or ``CorruptDataError`` naming its row and column."""
    try:
        value = float(cell) if cell.strip() else math.nan
    except ValueError:
        raise CorruptDataError(f"{path}, row {row}, column {column!r}: {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise CorruptDataError(f"{path}, row {row}, column {column!r}: a missing, NaN or infinite value ({cell!r})")
    return value


@dataclass
class TsData:
    """The cases of a ``.ts`` classification file.

    Attributes:
        cases: one ``(length, C)`` float64 array per case, NaN where a value is missing (a channel shorter
            than its case's longest is padded with NaN).
        labels: the class label of each case, as written.
        classes: the class labels declared by ``@classLabel true ...``, in order.
    """

    cases: list[np.ndarray]
    labels: list[str]
    classes: tuple[str, ...]


def _flag(path: Path, tags: dict, tag: str) -> bool | None:
    if tag not in tags:
        return None
    word = tags[tag].split(" ")[0].lower()
    if word not in ("true", "false"):
        raise CorruptDataError(f"{path}: @{tag} must be true or false, got {tags[tag]!r}")
    return word == "true"


def read_ts(path: Path) -> TsData:
    """A ``.ts`` file of the UCR/UEA archive (sktime/aeon format), classification problems only.

    Header tags (``@problemName``, ``@timeStamps``, ``@missing``, ``@univariate``, ``@dimensions``,
    ``@equalLength``, ``@seriesLength``, ``@classLabel``) come before ``@data``; each data line is one case,
    channels separated by ``:``, values by ``,``, the class label last; ``?`` (or ``NaN``) marks a missing
    value. Any other non-finite value (``inf``, or a number beyond float64) is an error naming its line,
    case and channel. Lines starting with ``#`` are comments. Time-stamped files are not supported.
    """
    check_text_size(path)
    tags, cases, labels, in_data, number = {}, [], [], False, 0
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if in_data:
                    case, label = _ts_case(path, number, len(cases) + 1, line)
                    cases.append(case)
                    labels.append(label)
                    continue
                if not line.startswith("@"):
                    raise CorruptDataError(f"{path}, line {number}: expected a @tag or @data, got {line[:40]!r}")
                tag, _, value = line[1:].partition(" ")
                in_data = tag.lower() == "data"
                tags[tag.lower()] = value.strip()
    except UnicodeDecodeError as error:
        raise CorruptDataError(f"{path}, line {number + 1}: not UTF-8 text ({error.reason})") from None
    _check_ts(path, tags, in_data, cases, labels)
    return TsData(cases, labels, tuple(tags["classlabel"].split()[1:]))


def _ts_case(path: Path, number: int, case: int, line: str) -> tuple[np.ndarray, str]:
    """Data line ``number`` of a ``.ts`` file (case ``case``, counted from 1) as values ``(length, C)``,
    NaN where missing or past a shorter channel's end, and its label."""
    *channels, label = line.split(":")
    if not channels:
        raise CorruptDataError(f"{path}, line {number}: expected 'values:...:label', got {line[:40]!r}")
    values = []
    for c, text in enumerate(channels):
        words = text.split(",")
        try:
            v = np.array([w.replace("?", "nan") for w in words], dtype=np.float64)
        except ValueError:
            raise CorruptDataError(
                f"{path}, line {number}: bad value in case {case}, channel {c} ({text[:40]!r})"
            ) from None
        if np.isinf(v).any():
            step = int(np.flatnonzero(np.isinf(v))[0])
            raise CorruptDataError(
                f"{path}, line {number}: non-finite value {words[step].strip()!r} in case {case}, channel {c}, "
                f"step {step} (only '?' marks a missing value)"
            )
        values.append(v)
    array = np.full((max(len(v) for v in values), len(values)), np.nan)
    for c, v in enumerate(values):
        array[: len(v), c] = v
    return array, label.strip()


def _check_ts(path: Path, tags: dict, in_data: bool, cases: list[np.ndarray], labels: list[str]) -> None:
    """Raises ``CorruptDataError`` when the cases contradict the header (or it lacks what is needed)."""
    if not in_data or not cases:
        raise CorruptDataError(f"{path}: no @data section with cases")
    if _flag(path, tags, "timestamps"):
        raise CorruptDataError(f"{path}: time-stamped .ts files (@timeStamps true) are not supported")
    if not _flag(path, tags, "classlabel"):
        raise CorruptDataError(f"{path}: not a classification file (expected '@classLabel true <labels>')")
    channels = {case.shape[1] for case in cases}
    declared = tags.get("dimensions")
    if declared is not None and not (re.fullmatch("[0-9]+", declared) and int(declared) >= 1):
        raise CorruptDataError(f"{path}: @dimensions must be a positive integer, got {declared!r}")
    expected = 1 if _flag(path, tags, "univariate") else int(declared) if declared else None
    if len(channels) > 1 or (expected is not None and channels != {expected}):
        raise CorruptDataError(f"{path}: cases have {sorted(channels)} channel(s), expected {expected or 'the same'}")
    lengths = {len(case) for case in cases}
    if _flag(path, tags, "equallength") and len(lengths) > 1:
        raise CorruptDataError(f"{path}: @equalLength true, but the cases have lengths {sorted(lengths)[:5]}...")
    classes = tags["classlabel"].split()[1:]
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise CorruptDataError(f"{path}: labels {unknown[:5]} are not among the declared classes {classes}")


def read_npz(path: Path, key: str = "data", ndim: int = 3) -> np.ndarray:
    """The array ``key`` of an ``.npz`` file, checked to have ``ndim`` dimensions."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            array = archive[key] if key in archive.files else None
            names = archive.files
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise CorruptDataError(f"{path}: not a readable .npz file ({error})") from None
    if array is None:
        raise CorruptDataError(f"{path}: no array {key!r} (it has {sorted(names)})")
    if array.ndim != ndim or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise CorruptDataError(
            f"{path}: {key!r} has shape {array.shape} and dtype {array.dtype}, expected {ndim} dimensions of numbers"
        )
    check_finite(path, array, f"{key!r} entry")
    return array


# -------------------------------------------------------------------------------------------- download


def open_url(url: str):
    """Opens ``url`` for reading (``file://`` URLs too); tests replace it to serve local files."""
    return urllib.request.urlopen(url, timeout=60)


def _fetch(url: str, target: Path) -> None:
    """Streams ``url`` into ``target``."""
    try:
        with open_url(url) as response, open(target, "wb") as f:
            shutil.copyfileobj(response, f, 1 << 20)
    except OSError as error:
        target.unlink(missing_ok=True)
        hint = " (no such file there: check the name's spelling)" if getattr(error, "code", None) == 404 else ""
        raise MissingDataError(f"could not download {url}: {error}{hint}") from None


def _install(part: Path, target: Path, resource: Resource) -> None:
    """Verifies the downloaded ``part`` (against the published checksum, else the one recorded for
    ``target``), renames it to ``target``, and records its sha256 when nothing was known."""
    problem = mismatch(part, resource, target)
    if problem:
        raise CorruptDataError(f"downloaded {resource.path} from {resource.url} is damaged and was not kept: {problem}")
    os.replace(part, target)
    trust_first_use(target, resource)


def download(source: str, root: str | os.PathLike | None = None) -> list[Path]:
    """Fetches the files of ``source`` into the data root, verifying their checksums.

    Files already present and valid are kept. Each file is written to ``NAME.part`` and renamed once it is
    complete and verified, so an interrupted or damaged download never leaves a file that looks valid; a
    failed one leaves nothing. A file without a published checksum has its sha256 recorded (``RECORD``).

    Returns:
        The paths of the source's files.
    """
    resources, base = _source(source), data_root(root)
    manual = [r for r in resources if r.url is None]
    if manual:
        raise MissingDataError(f"{source}: {manual[0].where}")
    archives: dict[str, Path] = {}
    try:
        for r in resources:
            target = base / r.path
            if target.is_file():
                verify(target, r, source)
                logger.info("%s: present", target)
                continue
            part = target.with_name(target.name + ".part")
            try:
                _obtain(r, target, part, archives)
            finally:
                part.unlink(missing_ok=True)
            logger.info("%s: ok", target)
    finally:
        for archive in archives.values():
            archive.unlink(missing_ok=True)
    return [base / r.path for r in resources]


def _obtain(resource: Resource, target: Path, part: Path, archives: dict[str, Path]) -> None:
    """Downloads ``resource`` (from its archive in ``archives``, fetched once) to ``part``, then installs it."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError(f"{target.parent}: cannot create the data folder ({reason(error)})") from error
    if resource.member is None:
        logger.info("downloading %s", resource.url)
        _fetch(resource.url, part)
    else:
        if resource.url not in archives:
            logger.info("downloading %s", resource.url)
            archives[resource.url] = target.with_name(Path(resource.url).name + ".part")
            _fetch(resource.url, archives[resource.url])
        _extract(archives[resource.url], resource, part)
    _install(part, target, resource)


def _extract(archive: Path, resource: Resource, part: Path) -> None:
    """Writes ``resource.member`` (found anywhere in the zip ``archive``) to ``part``."""
    try:
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if Path(n).name == resource.member]
            if not names:
                raise CorruptDataError(f"{resource.url}: the archive has no {resource.member}")
            with z.open(names[0]) as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise CorruptDataError(f"{resource.url}: a damaged zip archive ({error})") from None
