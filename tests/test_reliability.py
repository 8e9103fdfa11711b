"""Hostile inputs and faults (issue 17): every error a user can cause is one line on stderr naming the thing
at fault, exit code 2, no traceback, and nothing half-written left behind.

``CASES`` is the table: each case runs ``warprnn`` in-process. The tests after it cover what a table
cannot (a successful outcome, races, Ctrl-C, the Python API); ``test_kill.py`` kills a checkpoint write.
Each numbered failure of the issue is named where it is tested ("issue 17.N").
"""

import errno
import gzip
import multiprocessing
import os
import shutil
import socket
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY as TINY_RUN
from warprnn import WARP, WarpConfig, atomic
from warprnn.cli import main
from warprnn.data import DataConfig, build_dataset
from warprnn.data import files as loaders
from warprnn.errors import ConfigError, CorruptDataError, InputError, RunFolderError, TooLargeError
from warprnn.training import load_experiment, loop, rundir, train

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
MSD = str(REPO / "configs" / "msd-small.yaml")
TINY = [*TINY_RUN, "train.epochs=1"]
TS_HEADER = (
    "@problemName Heartbeat\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n"
)
GOOD_CASES = ["1,2,3:4,5,6:a", "2,3,4:5,6,7:b", "3,2,1:6,5,4:a", "1,1,2:2,3,3:b"] * 3


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny finished run, copied by each case that damages it."""
    out = tmp_path_factory.mktemp("trained")
    return train(load_experiment(MSD, TINY + [f"train.out_dir={out}"])).run_dir


@dataclass
class Ctx:
    """What a case works in: its own folder, a copy of the trained run (``run``), the monkeypatch."""

    tmp: Path
    trained: Path | None = None
    monkeypatch: pytest.MonkeyPatch | None = None
    run: Path | None = field(init=False)

    def __post_init__(self):
        self.run = Path(shutil.copytree(self.trained, self.tmp / "run")) if self.trained else None

    def write(self, name: str, data: bytes | str) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        return path


@dataclass
class Case:
    """``warprnn ARGV`` (``{tmp}``, ``{run}`` filled in) after ``setup(ctx)`` fails with ``match`` in its
    one-line message; ``after(ctx)`` then checks what was (not) left behind."""

    name: str
    argv: str
    match: str
    setup: object = None
    after: object = None


def no_runs(ctx):
    runs = ctx.tmp / "runs"
    assert not runs.exists() or not any(runs.iterdir()), "a run folder was left behind"


def no_temp_files(ctx):
    leftovers = [p for p in ctx.tmp.rglob("*") if p.name.endswith((".tmp", ".part"))]
    assert not leftovers, leftovers


def write_ts(ctx, train_lines, header=TS_HEADER, encoding="utf-8"):
    folder = ctx.tmp / "data" / "uea" / "Heartbeat"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Heartbeat_TRAIN.ts").write_bytes((header + "\n".join(train_lines) + "\n").encode(encoding))
    (folder / "Heartbeat_TEST.ts").write_text(TS_HEADER + "\n".join(GOOD_CASES[:4]) + "\n")


def write_pems08(ctx, values):
    (ctx.tmp / "data" / "pems08").mkdir(parents=True)
    np.savez(ctx.tmp / "data" / "pems08" / "PEMS08.npz", data=values)


def pems08_values():
    return np.random.default_rng(0).uniform(0, 400, size=(120, 170, 3)).round()


def serve(ctx, files: dict):
    """``open_url`` serves each URL's file name from ``files`` (None: unreachable)."""

    def open_url(url):
        path = files.get(url.rsplit("/", 1)[1])
        if path is None:
            raise loaders.urllib.error.URLError("no route to host")
        return loaders.urllib.request.urlopen(Path(path).as_uri())

    ctx.monkeypatch.setattr(loaders, "open_url", open_url)


def heartbeat_zip(ctx, corrupt=False, members=("Heartbeat_TRAIN.ts", "Heartbeat_TEST.ts")):
    archive = ctx.tmp / "Heartbeat.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        for member in members:
            z.writestr(member, TS_HEADER + "\n".join(GOOD_CASES) + "\n")
    if corrupt:  # flip a byte of the first member's data: a CRC error on extraction
        raw = bytearray(archive.read_bytes())
        raw[60] ^= 0xFF
        archive.write_bytes(raw)
    serve(ctx, {"Heartbeat.zip": archive})


def damage(name, how):
    """Replaces checkpoint ``name`` of the run: truncated, empty, random bytes or holding an object."""

    def setup(ctx):
        path = ctx.run / "checkpoints" / f"{name}.pt"
        if how == "truncated":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        elif how == "empty":
            path.write_bytes(b"")
        elif how == "random":
            path.write_bytes(np.random.default_rng(0).bytes(4096))
        elif how == "object":
            torch.save({"model": Path("x")}, path)
        elif how == "keys":
            torch.save({"weights": {}}, path)
        elif how == "missing":
            path.unlink()

    return setup


def edit_config(text_or_fn):
    def setup(ctx):
        path = ctx.run / "config.yaml"
        if callable(text_or_fn):
            path.write_text(text_or_fn(path.read_text()))
        else:
            path.write_bytes(text_or_fn if isinstance(text_or_fn, bytes) else text_or_fn.encode())

    return setup


def from_another_run(name):
    """Checkpoint ``name`` as if copied in from another run of the same shape: another run's identity."""

    def setup(ctx):
        path = ctx.run / "checkpoints" / f"{name}.pt"
        state = torch.load(path, weights_only=True)
        torch.save(state | {"identity": state["identity"] | {"run": "0" * 32}}, path)

    return setup


def patch(target, name, error):
    """Makes ``target.name`` raise ``error`` (a simulated fault of the system)."""

    def setup(ctx):
        def fail(*args, **kwargs):
            raise error

        ctx.monkeypatch.setattr(target, name, fail)

    return setup


def series(name, array=None, text=None):
    def setup(ctx):
        if array is not None:
            np.save(ctx.tmp / name, array)
        else:
            ctx.write(name, text)

    return setup


def nan_pems08():
    values = pems08_values()
    values[5, 3, 0] = np.nan
    return values


def copy_mnist(ctx, truncate):
    shutil.copytree(SHARED / "mnist", ctx.tmp / "data" / "mnist")
    path = ctx.tmp / "data" / "mnist" / truncate
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-10])


