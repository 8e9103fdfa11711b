"""Atomic file writes: a reader (or a concurrent writer) sees the old file or the new one, never half.

Every file of a run folder and of the data cache is written here: to a unique temporary file beside the
target (``.NAME.XXXX.tmp``), flushed to disk (fsync), then renamed over the target. A failed write (disk
full, a read-only folder, an exception while serialising) removes its temporary file, leaves the
previous file as it was, and raises ``StorageError`` naming the file; a kill leaves at most the
temporary file, which ``remove_stale`` clears.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import torch

from .errors import StorageError

TEMP_GLOB = ".*.tmp"  # the temporary files of write_atomic


def reason(error: OSError) -> str:
    """An OS error in words, without the path (``No space left on device``)."""
    return error.strerror or str(error)


def write_atomic(path: str | os.PathLike, write: Callable[[IO], None], *, binary: bool = True) -> Path:
    """Calls ``write(file)`` on a fresh temporary file beside ``path``, then renames it to ``path``.

    Args:
        path: the file to write; its folder is created if needed.
        write: writes the whole content to the open file it is given.
        binary: open the temporary file in binary mode (else text, UTF-8, ``newline=""``).

    Returns:
        ``path`` as a ``Path``.

    Raises:
        StorageError: the folder or the file cannot be created or written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise StorageError(f"{path}: cannot write there ({reason(error)})") from error
    try:
        with os.fdopen(
            handle, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})
        ) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, StorageError):
            raise StorageError(f"{path}: could not write ({reason(error)}); the previous file is unchanged") from error
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    return write_atomic(path, lambda f: f.write(text), binary=False)


def save_torch(state, path: str | os.PathLike) -> Path:
    """``torch.save(state)`` to ``path`` atomically. The state is serialised in memory first, so that a
    failing disk surfaces as the OS error it is (not as torch's "unexpected pos")."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    return write_atomic(path, lambda f: f.write(data))


def remove_stale(folder: str | os.PathLike) -> list[Path]:
    """Deletes the temporary files that a killed ``write_atomic`` left in ``folder``; returns them."""
    stale = sorted(Path(folder).glob(TEMP_GLOB))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
