"""Atomic writes: the target holds the old content or the new, and a failed write leaves no temporary file."""

import pytest
import torch

from warprnn import atomic


def test_text_and_torch_round_trip(tmp_path):
    atomic.write_text(tmp_path / "sub" / "a.txt", "héllo\n")
    assert (tmp_path / "sub" / "a.txt").read_text(encoding="utf-8") == "héllo\n"
    atomic.save_torch({"w": torch.arange(3)}, tmp_path / "b.pt")
    assert torch.equal(torch.load(tmp_path / "b.pt", weights_only=True)["w"], torch.arange(3))
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.pt", "sub"]  # no temporary file left


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    path = tmp_path / "metrics.csv"
    atomic.write_text(path, "old")

    def half_then_fail(f):
        f.write("new, but only ha")
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic.write_atomic(path, half_then_fail, binary=False)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]


def test_an_unserialisable_state_leaves_no_file(tmp_path):
    with pytest.raises(TypeError, match="cannot pickle"):
        atomic.save_torch({"g": (i for i in range(3))}, tmp_path / "c.pt")  # a generator cannot be pickled
    assert list(tmp_path.iterdir()) == []