TRAIN = f"train -q {MSD} " + " ".join(TINY) + " train.out_dir={tmp}/runs"
OTHER = TRAIN + " data.seq_len=null data.context=null"  # another data set: no options of msd-small's
CSV_RUN = OTHER + " data.name=csv data.path={tmp}/d.csv data.context=4 data.horizon=4"
ARRAY_RUN = OTHER + " data.name=array data.path={tmp}/x.npz train.autoregressive=false"
CLASSIFY = " warp.head=classification train.loss=ce train.metric=val_accuracy train.autoregressive=false"
HOURS = [f"2020-01-{1 + h // 24:02d} {h % 24:02d}:00:00" for h in range(80)]


def dated_csv(dates: list[str]) -> str:
    """A CSV of two columns at ``dates``: a sine and a constant 1."""
    return "date,a,b\n" + "".join(f"{d},{np.sin(i / 3):.4f},1.0\n" for i, d in enumerate(dates))


def cases(copy: tuple[int, int] | None = None) -> np.ndarray:
    """20 random cases (8 steps, 1 channel); ``copy`` (i, j): case j a copy of case i."""
    x = np.random.default_rng(0).normal(size=(20, 8, 1))
    if copy is not None:
        x[copy[1]] = x[copy[0]]
    return x


BIG = "warp.root_width=2000 warp.root_depth=2"  # D_theta about 4 million: A alone needs 64 TB
DISK_FULL = OSError(errno.ENOSPC, "No space left on device")
DENIED = PermissionError(errno.EACCES, "Permission denied")

