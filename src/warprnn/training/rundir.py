"""A run folder: its layout and every file in it, each written atomically (``warprnn.atomic``).

config.yaml          the resolved experiment
run.json             the run's identity, a random id that its checkpoints carry with the hash of config.yaml
data.json            what the model needs of its data to forecast or classify (``warprnn.data.card``)
commands.txt         one line per start or resume: time, threads, the command line that trained it
metrics.csv          one row per epoch: train loss, learning rate, validation metrics
checkpoints/last.pt  after every epoch; best.pt: the best validation metric so far
test_metrics.json    final metrics of the best checkpoint on the test split
plots/               losses.png, predictions.png, theta.png; completions.png for images read pixel by pixel
tensorboard/         the rows of metrics.csv as TensorBoard events (``train.tensorboard``)
.training            while a process trains it: that process's host and id (``hold``)
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shlex
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import torch
import yaml

from ..atomic import reason, remove_stale, save_torch, write_text
from ..errors import ConfigError, RunFolderError, StorageError, one_line
from .config import ExperimentConfig, is_plain_name, read_yaml


def new_run_dir(config: ExperimentConfig) -> Path:
    """A fresh run folder ``out_dir/name-YYYYmmdd-HHMMSS[-n]``, inside ``out_dir``.

    The folder is claimed by creating it (``mkdir`` fails if another process got there first, and the
    next suffix is tried), so concurrent runs never share or collide on a folder.
    """
    name = config.train.name or config.data.name
    if not is_plain_name(name):
        raise ConfigError(f"train.name: expected a plain folder name, got {name!r}")
    stem, root = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}", Path(config.train.out_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StorageError(f"train.out_dir: cannot create the folder {str(root)!r} ({reason(error)})") from error
    for n in range(10_000):
        run_dir = root / (stem if n == 0 else f"{stem}-{n}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
        except OSError as error:
            raise StorageError(
                f"train.out_dir: cannot create a run folder in {str(root)!r} ({reason(error)})"
            ) from error
    raise StorageError(f"train.out_dir: {str(root)!r} already holds 10000 run folders named {stem}-*")


def check_writable(run_dir: Path) -> None:
    """Raises ``StorageError`` unless files can be created in ``run_dir`` and its ``checkpoints/`` (probed
    with a temporary file), so that a resumed run fails before training rather than after an epoch."""
    for folder in (run_dir, run_dir / "checkpoints"):
        if not folder.is_dir():
            continue
        try:
            handle, probe = tempfile.mkstemp(dir=folder, prefix=".probe.", suffix=".tmp")
            os.close(handle)
            os.unlink(probe)
        except OSError as error:
            raise StorageError(f"{folder}: cannot write in the run folder ({reason(error)})") from error


HOLDER = ".training"
"""The file of a run folder that names the process training it (``hold``)."""


@contextlib.contextmanager
def hold(run_dir: Path):
    """Marks ``run_dir`` as trained by this process while the block runs, so that no second process trains
    it at the same time (a second resume, or a pool worker of a killed command that still runs). The mark of
    a process of this host that no longer runs is taken over.

    Raises:
        RunFolderError: a running process, or one of another host, holds the folder.
    """
    path, me = Path(run_dir) / HOLDER, f"{socket.gethostname()} {os.getpid()}"
    while True:
        try:
            with open(path, "x") as mark:
                mark.write(me)
            break
        except FileExistsError:
            holder = read_holder(path)
            if holder is not None and holder_runs(holder):
                raise RunFolderError(
                    f"{run_dir}: process {holder[1]} on {holder[0]} is training it ({path}; delete that file "
                    f"if no such process runs)"
                ) from None
            path.unlink(missing_ok=True)  # left by a process that ended without removing it
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def read_holder(path: Path) -> tuple[str, int] | None:
    """The (host, process id) that ``path`` names (None: gone, or not in that form)."""
    try:
        host, pid = path.read_text().split()
        return host, int(pid)
    except (OSError, ValueError):
        return None


def holder_runs(holder: tuple[str, int]) -> bool:
    """Whether the process ``holder`` may still run: another process of this host with its id runs, or it
    is on another host (unknowable from here)."""
    host, pid = holder
    if host != socket.gethostname():
        return True
    if pid == os.getpid():  # an ended process had this id before this one
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def clear_stale(run_dir: Path) -> None:
    """Deletes the temporary files of writes that a kill interrupted (``warprnn.atomic``)."""
    for folder in (run_dir, run_dir / "checkpoints"):
        if folder.is_dir():
            remove_stale(folder)


def write_config(run_dir: Path, config: ExperimentConfig) -> None:
    """Writes the resolved experiment to ``config.yaml``."""
    write_text(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))


COMMANDS = "commands.txt"
"""The file of a run folder that names the commands that trained it (``record_command``)."""


def record_command(run_dir: Path, action: str) -> None:
    """Appends to ``commands.txt`` the line ``TIME ACTION threads=N COMMAND``: when this process started
    (``action`` ``start``) or resumed (``resume``) the run, on how many torch threads, and its command line
    (that of the parent command in a worker process of ``warprnn reproduce``), so that a report can say
    which command trained each run."""
    path = Path(run_dir) / COMMANDS
    earlier = path.read_text() if path.is_file() else ""
    command = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
    line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {action} threads={torch.get_num_threads()} {command}\n"
    write_text(path, earlier + line)


def trained_by(run_dir: Path) -> str:
    """The lines of a run's ``commands.txt`` joined by `` | `` (empty for runs trained before it was kept)."""
    path = Path(run_dir) / COMMANDS
    return " | ".join(path.read_text().splitlines()) if path.is_file() else ""


