"""Keep freed memory in the process, so that each training step reuses the last step's pages.

Every CPU training step allocates the states theta ``(T, batch, D_theta)`` and their gradients afresh. glibc's
``malloc`` hands blocks that large back to the kernel when they are freed (``mmap`` and heap trimming),
so the next step's copies of them fault their pages in again, 4 KB at a time, and the kernel zeroes each
one. On the ``mnist-ar`` benchmark step (521 MB of states) that was 12 to 15% of the step on 2 cores
(``python benchmarks/run.py --cases mnist-ar`` with and without it, README's Performance section).

``keep_freed_memory`` tells glibc to serve every block from its heap and never to return freed memory
to the kernel (``mallopt(M_MMAP_MAX, 0)`` and ``mallopt(M_TRIM_THRESHOLD, -1)``), the same as the
environment variables ``MALLOC_MMAP_MAX_=0`` and ``MALLOC_TRIM_THRESHOLD_`` set to the largest size.
The cost is memory: the process keeps its peak until it exits, and the peak itself can rise, since a
step's requests do not always fit the blocks the last step freed (1.4 to 1.8x in some of the benchmark's
cases; a 3-minute ``warprnn train mnist-cpu`` peaked at the same resident memory either way). It changes
the whole process, so the library never calls it on import; the ``warprnn`` command calls it before any
command runs (set ``WARPRNN_MALLOC=system`` to keep glibc's defaults), and a script of one's own can call
it first. ``ENVIRONMENT`` is the same setting for a process that is not Python (glibc reads it at start). Elsewhere (not glibc: macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

MALLOC_ENV = "WARPRNN_MALLOC"
SETTINGS = ("keep", "system")
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's malloc.h
ENVIRONMENT = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**64 - 1)}


@functools.cache
def glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has ``mallopt``), else None."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018  (only glibc has it)
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def keep_freed_memory() -> bool:
    """Makes glibc keep freed memory for reuse (above), unless ``WARPRNN_MALLOC=system``. Returns whether
    the setting is now in force."""
    setting = os.environ.get(MALLOC_ENV, "keep")
    if setting not in SETTINGS:
        raise ValueError(f"{MALLOC_ENV}={setting!r}: expected one of {', '.join(SETTINGS)}")
    libc = glibc()
    if setting == "system" or libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, -1))