CASES = [
    # ----- config files: YAML, encodings, shapes (issue 17.2, 17.5)
    Case(
        "yaml-syntax", "train -q {tmp}/c.yaml", "c.yaml: not valid YAML", lambda c: c.write("c.yaml", "train: [1, 2\n")
    ),
    Case(
        "yaml-tab",
        "train -q {tmp}/c.yaml",
        "c.yaml: not valid YAML",
        lambda c: c.write("c.yaml", "train:\n\tepochs: 1\n"),
    ),
    Case(
        "yaml-python-tag",
        "train -q {tmp}/c.yaml",
        "c.yaml: not valid YAML (could not determine a constructor",
        lambda c: c.write("c.yaml", "train: !!python/object/apply:os.system ['true']\n"),
    ),
    Case(
        "yaml-binary",
        "train -q {tmp}/c.yaml",
        "c.yaml: not a UTF-8 text file",
        lambda c: c.write("c.yaml", b"\xff\xfe\x00\x81"),
    ),
    Case(
        "yaml-list",
        "train -q {tmp}/c.yaml",
        "c.yaml: expected a mapping of sections",
        lambda c: c.write("c.yaml", "- 1\n"),
    ),
    Case(
        "yaml-scalar", "train -q {tmp}/c.yaml", "expected a mapping of sections", lambda c: c.write("c.yaml", "hello\n")
    ),
    Case(
        "yaml-unknown-section",
        "train -q {tmp}/c.yaml",
        "unknown option(s) ['bogus']",
        lambda c: c.write("c.yaml", "bogus: 1\n"),
    ),
    Case("yaml-int-key", "train -q {tmp}/c.yaml", "unknown option(s) [1]", lambda c: c.write("c.yaml", "1: 2\n")),
    Case(  # issue 47.4: the last one was kept without a word
        "yaml-repeated-key",
        "train -q {tmp}/c.yaml",
        "'lr' is given twice (first on line 2) at line 3",
        lambda c: c.write("c.yaml", "optim:\n  lr: 1.0e-3\n  lr: 2.0e-3\n"),
    ),
    Case(
        "yaml-repeated-section",
        "train -q {tmp}/c.yaml",
        "'train' is given twice (first on line 1) at line 5",
        lambda c: c.write("c.yaml", "train:\n  epochs: 3\noptim:\n  lr: 1.0e-3\ntrain:\n  epochs: 5\n"),
    ),
    Case(  # issue 47.2: trained on a copy of the first column in place of the second
        "csv-repeated-column",
        OTHER + " data.name=csv data.path={tmp}/d.csv data.context=4 data.horizon=4",
        "d.csv: column 'a' appears 2 times in the header",
        lambda c: c.write("d.csv", "date,a,a\n" + "".join(f"2020-01-01 {h:02d}:00:00,{h},{-h}\n" for h in range(24))),
    ),
    Case(
        "yaml-section-scalar",
        "train -q {tmp}/c.yaml",
        "train: expected a mapping",
        lambda c: c.write("c.yaml", "train: 5\n"),
    ),
    Case(
        "yaml-section-scalar-override",
        "train -q {tmp}/c.yaml train.epochs=1",
        "section 'train' is 5, not a mapping",
        lambda c: c.write("c.yaml", "train: 5\n"),
    ),
    Case("yaml-is-a-folder", "train -q {tmp}", "does not exist", lambda c: (c.tmp / "d.yaml").mkdir()),
    Case("config-missing", "train -q {tmp}/missing.yaml", "config file '{tmp}/missing.yaml' does not exist"),
    Case("config-unknown-name", "train -q no-such-experiment", "unknown experiment 'no-such-experiment'"),
    # ----- overrides: empty, wrong types, non-finite, malformed (issue 17.5)
    Case("lr-empty", TRAIN + " optim.lr=", "optim.lr: expected a finite number, got None", after=no_runs),
    Case("seed-word", TRAIN + " train.seed=abc", "train.seed: expected an integer, got 'abc'", after=no_runs),
    Case("lr-word", TRAIN + " optim.lr=abc", "optim.lr: expected a number, got 'abc'"),
    Case("lr-inf", TRAIN + " optim.lr=.inf", "optim.lr: expected a finite number, got inf"),
    Case("lr-nan", TRAIN + " optim.lr=nan", "optim.lr: expected a finite number, got nan"),
    Case("lr-negative", TRAIN + " optim.lr=-1", "optim.lr: expected a positive number"),
    Case("lr-huge-int", TRAIN + " optim.lr=" + "9" * 400, "optim.lr: expected a number"),
    Case("override-bad-yaml", TRAIN + " optim.lr=[1", "override 'optim.lr=[1': the value is not a YAML scalar"),
    Case("override-no-equals", TRAIN + " bogus", "override 'bogus': expected key=value"),
    Case("override-no-key", TRAIN + " =5", "override '=5': expected key=value"),
    Case("override-unknown-section", TRAIN + " bogus.key=1", "SECTION one of"),
    Case("override-too-deep", TRAIN + " train.epochs.x=1", "SECTION one of"),
    Case("override-section-value", TRAIN + " train=5", "SECTION one of"),
    Case("override-unknown-key", TRAIN + " train.epoch=5", "unknown train option(s) ['epoch']"),
    Case("epochs-zero", TRAIN + " train.epochs=0", "train.epochs: expected an integer >= 1, got 0"),
    Case("epochs-bool", TRAIN + " train.epochs=true", "train.epochs: expected an integer >= 1, got True"),
    Case("epochs-float", TRAIN + " train.epochs=1.5", "train.epochs: expected an integer >= 1, got 1.5"),
    Case("width-negative", TRAIN + " warp.root_width=-3", "root_width: expected an integer >= 1, got -3"),
    Case("head-bogus", TRAIN + " warp.head=bogus", "head: expected one of ['point', 'gaussian', 'classification']"),
    Case("clip-word", TRAIN + " warp.final_clip=x", "warp.final_clip: expected a number, got 'x'"),
    Case("hypernet-depth", TRAIN + " warp.hypernet_depth=3", "hypernet_depth: expected one of [0, 1, 2]"),
    Case("key-channels", TRAIN + " warp.key_channels=5", "key_channels: expected fewer than in_channels"),
    Case("model-bogus", TRAIN + " model=rnn", "model: expected one of"),
    Case("device-bogus", TRAIN + " train.device=tpu", "train.device: expected one of"),
    Case("optimizer-bogus", TRAIN + " optim.name=sgd", "optim.name: expected one of ['adam', 'adamw', 'adabelief']"),
    Case("plateau-factor", TRAIN + " optim.plateau_factor=1.5", "optim.plateau_factor: expected a number in (0, 1)"),
    Case("teacher-forcing", TRAIN + " train.teacher_forcing=2", "train.teacher_forcing: expected a probability"),
    Case("nll-point-head", TRAIN + " train.loss=nll", "train.loss: 'nll' needs warp.head='gaussian'"),
    Case("data-name", TRAIN + " data.name=nope", "data.name: expected one of"),
    Case("data-num-train", TRAIN + " data.num_train=-1", "data.num_train: expected an integer >= 1, got -1"),
    Case("data-root-int", TRAIN + " data.root=5", "data.root: expected a string or null, got 5"),
    Case("out-dir-empty", TRAIN + " train.out_dir=''", "train.out_dir: expected a folder"),
    # ----- checks that must come before any work or any run folder (issue 17.7)
    Case(
        "metric-bogus",
        TRAIN + " train.metric=val_bogus",
        "train.metric: 'val_bogus' is not computed; choose one of ['val_loss', 'val_mae'",
        after=no_runs,
    ),
    Case(
        "context-too-long",
        TRAIN + " data.context=1000 data.root={tmp}/data",
        "data.context: expected an integer in [1, 15]",
        after=lambda c: not (c.tmp / "data").exists() or pytest.fail("the data set was generated and cached"),
    ),
    Case("context-zero", TRAIN + " data.context=0", "data.context: expected an integer >= 1, got 0"),
    Case(
        "autoregressive-classification", OTHER + " data.name=spirals train.autoregressive=true", "train.autoregressive"
    ),
    # ----- run folder names that would escape out_dir (issue 17.8)
    Case("name-escape", TRAIN + " train.name=../../escaped", "train.name: expected a plain folder name", after=no_runs),
    Case("name-absolute", TRAIN + " train.name=/tmp/escaped", "train.name: expected a plain folder name"),
    Case("name-dotdot", TRAIN + " train.name=..", "train.name: expected a plain folder name"),
    Case("name-backslash", TRAIN + " train.name=a\\b", "train.name: expected a plain folder name"),
    Case("name-hidden", TRAIN + " train.name=.hidden", "train.name: expected a plain folder name"),
    # ----- folders that cannot be written (issue 17.2)
    Case(
        "out-dir-is-file", TRAIN + " train.out_dir={tmp}/f", "train.out_dir: cannot create", lambda c: c.write("f", "x")
    ),
    Case("out-dir-under-sys", TRAIN + " train.out_dir=/sys/warprnn-test", "train.out_dir: cannot create"),
    Case("out-dir-under-proc", TRAIN + " train.out_dir=/proc/warprnn/runs", "train.out_dir: cannot create"),
    Case("out-dir-read-only", TRAIN, "train.out_dir: cannot create the folder", patch(Path, "mkdir", DENIED)),
    Case(
        "data-root-is-file", TRAIN + " data.root={tmp}/f", "data.root (or $WARPRNN_DATA):", lambda c: c.write("f", "x")
    ),
    Case(
        "disk-full",
        TRAIN,
        "could not write (No space left on device); the previous file is unchanged",
        patch(atomic.os, "fsync", DISK_FULL),
        no_temp_files,
    ),
    Case("model-too-large", TRAIN + " " + BIG, "training with D_theta = 4", after=no_runs),
    Case("no-cuda", TRAIN + " train.device=cuda", "train.device: 'cuda' was asked for", after=no_runs),
    # ----- resuming damaged run folders (issue 17.2)
    Case("resume-with-overrides", "train --resume {run} train.epochs=2", "--resume continues a run"),
    Case("resume-missing", "train --resume {tmp}/nothing", "is not a run folder"),
    Case("resume-config-yaml", "train --resume {run}", "config.yaml: not valid YAML", edit_config("train: [\n")),
    Case(
        "resume-config-binary",
        "train --resume {run}",
        "config.yaml: not a UTF-8 text file",
        edit_config(b"\x89PNG\xff"),
    ),
    Case(
        "resume-config-edited",
        "train --resume {run}",
        "config.yaml: unknown train option(s) ['bogus']",
        edit_config(lambda text: text.replace("train:\n", "train:\n  bogus: 1\n")),
    ),
    Case(  # issue 47.3: resumed, evaluated or used under the edited settings without a word
        "resume-config-edited-validly",
        "train --resume {run}",
        "config.yaml: edited after last.pt was written (its sha256 differs)",
        edit_config(lambda text: text.replace("seed: 0", "seed: 1", 1)),
    ),
    Case(
        "evaluate-config-edited-validly",
        "evaluate {run}",
        "config.yaml: edited after best.pt was written",
        edit_config(lambda text: text.replace("seed: 0", "seed: 1", 1)),
    ),
    Case(
        "predict-best-from-another-run",
        "predict {run} --input {tmp}/s.npy",
        "best.pt: written by another run (00000000000000000000000000000000), not by this folder's",
        lambda c: (from_another_run("best")(c), series("s.npy", np.zeros((8, 2), "float32"))(c)),
    ),
    Case(
        "resume-last-truncated",
        "train --resume {run}",
        "last.pt: not a readable checkpoint",
        damage("last", "truncated"),
    ),
    Case("resume-last-empty", "train --resume {run}", "last.pt: not a readable checkpoint", damage("last", "empty")),
    Case("resume-last-random", "train --resume {run}", "last.pt: not a readable checkpoint", damage("last", "random")),
    Case("resume-last-object", "train --resume {run}", "holds objects other than tensors", damage("last", "object")),
    Case("resume-last-keys", "train --resume {run}", "last.pt: not a warprnn checkpoint", damage("last", "keys")),
    Case(
        "resume-read-only",
        "train --resume {run}",
        "cannot write in the run folder (Permission denied)",
        patch(rundir.tempfile, "mkstemp", DENIED),
    ),
    Case(
        "resume-config-mismatch",
        "train --resume {run}",
        "config.yaml: edited after last.pt was written",
        edit_config(lambda text: text.replace("root_width: 8", "root_width: 9")),
    ),
    # ----- evaluate: damaged or mismatched checkpoints (issue 17.2)
    Case("evaluate-missing", "evaluate {tmp}/nothing", "is not a run folder"),
    Case(
        "evaluate-best-truncated", "evaluate {run}", "best.pt: not a readable checkpoint", damage("best", "truncated")
    ),
    Case("evaluate-best-empty", "evaluate {run}", "best.pt: not a readable checkpoint", damage("best", "empty")),
    Case("evaluate-best-random", "evaluate {run}", "best.pt: not a readable checkpoint", damage("best", "random")),
    Case("evaluate-best-object", "evaluate {run}", "holds objects other than tensors", damage("best", "object")),
    Case("evaluate-best-missing", "evaluate {run}", "best.pt' does not exist", damage("best", "missing")),
    Case(
        "evaluate-config-mismatch",
        "evaluate {run}",
        "config.yaml: edited after best.pt was written",
        edit_config(lambda text: text.replace("root_width: 8", "root_width: 7")),  # issue 17.2
    ),
    Case(
        "evaluate-config-python-tag",
        "evaluate {run}",
        "config.yaml: not valid YAML",
        edit_config("model: !!python/name:os.system\n"),
    ),
    # ----- predict: inputs and sizes (issue 17.2, 17.3, 17.5)
    Case(
        "predict-strings",
        "predict {run} --input {tmp}/s.npy",
        "expected an array of numbers, got dtype <U1",
        series("s.npy", array=np.array([["a", "b"], ["c", "d"]])),
    ),
    Case(
        "predict-text-as-npy",
        "predict {run} --input {tmp}/s.npy",
        "s.npy: not a .npy array",
        series("s.npy", text="1,2\n3,4\n"),
    ),
    Case(
        "predict-object-npy",
        "predict {run} --input {tmp}/s.npy",
        "s.npy: not a .npy array",
        series("s.npy", array=np.array([{"a": 1}, None], dtype=object)),
    ),
    Case(
        "predict-nan",
        "predict {run} --input {tmp}/s.npy",
        "contains NaN or Inf",
        series("s.npy", array=np.full((4, 2), np.nan)),
    ),
    Case(
        "predict-channels",
        "predict {run} --input {tmp}/s.npy",
        "s.npy: 3 column(s), expected 2 (x, v)",
        series("s.npy", array=np.zeros((4, 3))),
    ),
    Case(
        "predict-empty",
        "predict {run} --input {tmp}/s.npy",
        "s.npy: no values, shape (0, 2)",
        series("s.npy", array=np.zeros((0, 2))),
    ),
    Case(
        "predict-csv-words",
        "predict {run} --input {tmp}/s.csv",
        "s.csv: no column 'x' in its header ['a', 'b']; the run reads x, v",
        series("s.csv", text="a,b\n"),
    ),
    Case(
        "predict-csv-latin1",
        "predict {run} --input {tmp}/s.csv",
        "s.csv: not a CSV of numbers",
        lambda c: c.write("s.csv", "1,\xe9\n".encode("latin-1")),
    ),
    Case(
        "predict-horizon-zero",
        "predict {run} --input {tmp}/s.npy --horizon 0",
        "--horizon: expected an integer >= 1",
        series("s.npy", array=np.zeros((4, 2))),
    ),
    Case(
        "predict-horizon-huge",
        "predict {run} --input {tmp}/s.npy --horizon 1000000000000",
        "forecasting 1000000000000 steps of 1 sequence(s) needs",
        series("s.npy", array=np.zeros((4, 2))),
    ),
    Case("predict-input-missing", "predict {run} --input {tmp}/none.npy", "input file '{tmp}/none.npy' does not exist"),
    Case(
        "predict-output-unwritable",
        "predict {run} --input {tmp}/s.npy --output /proc/warprnn/f.npy",
        "/proc/warprnn/f.npy: cannot write there",
        series("s.npy", array=np.zeros((4, 2))),
    ),
    # ----- describe (issue 17.5)
    Case("describe-word", "describe root_width=x", "root_width: expected an integer, got 'x'"),
    Case("describe-unknown", "describe bogus=1", "unknown warp option(s) ['bogus']"),
    Case("describe-clip", "describe final_clip=x", "warp.final_clip: expected a number"),
    # ----- real data files: non-finite values, encodings, headers (issue 17.1, 17.5, 17.10)
    Case(
        "ts-inf",
        OTHER + " data.name=uea-Heartbeat data.root={tmp}/data",
        "Heartbeat_TRAIN.ts, line 7: non-finite value 'inf' in case 1, channel 1, step 2",
        lambda c: write_ts(c, ["1,2,3:4,5,inf:a"] + GOOD_CASES),
        after=no_runs,
    ),
    Case(
        "ts-overflow",
        OTHER + " data.name=uea-Heartbeat data.root={tmp}/data",
        "non-finite value '1e999' in case 2, channel 0, step 0",
        lambda c: write_ts(c, GOOD_CASES[:1] + ["1e999,2:3,4:b"] + GOOD_CASES),
    ),
    Case(
        "ts-too-large-to-scale",
        OTHER + " data.name=uea-Heartbeat data.root={tmp}/data",
        "Heartbeat_TRAIN.ts: channel 1's training values are too large to normalise",
        lambda c: write_ts(c, [line.replace(":4,", ":4e300,") for line in GOOD_CASES]),
    ),
    Case(
        "ts-latin1",
        OTHER + " data.name=uea-Heartbeat data.root={tmp}/data",
        "Heartbeat_TRAIN.ts, line 1: not UTF-8 text",
        lambda c: write_ts(c, GOOD_CASES, header="# caf\xe9\n" + TS_HEADER, encoding="latin-1"),
    ),
    Case(
        "ts-dimensions-word",
        OTHER + " data.name=uea-Heartbeat data.root={tmp}/data",
        "@dimensions must be a positive integer, got 'six'",
        lambda c: write_ts(c, GOOD_CASES, header=TS_HEADER.replace("@dimensions 2", "@dimensions six")),
    ),
    Case(
        "ts-label",
        OTHER + " data.name=uea-Heartbeat data.root={tmp}/data",
        "labels ['c'] are not among the declared classes",
        lambda c: write_ts(c, GOOD_CASES + ["1,2:3,4:c"]),
    ),
    Case(
        "ts-missing-files",
        OTHER + " data.name=uea-Heartbeat data.root={tmp}/data",
        "2 file(s) missing under {tmp}/data",
    ),
    Case(
        "pems08-nan",
        OTHER + " data.name=pems08 data.root={tmp}/data",
        "PEMS08.npz: 'data' entry (5, 3, 0) is nan, expected a finite number",
        lambda c: write_pems08(c, nan_pems08()),
    ),
    Case(
        "pems08-strings",
        OTHER + " data.name=pems08 data.root={tmp}/data",
        "expected 3 dimensions of numbers",
        lambda c: write_pems08(c, np.full((4, 2, 3), "x")),
    ),
    Case(
        "mnist-truncated",
        OTHER + " data.name=mnist data.root={tmp}/data",
        "t10k-labels-idx1-ubyte.gz: sha256 is",
        lambda c: copy_mnist(c, truncate="t10k-labels-idx1-ubyte.gz"),
    ),
    # ----- downloads (issue 17.10)
    Case("download-unknown", "download nope --root {tmp}/data", "unknown data source 'nope'"),
    Case("download-pems08", "download pems08 --root {tmp}/data", "no canonical download"),
    Case(
        "download-root-is-file",
        "download etth1 --root {tmp}/f",
        "data.root (or $WARPRNN_DATA)",
        lambda c: c.write("f", "x"),
    ),
    Case(
        "download-unreachable",
        "download etth2 --root {tmp}/data",
        "could not download https://raw.",
        lambda c: serve(c, {}),
        after=no_temp_files,
    ),
    Case(
        "download-zip-crc",
        "download uea-Heartbeat --root {tmp}/data",
        "Heartbeat.zip: a damaged zip archive",
        lambda c: heartbeat_zip(c, corrupt=True),
        after=lambda c: no_temp_files(c) or not list((c.tmp / "data").rglob("*.ts")) or pytest.fail("kept"),
    ),
    Case(
        "download-zip-member",
        "download uea-Heartbeat --root {tmp}/data",
        "the archive has no Heartbeat_TEST.ts",
        lambda c: heartbeat_zip(c, members=("Heartbeat_TRAIN.ts",)),
        after=no_temp_files,
    ),
    Case(
        "download-zip-garbage",
        "download uea-Heartbeat --root {tmp}/data",
        "Heartbeat.zip: a damaged zip archive",
        lambda c: serve(c, {"Heartbeat.zip": c.write("Heartbeat.zip", "not a zip")}),
        after=no_temp_files,
    ),
    Case(
        "download-damaged-csv",
        "download etth1 --root {tmp}/data",
        "damaged and was not kept: sha256 is",
        lambda c: serve(c, {"ETTh1.csv": c.write("ETTh1.csv", "date,OT\n2016-07-01,1\n")}),
        after=no_temp_files,
    ),
    # ----- sizes refused before anything is generated (issue 47.5: the kernel killed the run, or it hung)
    Case(
        "data-num-train-huge",
        "train -q msd-small data.num_train=1000000000 train.out_dir={tmp}/runs",
        "data: generating 1,000,000,256 sequences of 64 steps needs",
    ),
    Case(
        "data-seq-len-huge",
        "train -q msd-small data.seq_len=100000000 train.out_dir={tmp}/runs",
        "data: generating 384 sequences of 100,000,000 steps needs",
    ),
    Case(  # the kernel killed it (exit 137, no message): parameters were counted, not their training copies
        "csv-3000-columns",
        "train -q msd-small data.name=csv data.path={tmp}/wide.csv data.context=4 data.horizon=4 "
        "warp.root_width=64 train.out_dir={tmp}/runs",  # 570 GiB to train: more than any machine running this
        "training with D_theta = 195128 (A and B, their gradients and the optimiser's two moments) needs",
        lambda c: c.write(
            "wide.csv",
            "date,"
            + ",".join(f"c{i}" for i in range(3000))
            + "\n"
            + "".join(f"{d}," + ",".join(["1"] * 3000) + "\n" for d in HOURS[:48]),
        ),
    ),
    Case(  # was: 'Overflow when unpacking long long', naming nothing
        "seed-beyond-64-bits",
        TRAIN + " train.seed=1180591620717411303424",
        "train.seed: expected an integer of 64 bits (from -2**63 to 2**63 - 1), got 1180591620717411303424",
    ),
    Case(
        "data-seed-beyond-64-bits",
        TRAIN + " data.seed=-1180591620717411303424",
        "data.seed: expected an integer of 64 bits",
    ),
    Case(  # was: internal error (RuntimeError: Storage size calculation overflowed)
        "describe-root-width-huge",
        "describe root_width=100000000",
        "warp: D_theta = 10,000,000,400,000,001 gives A or B 1.00e+32 entries, more than torch can size",
    ),
    Case(  # was: the memory check counted A and B only; the hypernetwork's 10 billion parameters were allocated
        "hypernet-width-huge",
        TRAIN + " warp.hypernet_width=100000000",
        "training 3,700,001,258 parameters and 8,704 states",
        after=no_runs,
    ),
    Case(  # was: the memory check counted no activations: 26 billion states were allocated in the first step
        "batch-of-states-huge",
        TRAIN + " warp.root_width=64 data.num_train=100000 data.seq_len=1000 train.batch_size=100000",
        "and 25,800,000,000 states (100000 sequences of 1000 steps)",
        after=no_runs,
    ),
    # ----- the command line itself (issue 47.6: argparse printed its usage and the error, two lines)
    Case("cli-unknown-command", "bogus", "invalid choice: 'bogus' (choose from 'train', 'evaluate'"),
    Case("cli-unknown-option", "evaluate {run} --bogus", "unrecognized arguments: --bogus"),
    Case("cli-missing-argument", "predict {run}", "the following arguments are required: --input"),
    # ----- every option set is read, or refused (issue 47.1: each was dropped without a word, exit 0)
    Case(  # trained on msd-small's synthetic data, the file ignored
        "data-path-with-a-built-in-set",
        TRAIN + " data.path={tmp}/d.csv",
        "data.path: not read by data set 'msd-small' (read by: csv, array, ts)",
        lambda c: c.write("d.csv", dated_csv([f"2020-01-01 {h:02d}:00:00" for h in range(24)])),
    ),
    Case(
        "array-split-rows",
        OTHER + " data.name=array data.path={tmp}/x.npy data.split_rows=[10,5,5]",
        "data.split_rows: not read by data set 'array' (read by: csv)",
        series("x.npy", np.random.default_rng(0).normal(size=(20, 8, 1))),
    ),
    Case(
        "target-with-a-built-in-set",
        OTHER + " data.name=spirals data.target=OT" + CLASSIFY,
        "data.target: not read by data set 'spirals' (read by: csv)",
    ),
    # ----- model and training options that the run's other options leave unread (issue 47.1)
    Case(
        "teacher-forcing-when-teacher-forced",
        TRAIN + " train.autoregressive=false train.teacher_forcing=0.3",
        "train.teacher_forcing: not read when train.autoregressive is False (read when it is True)",
    ),
    Case(
        "plateau-factor-with-cosine",
        TRAIN + " optim.plateau_factor=0.3",
        "optim.plateau_factor: not read when optim.scheduler is 'cosine'",
    ),
    Case(
        "final-clip-without-clip",
        TRAIN + " warp.final_clip=3",
        "warp.final_clip: not read when warp.final_activation is 'none' (read when it is 'clip')",
    ),
    # ----- readers that refuse ambiguity (issue 47.2: each was read, and trained on)
    Case(
        "csv-dates-repeated",
        CSV_RUN,
        "d.csv, row 12: date '2020-01-01 09:00:00' repeats row 11's",
        lambda c: c.write("d.csv", dated_csv(HOURS[:10] + HOURS[9:59])),
    ),
    Case(
        "csv-dates-unsorted",
        CSV_RUN,
        "d.csv, row 7: date '2020-01-01 06:00:00' is before row 6's '2020-01-02 04:00:00'",
        lambda c: c.write("d.csv", dated_csv(HOURS[:4] + [HOURS[28]] + HOURS[6:61])),
    ),
    Case(
        "csv-dates-mixed-formats",
        CSV_RUN,
        "d.csv, row 32: date '2020-01-02T06:00:00' is not written as row 2's '2020-01-01 00:00:00'",
        lambda c: c.write("d.csv", dated_csv(HOURS[:30] + [h.replace(" ", "T") for h in HOURS[30:60]])),
    ),
    Case(  # was: the whole column left undated, a warning
        "csv-dates-partly-iso",
        CSV_RUN,
        "d.csv, row 42: date '01/02/2020 16:00' is not an ISO 8601 date",
        lambda c: c.write("d.csv", dated_csv(HOURS[:40] + [f"01/02/2020 {h:02d}:00" for h in range(16, 36)])),
    ),
    Case(
        "csv-cell-too-long",
        CSV_RUN,
        "d.csv, line 2: field larger than field limit (131072)",
        lambda c: c.write("d.csv", dated_csv(HOURS[:60]).replace(",1.0\n", ',"' + "9" * 200000 + "\n", 1)),
    ),
    Case(  # was: parsed for 15-19 s (2 GB) before an internal error
        "csv-file-too-large",
        CSV_RUN,
        "d.csv: 1,896 bytes, more than the 1,000 a CSV or .ts file may have",
        lambda c: c.write("d.csv", dated_csv(HOURS[:60])) and c.monkeypatch.setattr(loaders, "MAX_TEXT_BYTES", 1000),
    ),
    Case(  # was: trained on the real part
        "npy-complex",
        ARRAY_RUN,
        "x.npz: 'x' holds complex128 values, expected real numbers",
        lambda c: np.savez(c.tmp / "x.npz", x=np.ones((20, 8, 1)) * (1 + 2j)),
    ),
    Case(  # was: NaN became a class of its own
        "npz-nan-label",
        ARRAY_RUN + CLASSIFY,
        "x.npz: label nan of case 3 is not a whole number",
        lambda c: np.savez(c.tmp / "x.npz", x=cases(), y=np.where(np.arange(20) == 3, np.nan, np.arange(20) % 2)),
    ),
    Case(
        "npz-fraction-label",
        ARRAY_RUN + CLASSIFY,
        "x.npz: label 0.5 of case 0 is not a whole number",
        lambda c: np.savez(c.tmp / "x.npz", x=cases(), y=np.where(np.arange(20) == 0, 0.5, np.arange(20) % 2)),
    ),
    Case(
        "npz-splits-overlap",
        ARRAY_RUN,
        "x.npz: case 9 ('test') is identical to case 9 ('train')",
        lambda c: np.savez(c.tmp / "x.npz", x=cases(), train=np.arange(10), val=[10, 11, 12], test=[13, 14, 9]),
    ),
    Case(
        "npz-split-repeats-a-case",
        ARRAY_RUN,
        "x.npz: 'train' lists case 2 more than once",
        lambda c: np.savez(c.tmp / "x.npz", x=cases(), train=[0, 1, 2, 2], val=[10, 11], test=[13, 14]),
    ),
    Case(
        "npz-test-case-copies-a-training-case",
        ARRAY_RUN,
        "x.npz: case 15 ('test') is identical to case 4 ('train')",
        lambda c: np.savez(
            c.tmp / "x.npz", x=cases(copy=(4, 15)), train=np.arange(10), val=[10, 11, 12], test=[13, 14, 15]
        ),
    ),
    # ----- reproduce
    Case("reproduce-seeds", "reproduce dsr --seeds 0", "--seeds: expected an integer >= 1, got 0"),
]


