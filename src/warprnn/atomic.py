"""Atomic file writes: a reader (or a concurrent writer) sees the old file or the new one, never half.

Every file of a run folder and of the data cache is written here: to a unique temporary file beside the
target, flushed to disk (fsync), then renamed over the target. A failed write (disk full, a kill, an
exception while serialising) removes its temporary file and leaves the previous file as it was.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import torch


def write_atomic(path: str | os.PathLike, write: Callable[[IO], None], *, binary: bool = True) -> Path:
    """Calls ``write(file)`` on a fresh temporary file beside ``path``, then renames it to ``path``.

    Args:
        path: the file to write; its folder is created if needed.
        write: writes the whole content to the open file it is given.
        binary: open the temporary file in binary mode (else text, UTF-8, ``newline=""``).

    Returns:
        ``path`` as a ``Path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(
            handle, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})
        ) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    return write_atomic(path, lambda f: f.write(text), binary=False)


def save_torch(state, path: str | os.PathLike) -> Path:
    """``torch.save(state)`` to ``path`` atomically."""
    return write_atomic(path, lambda f: torch.save(state, f))
