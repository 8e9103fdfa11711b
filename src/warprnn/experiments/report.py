"""What every experiment shares: the scales, the models' display names, quiet training of a shipped
config, and the pieces of a markdown report (mean ± std, the machine)."""

from __future__ import annotations

import math
import os
import platform
import statistics
from pathlib import Path

import torch

from ..training import RunResult, load_experiment, train

SCALES = ("cpu", "paper")
MODEL_NAMES = {
    "warp": "WARP",
    "warp-phys": "WARP-Phys",
    "warp-phys-paper": "WARP-Phys (paper)",
    "gru": "GRU",
    "lstm": "LSTM",
    "transformer": "Transformer",
    "s4d": "S4D",
}


def check_scale(scale: str) -> None:
    """Raises unless ``scale`` is one of ``SCALES``."""
    if scale not in SCALES:
        raise ValueError(f"scale: expected one of {list(SCALES)}, got {scale!r}")


def mean_std(values: list[float]) -> str:
    """``mean ± std`` of the finite values (sample std; 0 for one value), noting how many diverged."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return f"diverged ({len(values)}/{len(values)})"
    std = statistics.stdev(finite) if len(finite) > 1 else 0.0
    text = f"{statistics.fmean(finite):.3g} ± {std:.2g}"
    return text if len(finite) == len(values) else f"{text} ({len(values) - len(finite)}/{len(values)} diverged)"


def machine() -> str:
    """The machine a report was made on, in words."""
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.platform()}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch thread(s), "
        f"{device}, Python {platform.python_version()}, torch {torch.__version__}"
    )


def run_config(config_name: str, overrides: list[str], run_root: Path, name: str) -> RunResult:
    """Trains the shipped config ``config_name`` with ``overrides`` into ``run_root/name-*``."""
    config = load_experiment(config_name, [*overrides, f"train.out_dir={run_root}", f"train.name={name}"])
    return train(config)