def test_the_table_has_at_least_60_cases():
    assert len(CASES) >= 60 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_is_one_line_exit_2(case, trained, tmp_path, monkeypatch, capsys):
    ctx = Ctx(tmp_path, trained, monkeypatch)
    if case.setup is not None:
        case.setup(ctx)
    argv = case.argv.format(tmp=tmp_path, run=ctx.run).split()
    code = main(argv)
    monkeypatch.undo()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("warprnn:")]
    assert "Traceback" not in err and len(lines) == 1, err
    assert code == 2 and lines[0].startswith("warprnn: error: "), err
    assert case.match.format(tmp=tmp_path) in lines[0], lines[0]
    if case.after is not None:
        case.after(ctx)


# ----- what a table cannot say ---------------------------------------------------------------------------


def test_describe_prints_sizes_it_could_not_allocate(capsys):  # issue 17.3
    assert main(["describe", "in_channels=2", "root_width=400", "root_depth=2"]) == 0
    assert "D_theta (state size): 162002" in capsys.readouterr().out
    with pytest.raises(
        TooLargeError, match=r"D_theta = 4\d{6}: .* needs [\d.]+ GiB, more than the [\d.]+ GiB available"
    ):
        WARP(WarpConfig(in_channels=2, root_width=2000, root_depth=2))


