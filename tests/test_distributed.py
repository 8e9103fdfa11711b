"""Training on several processes (issue 20): ``torchrun`` data-parallel runs equal one process on the same
global batch; the pieces that make them equal (shards, draws, loss shares) checked one by one."""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from warprnn import WarpConfig, heads
from warprnn.errors import ConfigError
from warprnn.training import load_experiment, loop, train
from warprnn.training.distributed import World, drawing_rows, rows, share_of_loss
from warprnn.training.evaluation import step_mask
from warprnn.training.metrics import mse
from warprnn.training.rundir import load_checkpoint

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_rows_split_every_batch_into_contiguous_disjoint_shares(size):
    for batch in range(1, 12):
        shares = [rows(batch, World(rank, size)) for rank in range(size)]
        assert shares[0][0] == 0 and shares[-1][1] == batch
        assert all(a[1] == b[0] for a, b in zip(shares, shares[1:]))
        assert max(b - a for a, b in shares) - min(b - a for a, b in shares) <= 1


@pytest.mark.parametrize("size", [2, 3, 7])
def test_each_rank_draws_its_rows_of_the_whole_batch_teacher_forcing(size):
    """Every rank's ``heads.feeding`` on its rows equals those rows of one process's draws on the whole batch,
    and leaves the generator where one process leaves it (the loss steps drawn next are the same)."""
    config, x = WarpConfig(in_channels=2), torch.randn(7, 9, 2)
    generator = torch.Generator().manual_seed(5)
    whole, _ = heads.feeding(config, x, 2, 0.5, generator)
    after = torch.randperm(8, generator=generator)
    for rank in range(size):
        generator.manual_seed(5)
        start, stop = rows(len(x), World(rank, size))
        with drawing_rows(generator, start, stop, tuple(x.shape), None, World(rank, size)) as draws:
            if stop > start:
                mine, _ = heads.feeding(config, x[start:stop], 2, 0.5, draws)
                assert torch.equal(mine, whole[start:stop])
        assert torch.equal(torch.randperm(8, generator=generator), after)


def test_sampled_feedback_leaves_the_generator_where_one_process_does():
    config, x = WarpConfig(in_channels=2, head="gaussian", ar_feed="sample"), torch.randn(6, 5, 2)
    generator = torch.Generator().manual_seed(1)
    heads.feeding(config, x, 1, 0.5, generator)
    after = torch.randperm(4, generator=generator)
    generator.manual_seed(1)
    with drawing_rows(generator, 3, 6, tuple(x.shape), x.dtype, World(1, 2)) as draws:
        heads.feeding(config, x[3:], 1, 0.5, draws)
    assert torch.equal(torch.randperm(4, generator=generator), after)


@pytest.mark.parametrize("size", [2, 3])
def test_shares_of_the_loss_add_up_to_the_whole_batch_loss(size):
    """A rank's mean loss times its share, summed over the ranks, is the whole batch's mean: with padding
    (lengths), with loss steps, and per sequence (None: cross-entropy)."""
    generator = torch.Generator().manual_seed(0)
    pred, target = torch.randn(5, 11, 3), torch.randn(5, 11, 3)
    lengths = torch.tensor([12, 4, 9, 12, 2])
    for steps in (None, 4):
        mask = step_mask(lengths, 12, steps, generator)
        parts = []
        for rank in range(size):
            start, stop = rows(5, World(rank, size))
            if stop > start:
                local = mse(pred[start:stop], target[start:stop], mask[start:stop, :, None])
                parts.append(local * share_of_loss(mask, start, stop, 5))
        torch.testing.assert_close(sum(parts), mse(pred, target, mask[:, :, None]))
    assert sum(share_of_loss(None, *rows(5, World(r, size)), 5) for r in range(size)) == pytest.approx(1)


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:1", "mps"])
def test_device_names(name):
    assert load_experiment(None, [f"train.device={name}"]).train.device == name


@pytest.mark.parametrize("name", ["tpu", "cuda:", "cuda:x", "gpu", "cpu:0"])
def test_bad_device_names_are_refused(name):
    with pytest.raises(ConfigError, match="train.device: expected"):
        load_experiment(None, [f"train.device={name}"])


