"""``warprnn.allocator``: glibc keeps freed memory, so a second block of the same size faults no pages in."""

import logging
import subprocess
import sys

import pytest
import torch

from conftest import TINY
from warprnn import allocator, cli
from warprnn.experiments import report

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


def test_the_command_keeps_freed_memory_before_it_trains(monkeypatch, tmp_path):
    """The ``warprnn`` command (here ``train``) and the worker processes of ``warprnn reproduce`` call
    ``keep_freed_memory``."""
    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append("train"))
    assert cli.main(["train", "msd-small", *TINY, "train.epochs=1", f"train.out_dir={tmp_path}"]) == 0
    monkeypatch.setattr(report, "keep_freed_memory", lambda: calls.append("worker"))
    threads, loggers = torch.get_num_threads(), [logging.getLogger(name) for name in report.LOGGERS]
    saved = [(logger.level, list(logger.handlers)) for logger in loggers]
    try:
        report.worker_setup(1, tuple(level for level, _ in saved))
    finally:  # the worker's settings, undone in this process
        torch.set_num_threads(threads)
        for logger, (level, handlers) in zip(loggers, saved):
            logger.setLevel(level)
            logger.handlers[:] = handlers
    assert calls == ["train", "worker"]