@pytest.mark.parametrize("model_dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("x_dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64])
def test_input_dtype_is_named(model_dtype, x_dtype):  # issue 17.4
    model = WARP(WarpConfig(in_channels=2, root_width=4), dtype=model_dtype)
    x = torch.zeros(2, 5, 2, dtype=x_dtype)
    state = model.init_state(2, 5)
    if x_dtype == model_dtype:
        assert model(x).mean.dtype == model_dtype and model.step(x[:, 0], state)[0].mean.dtype == model_dtype
        return
    expected = "expected a floating-point" if x_dtype == torch.int64 else f"expected dtype {model_dtype}"
    with pytest.raises(InputError, match=f"^x: {expected}"):
        model(x)
    with pytest.raises(InputError, match=f"^x_t: expected dtype {model_dtype}"):
        model.step(x[:, 0], state)


def test_float_lengths_name_their_dtype():  # issue 17.5
    model = WARP(WarpConfig(in_channels=1, root_width=4))
    with pytest.raises(
        InputError, match=r"lengths: expected an integer tensor of shape \(3,\), got dtype torch.float32"
    ):
        model(torch.zeros(3, 5, 1), torch.tensor([2.0, 3.0, 4.0]))


def test_config_type_errors_name_the_option():  # issue 17.5
    with pytest.raises(ConfigError, match="^final_clip: expected a finite number, got 'x'$"):
        WarpConfig(final_clip="x")
    with pytest.raises(ConfigError, match="^train.seed: expected an integer, got 'abc'$"):
        load_experiment(None, ["train.seed=abc"])


