"""SIGKILL inside a checkpoint write (issue 17): the run resumes to the weights, metrics and test metrics of
an uninterrupted run, and the half-written temporary file is cleared.

The killed run is ``warprnn train`` in a subprocess whose atomic writer is slowed: the third write of
``last.pt`` writes half its bytes to the temporary file, signals the test, and waits to be killed.
"""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from conftest import TINY
from warprnn.training import load_experiment, train
from warprnn.training.rundir import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
ARGS = [*TINY, "train.epochs=4"]
STALLED_WRITER = """
import io, os, sys, time
from pathlib import Path
from warprnn import atomic
from warprnn.cli import main

marker, real, writes = Path(sys.argv[1]), atomic.write_atomic, []


def stalled(path, write, *, binary=True):
    if Path(path).name == "last.pt":
        writes.append(path)
    if len(writes) != 3 or Path(path).name != "last.pt":
        return real(path, write, binary=binary)

    def half_then_wait(f):
        buffer = io.BytesIO()
        write(buffer)
        data = buffer.getvalue()
        f.write(data[: len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
        marker.write_text(str(path))
        time.sleep(600)

    return real(path, half_then_wait, binary=binary)


atomic.write_atomic = stalled
sys.exit(main(sys.argv[2:]))
"""


def test_sigkill_inside_a_checkpoint_write_resumes_identically(tmp_path):
    config = str(REPO / "configs" / "msd-small.yaml")
    reference = train(load_experiment(config, ARGS + [f"train.out_dir={tmp_path / 'ref'}"])).run_dir

    script, marker, out_dir = tmp_path / "stalled.py", tmp_path / "in-write", tmp_path / "killed"
    script.write_text(STALLED_WRITER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    argv = [sys.executable, str(script), str(marker), "train", "-q", config, *ARGS, f"train.out_dir={out_dir}"]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 600  # a fail-safe only: the write stalls until killed, however slow the machine
    while not marker.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert marker.exists(), process.stderr.read().decode()
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL

    (run,) = out_dir.iterdir()
    checkpoints = run / "checkpoints"
    assert len(list(checkpoints.glob(".last.pt.*.tmp"))) == 1  # the kill landed inside the write
    assert load_checkpoint(checkpoints / "last.pt")["epoch"] == 2  # the previous checkpoint is whole

    assert train(None, run_dir=run).status == "finished"
    assert not list(run.rglob("*.tmp"))
    resumed, expected = (load_checkpoint(r / "checkpoints" / "last.pt") for r in (run, reference))
    assert resumed["epoch"] == 4
    for key in expected["model"]:
        assert torch.equal(resumed["model"][key], expected["model"][key]), key
    assert without_time(run / "metrics.csv") == without_time(reference / "metrics.csv")
    assert (run / "test_metrics.json").read_text() == (reference / "test_metrics.json").read_text()


def without_time(path):
    """The rows of a ``metrics.csv`` without its ``time`` column (wall-clock seconds differ between runs)."""
    return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(path.read_text().splitlines())]
