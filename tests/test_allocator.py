"""``warprnn.allocator``: glibc keeps freed memory, so a second block of the same size faults no pages in."""

import subprocess
import sys

import pytest

from warprnn import allocator

pytestmark = pytest.mark.skipif(allocator.glibc() is None, reason="the C library is not glibc")

REUSE = """
import ctypes, resource, sys
from warprnn import allocator
kept = allocator.keep_freed_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
size, faults = 256 * 2**20, []
for _ in range(2):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(size)
    libc.memset(block, 1, size)
    libc.free(block)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(kept, *faults)
"""


def run_reuse(setting: str) -> tuple[str, int, int]:
    env = {"WARPRNN_MALLOC": setting, "PATH": ""}
    done = subprocess.run([sys.executable, "-c", REUSE], capture_output=True, text=True, env=env, check=True)
    kept, first, second = done.stdout.split()
    return kept, int(first), int(second)


def test_freed_memory_is_reused_without_faulting_pages_in():
    kept, first, second = run_reuse("keep")
    assert kept == "True"
    assert first > 100  # 256 MB faulted in once: 65,536 pages of 4 KB, or 128 huge pages
    assert second < first / 100


def test_the_system_setting_leaves_glibc_as_it_is():
    kept, first, second = run_reuse("system")
    assert kept == "False"
    assert second > first / 2  # glibc maps a block this large afresh and unmaps it when freed


def test_an_unknown_setting_is_an_error(monkeypatch):
    monkeypatch.setenv("WARPRNN_MALLOC", "jemalloc")
    with pytest.raises(ValueError, match="WARPRNN_MALLOC='jemalloc'"):
        allocator.keep_freed_memory()