def test_predict_reports_the_file_it_wrote(trained, tmp_path, capsys):  # issue 17.6
    np.save(tmp_path / "s.npy", np.zeros((4, 2), dtype="float32"))
    assert (
        main(["predict", str(trained), "--input", str(tmp_path / "s.npy"), "--output", str(tmp_path / "forecast")]) == 0
    )
    assert f"array to {tmp_path / 'forecast.npy'}\n" in capsys.readouterr().out
    assert np.load(tmp_path / "forecast.npy").shape == (1, 12, 2) and not (tmp_path / "forecast").exists()


def test_run_folders_never_collide(tmp_path, monkeypatch):  # issue 17.9, deterministic
    config = load_experiment(MSD, [f"train.out_dir={tmp_path}"])
    monkeypatch.setattr(rundir.time, "strftime", lambda _: "T")
    monkeypatch.setattr(Path, "exists", lambda self: False)  # every check says free: the race, every time
    made = [rundir.new_run_dir(config) for _ in range(5)]
    assert [p.name for p in made] == ["msd-small-T", "msd-small-T-1", "msd-small-T-2", "msd-small-T-3", "msd-small-T-4"]


def make_runs(out_dir: str, count: int, queue) -> None:
    config = load_experiment(MSD, [f"train.out_dir={out_dir}"])
    try:
        queue.put([str(rundir.new_run_dir(config)) for _ in range(count)])
    except Exception as error:  # reported to the test
        queue.put(repr(error))