def read_config(run_dir: Path) -> ExperimentConfig:
    """The experiment saved in a run folder.

    Raises:
        RunFolderError: ``config.yaml`` is missing, not valid YAML, or not a valid experiment.
    """
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise RunFolderError(f"{str(run_dir)!r} is not a run folder: {str(path)!r} does not exist")
    try:
        return ExperimentConfig.from_dict(read_yaml(path))
    except ConfigError as error:
        message = str(error) if str(error).startswith(str(path)) else f"{path}: {error}"
        raise RunFolderError(f"{message} (the run folder's config is damaged or was edited)") from None


def write_metrics(run_dir: Path, history: list[dict]) -> None:
    """Writes the per-epoch rows of ``history`` to ``metrics.csv`` (columns: every key seen, in order)."""
    keys = list(dict.fromkeys(k for row in history for k in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    write_text(run_dir / "metrics.csv", text.getvalue())


def write_test_metrics(run_dir: Path, metrics: dict) -> None:
    """Writes the test metrics to ``test_metrics.json``."""
    write_text(run_dir / "test_metrics.json", json.dumps(metrics, indent=2))


def checkpoint_path(run_dir: Path, name: str) -> Path:
    """``checkpoints/NAME.pt`` (``last`` or ``best``)."""
    return Path(run_dir) / "checkpoints" / f"{name}.pt"


IDENTITY = "run.json"
"""The file of a run folder that names the run (``write_identity``)."""


def write_identity(run_dir: Path) -> None:
    """Gives a new run folder its identity: a random id, which every checkpoint written in it carries."""
    write_text(Path(run_dir) / IDENTITY, json.dumps({"run": uuid.uuid4().hex}) + "\n")


def identity(run_dir: Path) -> dict | None:
    """What a checkpoint of ``run_dir`` carries: the run's id and the sha256 of its ``config.yaml`` as it is
    now (None: a run folder made before identities were kept)."""
    path = Path(run_dir) / IDENTITY
    if not path.is_file():
        return None
    try:
        run = json.loads(path.read_text())["run"]
    except (ValueError, KeyError, TypeError):
        raise RunFolderError(f'{path}: damaged (expected {{"run": ID}})') from None
    config = hashlib.sha256((Path(run_dir) / "config.yaml").read_bytes()).hexdigest()
    return {"run": run, "config": config}


def save_checkpoint(path: Path, state: dict) -> None:
    """Writes ``state`` atomically, with the run's ``identity``: a kill mid-write leaves the previous file."""
    known = identity(path.parents[1])
    save_torch(state if known is None else state | {"identity": known}, path)


def check_identity(path: Path, state: dict) -> None:
    """Raises ``RunFolderError`` when checkpoint ``path`` was written by another run than its folder's, or
    under another ``config.yaml`` than the folder's now (it was edited after training): either way the
    weights would be scored, resumed or used under settings they were not trained with."""
    saved, now = state.get("identity"), identity(path.parents[1])
    if not isinstance(saved, dict) or now is None:  # written before identities were kept
        return
    if saved.get("run") != now["run"]:
        raise RunFolderError(
            f"{path}: written by another run ({saved.get('run')}), not by this folder's ({now['run']}); "
            f"use the run folder it came from"
        )
    if saved.get("config") != now["config"]:
        raise RunFolderError(
            f"{path.parents[1] / 'config.yaml'}: edited after {path.name} was written (its sha256 differs); "
            f"restore it, or train a new run from the edited file"
        )


def load_checkpoint(path: Path, keys: tuple[str, ...] = ("model",)) -> dict:
    """Reads a checkpoint (tensors and plain Python values only: ``weights_only=True``) holding ``keys``.

    Raises:
        RunFolderError: the file is missing, damaged (truncated, empty, not a checkpoint), or lacks ``keys``.
    """
    if not path.is_file():
        raise RunFolderError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any failure to read it means the file is not a whole checkpoint
        raise RunFolderError(f"{path}: not a readable checkpoint ({damage(error)})") from None
    missing = [key for key in keys if not isinstance(state, dict) or key not in state]
    if missing:
        raise RunFolderError(f"{path}: not a warprnn checkpoint (no {missing})")
    return state


def damage(error: Exception) -> str:
    """What torch.load said about a damaged file, in a few words (without its advice to unpickle it)."""
    text = one_line(error, 120)
    if "weights_only" in str(error) or "Weights only" in str(error):
        return "it holds objects other than tensors and plain values"
    return text or type(error).__name__


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Loads the ``model`` weights of checkpoint ``path`` into ``model``.

    Raises:
        RunFolderError: the checkpoint is damaged, or its weights do not fit ``model`` (the run's
            ``config.yaml`` no longer describes the model that was trained): names the differences.
    """
    state = load_checkpoint(path)
    check_identity(path, state)
    weights = state["model"]
    expected = model.state_dict()
    if not isinstance(weights, dict):
        raise RunFolderError(f"{path}: not a warprnn checkpoint (its 'model' is not a state dict)")
    differences = [f"{key} missing" for key in expected if key not in weights]
    differences += [f"unexpected {key}" for key in weights if key not in expected]
    differences += [
        f"{key} {tuple(weights[key].shape)} where the model has {tuple(value.shape)}"
        for key, value in expected.items()
        if key in weights and getattr(weights[key], "shape", None) != value.shape
    ]
    if differences:
        raise RunFolderError(
            f"{path} does not fit the model that {path.parents[1] / 'config.yaml'} describes (was it edited?): "
            f"{'; '.join(differences[:4])}{'; ...' if len(differences) > 4 else ''}"
        )
    model.load_state_dict(weights)


class TensorBoard:
    """The per-epoch rows of ``metrics.csv`` as TensorBoard scalars in ``run_dir/tensorboard``.

    A resumed run purges the events after its checkpoint's epoch, so that the curves match ``metrics.csv``.
    """

    def __init__(self, run_dir: Path, start_epoch: int):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ValueError(
                "train.tensorboard: the tensorboard package is not installed; pip install 'warprnn[tensorboard]'"
            ) from None
        self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"), purge_step=start_epoch)

    def write(self, row: dict) -> None:
        for key, value in row.items():
            if key != "epoch":
                self.writer.add_scalar(key, value, row["epoch"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
