"""A run folder: its layout and every file in it, each written atomically (``warprnn.atomic``).

config.yaml          the resolved experiment
metrics.csv          one row per epoch: train loss, learning rate, validation metrics
checkpoints/last.pt  after every epoch; best.pt: the best validation metric so far
test_metrics.json    final metrics of the best checkpoint on the test split
plots/               losses.png, predictions.png, theta.png
tensorboard/         the rows of metrics.csv as TensorBoard events (``train.tensorboard``)
"""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import torch
import yaml

from ..atomic import save_torch, write_text
from .config import ExperimentConfig


def new_run_dir(config: ExperimentConfig) -> Path:
    """A fresh run folder ``out_dir/name-YYYYmmdd-HHMMSS[-n]``."""
    stem = f"{config.train.name or config.data.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    root = Path(config.train.out_dir)
    run_dir, n = root / stem, 1
    while run_dir.exists():
        run_dir, n = root / f"{stem}-{n}", n + 1
    run_dir.mkdir(parents=True)
    return run_dir


def write_config(run_dir: Path, config: ExperimentConfig) -> None:
    """Writes the resolved experiment to ``config.yaml``."""
    write_text(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))


def read_config(run_dir: Path) -> ExperimentConfig:
    """The experiment saved in a run folder."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{str(run_dir)!r} is not a run folder: {str(path)!r} does not exist")
    return ExperimentConfig.from_dict(yaml.safe_load(path.read_text()))


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


def save_checkpoint(path: Path, state: dict) -> None:
    """Writes ``state`` atomically: a kill mid-write leaves the previous file."""
    save_torch(state, path)


def load_checkpoint(path: Path) -> dict:
    """Reads a checkpoint (tensors and plain Python values only: ``weights_only=True``)."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    return torch.load(path, map_location="cpu", weights_only=True)


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