def test_concurrent_processes_get_distinct_run_folders(tmp_path):  # issue 17.9, for real
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=make_runs, args=(str(tmp_path), 150, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    made = [queue.get(timeout=600) for _ in workers]  # a fail-safe against a hang, not a speed test
    for worker in workers:
        worker.join()
    assert all(isinstance(m, list) for m in made), made
    assert len(set(made[0]) | set(made[1])) == 300 == len(list(tmp_path.iterdir()))


def test_ctrl_c_names_the_run_folder(tmp_path, monkeypatch, capsys):  # issue 17.11
    calls = []

    def interrupted(*args):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "train_epoch", interrupted)
    assert main(["train", "-q", MSD, *TINY, f"train.out_dir={tmp_path}"]) == 130
    (run,) = tmp_path.iterdir()
    err = capsys.readouterr().err
    assert err == f"warprnn: interrupted; resume with 'warprnn train --resume {run}'\n" and calls


def test_unexpected_errors_are_one_line_exit_1_and_debug_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.setattr(loop, "build_dataset", lambda config: 1 / 0)
    assert main(["train", "-q", MSD, *TINY]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (ZeroDivisionError: division by zero); rerun with --debug" in err
    with pytest.raises(ZeroDivisionError):
        main(["train", "-q", "--debug", MSD, *TINY])


def test_inf_in_a_ts_file_is_an_error_not_a_zero_channel(tmp_path):  # issue 17.1, through the Python API
    ctx = Ctx(tmp_path)
    write_ts(ctx, ["1,2,3:4,5,-inf:a"] + GOOD_CASES)
    with pytest.raises(CorruptDataError, match=r"line 7: non-finite value '-inf' in case 1, channel 1, step 2"):
        build_dataset(DataConfig(name="uea-Heartbeat", root=str(tmp_path / "data")))


def test_unpublished_checksums_are_recorded_and_verified(tmp_path, monkeypatch, caplog):  # issue 17.10
    ctx = Ctx(tmp_path, monkeypatch=monkeypatch)
    heartbeat_zip(ctx)
    paths = loaders.download("uea-Heartbeat", tmp_path / "data")
    record = tmp_path / "data" / "uea" / "Heartbeat" / loaders.RECORD
    assert "no published checksum" in caplog.text and record.is_file()
    assert sorted(line.split("  ")[1] for line in record.read_text().splitlines()) == [p.name for p in paths][::-1]
    assert build_dataset(DataConfig(name="uea-Heartbeat", root=str(tmp_path / "data"))).num_classes == 2
    paths[0].write_text(paths[0].read_text().replace("1,2,3", "1,2,4"))  # changed after it was recorded
    with pytest.raises(CorruptDataError, match=r"Heartbeat_TRAIN.ts: sha256 is \w+, expected \w+ \(recorded in"):
        build_dataset(DataConfig(name="uea-Heartbeat", root=str(tmp_path / "data")))
    paths[0].unlink()  # a fresh download whose bytes differ from the recorded ones is not installed
    (tmp_path / "Heartbeat.zip").write_bytes(b"")
    with zipfile.ZipFile(tmp_path / "Heartbeat.zip", "w") as z:
        for path in ("Heartbeat_TRAIN.ts", "Heartbeat_TEST.ts"):
            z.writestr(path, TS_HEADER + "\n".join(GOOD_CASES[::-1]) + "\n")
    with pytest.raises(CorruptDataError, match="damaged and was not kept: sha256 is .*recorded in"):
        loaders.download("uea-Heartbeat", tmp_path / "data")
    assert not paths[0].exists() and not list((tmp_path / "data").rglob("*.part"))


def test_manually_placed_files_are_recorded_on_first_load(tmp_path, caplog):  # issue 17.10: PEMS08
    ctx = Ctx(tmp_path)
    write_pems08(ctx, pems08_values())
    build_dataset(DataConfig(name="pems08", root=str(tmp_path / "data")))
    assert "pems08/PEMS08.npz: no published checksum; recorded its sha256" in caplog.text
    np.savez(tmp_path / "data" / "pems08" / "PEMS08.npz", data=pems08_values() + 1)
    with pytest.raises(
        CorruptDataError, match="PEMS08.npz: sha256 is .*recorded in.*if the new file is intended, delete its line"
    ):
        build_dataset(DataConfig(name="pems08", root=str(tmp_path / "data")))


def test_an_unreadable_or_unwritable_cache_only_warns(tmp_path, monkeypatch, caplog):  # issue 17.2
    config = DataConfig(name="msd-small", root=str(tmp_path), num_train=8, num_val=4, num_test=4, seq_len=32)
    first = build_dataset(config)
    (cache_file,) = (tmp_path / "synthetic").iterdir()
    cache_file.write_bytes(b"garbage")  # damaged, or another user's file torch cannot read
    assert torch.equal(build_dataset(config).train.x, first.train.x) and "unreadable cache file" in caplog.text
    monkeypatch.setattr(atomic.os, "fsync", patch_error(DISK_FULL))
    cache_file.unlink()
    assert torch.equal(build_dataset(config).train.x, first.train.x)
    assert "continuing without caching" in caplog.text and not list((tmp_path / "synthetic").iterdir())


def patch_error(error):
    def fail(*args, **kwargs):
        raise error

    return fail


def test_stale_temporary_files_are_cleared_on_resume(trained, tmp_path):
    run = Path(shutil.copytree(trained, tmp_path / "run"))
    stale = run / "checkpoints" / ".last.pt.abcd.tmp"
    stale.write_bytes(b"half a checkpoint")
    assert train(None, run_dir=run).status == "finished" and not stale.exists()
    with pytest.raises(RunFolderError):
        rundir.load_checkpoint(run / "checkpoints" / "none.pt")


def test_a_run_folder_is_trained_by_one_process_at_a_time(trained, tmp_path):
    run = Path(shutil.copytree(trained, tmp_path / "run"))
    mark = run / rundir.HOLDER
    alive = 1  # the init process: it runs on every host, and it is not this one
    mark.write_text(f"{socket.gethostname()} {alive}")
    with pytest.raises(RunFolderError, match=f"process {alive} on .* is training it"):
        train(None, run_dir=run)
    mark.write_text(f"another-host {alive}")
    with pytest.raises(RunFolderError, match="delete that file if no such process runs"):
        train(None, run_dir=run)
    ended = multiprocessing.Process(target=int)
    ended.start()
    ended.join()
    mark.write_text(f"{socket.gethostname()} {ended.pid}")  # left by a process that was killed
    assert train(None, run_dir=run).status == "finished" and not mark.exists()
    mark.write_text(f"{socket.gethostname()} {os.getpid()}")  # an ended process that had this one's id
    assert train(None, run_dir=run).status == "finished" and not mark.exists()


def test_metric_names_are_what_evaluate_returns(trained):
    from warprnn.training import evaluation, runs

    config, data, model, device = runs.load_run(trained)
    names = evaluation.metric_names(data, False, "val_")
    assert sorted(names) == sorted(evaluation.evaluate(model, data.val, data, "mse", 16, device, "auto", "val_"))


def test_idx_float_nan_is_named(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(b"\0\0\x0d\x01\0\0\0\x02" + np.array([1.0, np.nan], dtype=">f4").tobytes())
    with pytest.raises(CorruptDataError, match=r"x.idx: IDX entry \(1,\) is nan"):
        loaders.read_idx(path)
    gz = tmp_path / "y.gz"
    gz.write_bytes(gzip.compress(b"\0\0\x08\x03\0\0\0\x02"))
    with pytest.raises(CorruptDataError, match="declares 3 dimensions, but the file ends at byte 8"):
        loaders.read_idx(gz)


def test_a_channel_constant_in_training_is_scaled_by_one_with_a_warning(tmp_path, caplog):  # issue 47.2
    """Divided by its spread (0, clamped at 1e-8), a channel constant over the training rows that later moves
    by 4 became 4e8 (test MSE 1e15, reported as a result); scaled by 1, it keeps its size, and a warning
    names it."""
    rows = [f"{d},{np.sin(i / 3):.4f},{1.0 if i < 50 else 5.0}" for i, d in enumerate(HOURS[:60])]
    (tmp_path / "d.csv").write_text("date,a,b\n" + "\n".join(rows) + "\n")
    data = build_dataset(DataConfig(name="csv", path=str(tmp_path / "d.csv"), context=4, horizon=4))
    assert data.scaler.std[1] == 1 and data.test.x[..., 1].abs().max() == 4
    assert "channel(s) [1] are constant over the training part" in caplog.text


def test_an_option_of_the_file_left_unread_by_an_override_is_a_warning(caplog):  # issue 47.1
    """``train msd-cpu train.autoregressive=false``: the file's ``teacher_forcing`` (0.25) is then unread, which
    the user did not set on this command: a warning, not a refusal (setting it here too is refused, above)."""
    experiment = load_experiment("msd-cpu", ["train.autoregressive=false"])
    assert not experiment.train.autoregressive
    assert "train.teacher_forcing: not read when train.autoregressive is False" in caplog.text