def test_fp16_needs_cuda(tmp_path):
    config = load_experiment("msd-small", ["train.precision=fp16", "train.device=cpu", f"train.out_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="train.precision: 'fp16' needs CUDA"):
        train(config)
    assert not list(tmp_path.iterdir())


def torchrun(*args: str, processes: int) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc-per-node N -m warprnn ARGS`` with this checkout's package."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    done = subprocess.run(
        [*command, "-m", "warprnn", *args], env=env, capture_output=True, text=True, timeout=600, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def weights(run_dir: Path) -> dict:
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def assert_same_weights(a: dict, b: dict) -> None:
    """Equal to float tolerance. The ranks sum the batch in parts (each rank's mean times its share, then the
    all-reduce), so the gradients differ from one process's by float32 rounding, ~1e-7 relative (6e-8 in the
    weights after one epoch of msd-small); Adam's normalised steps carry that over 3 epochs of 32 steps to
    ~5e-6. A wrong shard or draw moves weights by ~lr per step, 1e-3 and more."""
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-4, msg=key)


@pytest.mark.slow
def test_torchrun_trains_like_one_process_and_resumes(tmp_path, monkeypatch):
    """``torchrun --nproc-per-node 2 -m warprnn train msd-small train.epochs=3`` (gloo, CPU): the final weights
    of one process on the same global batch, one run folder, written whole by rank 0; a run stopped after
    epoch 2 by one process resumes under torchrun with 3 processes to the same weights again."""
    common = ["train.epochs=3", "train.device=cpu"]
    single = train(load_experiment("msd-small", [*common, f"train.out_dir={tmp_path / 'one'}"]))

    out = tmp_path / "two"
    done = torchrun("train", "msd-small", *common, f"train.out_dir={out}", processes=2)
    (run,) = out.iterdir()
    assert_same_weights(weights(run), weights(single.run_dir))
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in single.run_dir.iterdir())
    assert sorted(p.name for p in (run / "plots").iterdir()) == sorted(p.name for p in single.plots)
    assert done.stdout.count("held-out test set") == 1 and "data-parallel over 2 processes" in done.stderr
    assert done.stderr.count("epoch 3/3") == 1  # rank 1 logs nothing below WARNING

    real, stopped = loop.train_epoch, tmp_path / "stopped"

    def stop_in_epoch_3(*args):
        if args[-1] == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(loop, "train_epoch", stop_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train(load_experiment("msd-small", [*common, f"train.out_dir={stopped}"]))
    monkeypatch.undo()
    (run,) = stopped.iterdir()
    assert load_checkpoint(run / "checkpoints" / "last.pt", ("epoch",))["epoch"] == 2
    torchrun("train", "--resume", str(run), processes=3)
    assert_same_weights(weights(run), weights(single.run_dir))
    with open(run / "metrics.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1", "2", "3"]
    assert (run / "test_metrics.json").is_file()
    shutil.rmtree(tmp_path)


DYING_RANK = """
import os, sys
from warprnn.cli import main
from warprnn.training import loop

real = loop.train_epoch


def dies_in_epoch_2(*args):
    if args[-1] == 2 and os.environ["RANK"] == "1":
        os._exit(3)
    return real(*args)


loop.train_epoch = dies_in_epoch_2
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_rank_that_dies_stops_the_others_with_a_clear_message(tmp_path):
    """Two processes started by hand (no torchrun agent to stop the survivor): rank 1 exits in epoch 2, rank 0
    fails at its next collective with one line and exit code 2, rather than waiting."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    env.update(MASTER_PORT=str(port), WORLD_SIZE="2", LOCAL_RANK="0")
    args = [sys.executable, "-c", DYING_RANK, "train", "msd-small", "train.device=cpu", "train.epochs=3"]
    args += ["data.num_train=64", f"train.out_dir={tmp_path}"]
    ranks = [subprocess.Popen(args, env=dict(env, RANK=str(r)), stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    (_, err), _ = (p.communicate(timeout=300) for p in ranks)
    assert [p.returncode for p in ranks] == [2, 3]
    assert "warprnn: error: another process of this torchrun run failed or did not answer within 30 min" in err


def test_a_run_trained_on_a_gpu_loads_on_a_machine_without_one(caplog):
    from warprnn.training.build import loading_device

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert loading_device("cuda:1") == torch.device("cpu")
    assert "loading the run on cpu instead" in caplog.text


@pytest.mark.slow
def test_a_refused_option_under_torchrun_is_the_same_one_line_message(tmp_path):
    """Under ``torchrun`` each rank refuses a bad run as one process does: its one line, exit code 2 (which
    torchrun's failure report shows as ``exitcode  : 2``; torchrun itself exits 1)."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "warprnn"]
    args = ["train", "msd-small", "data.target=OT", "train.device=cpu", f"train.out_dir={tmp_path}"]
    done = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    ours = [line for line in done.stderr.splitlines() if line.startswith("warprnn:")]
    assert ours == ["warprnn: error: data.target: not read by data set 'msd-small' (read by: csv)"] * 2, done.stderr
    assert done.returncode == 1 and done.stderr.count("exitcode  : 2") == 2 and not any(tmp_path.iterdir())
