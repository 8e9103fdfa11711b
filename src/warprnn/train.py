"""The training loop: one run folder per experiment, resumable from its last checkpoint.

Run folder::

    config.yaml          the resolved experiment
    metrics.csv          one row per epoch: train loss, learning rate, validation metrics
    checkpoints/last.pt  after every epoch (written atomically); best.pt: best validation metric
    test_metrics.json    final metrics of the best checkpoint on the test split
    plots/               losses.png, predictions.png, theta.png

Reproducibility: initialisation is seeded by ``train.seed``; the shuffling and teacher-forcing draws of
epoch e come from a generator seeded by (seed, e), so a run resumed from its checkpoint after epoch e
continues exactly as an uninterrupted run would on the same CPU.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from . import plots
from .cache import atomic_save
from .config import ExperimentConfig
from .datasets import SequenceData, Split, build_dataset
from .evaluation import compute_loss, evaluate, forecast, naive_metrics, step_mask
from .baselines import build_model as build_named_model, count_parameters

MAXIMISED = ("accuracy", "f1")


@dataclass
class RunResult:
    """What a finished (or stopped) run reports.

    Attributes:
        run_dir: the run folder. model: which model was trained (``ExperimentConfig.model``).
        parameters: its number of trainable parameters.
        status: ``finished`` or ``non-finite`` (stopped on a NaN/Inf loss).
        test_metrics: metrics of the best checkpoint on the test split (empty when stopped).
        plots: the figures written.
    """

    run_dir: Path
    model: str
    parameters: int
    status: str
    test_metrics: dict
    plots: list[Path]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device: 'cuda' was asked for but torch sees no CUDA device")
    return torch.device(name)


def build_model(config: ExperimentConfig, data: SequenceData, device) -> torch.nn.Module:
    """The model of ``config`` (WARP or a parameter-matched baseline), sized for ``data``, initialised
    from ``train.seed``."""
    warp = dataclasses.replace(config.warp, in_channels=data.channels, num_classes=data.num_classes,
                               key_channels=data.key_channels)
    torch.manual_seed(config.train.seed)
    return build_named_model(config.model, warp, device=device)


def build_optimizer(config: ExperimentConfig, model: torch.nn.Module):
    """The optimiser and learning-rate scheduler of ``config.optim`` (the scheduler may be None)."""
    o = config.optim
    cls = torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam
    transition = [p for name, p in model.named_parameters() if name == "A"]  # WARP's A; baselines have none
    rest = [p for name, p in model.named_parameters() if name != "A"]
    groups = [{"params": rest}] + ([{"params": transition, "lr": o.lr if o.lr_A is None else o.lr_A}] if transition else [])
    optimizer = cls(groups, lr=o.lr, weight_decay=o.weight_decay)
    floor = o.min_lr / o.lr  # both schedules scale every group's learning rate by the same factor
    if o.scheduler == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=o.plateau_factor, patience=o.plateau_patience,
            min_lr=[group["lr"] * floor for group in optimizer.param_groups])
    elif o.scheduler == "cosine":
        epochs = config.train.epochs
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda epoch: floor + (1 - floor) * (1 + math.cos(math.pi * epoch / epochs)) / 2)
    else:
        scheduler = None
    return optimizer, scheduler


def save_checkpoint(path: Path, state: dict) -> None:
    """Writes ``state`` atomically (``cache.atomic_save``): a kill mid-write leaves the previous file."""
    atomic_save(state, path)


def load_checkpoint(path: Path) -> dict:
    """Reads a checkpoint (tensors and plain Python values only: ``weights_only=True``)."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    return torch.load(path, map_location="cpu", weights_only=True)


def new_run_dir(config: ExperimentConfig) -> Path:
    """A fresh run folder ``out_dir/name-YYYYmmdd-HHMMSS[-n]``."""
    stem = f"{config.train.name or config.data.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    root = Path(config.train.out_dir)
    run_dir, n = root / stem, 1
    while run_dir.exists():
        run_dir, n = root / f"{stem}-{n}", n + 1
    run_dir.mkdir(parents=True)
    return run_dir


def read_run_config(run_dir: Path) -> ExperimentConfig:
    """The experiment saved in a run folder."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{str(run_dir)!r} is not a run folder: {str(path)!r} does not exist")
    return ExperimentConfig.from_dict(yaml.safe_load(path.read_text()))


def write_metrics_csv(path: Path, history: list[dict]) -> None:
    keys = list(dict.fromkeys(k for row in history for k in row))
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, path)


def is_better(metric: str, value: float, best: float | None) -> bool:
    if best is None:
        return math.isfinite(value)
    return value > best if any(m in metric for m in MAXIMISED) else value < best


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The random source of one epoch (shuffling, teacher forcing, loss steps)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


class Progress:
    """A one-line progress bar on stderr (only on a terminal) with loss and ETA."""

    def __init__(self, total: int, label: str):
        self.total, self.label, self.start = total, label, time.time()
        self.enabled = sys.stderr.isatty()

    def update(self, done: int, loss: float) -> None:
        if not self.enabled:
            return
        elapsed = time.time() - self.start
        eta = elapsed / done * (self.total - done)
        bar = "#" * int(20 * done / self.total)
        sys.stderr.write(f"\r{self.label} [{bar:<20}] {done}/{self.total} loss {loss:.4g} ETA {eta:4.0f}s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 80 + "\r")


def train_epoch(model, data: SequenceData, config: ExperimentConfig, optimizer, generator, device, label: str):
    """One pass over the training split. Returns the mean loss, or a non-finite loss as soon as one occurs."""
    t = config.train
    model.train()
    order = torch.randperm(len(data.train), generator=generator)
    batches = list(order.split(t.batch_size))
    progress, total = Progress(len(batches), label), 0.0
    for i, index in enumerate(batches):
        cpu_batch = data.train.batch(index)
        batch = Split(cpu_batch.x.to(device), cpu_batch.y.to(device), cpu_batch.lengths.to(device))
        forcing = t.teacher_forcing if t.autoregressive else None
        out = model(batch.x, batch.lengths, teacher_forcing=forcing, mode=t.mode if forcing is None else "scan",
                    generator=generator if device.type == "cpu" else None)
        mask = None if t.loss == "ce" else step_mask(batch.lengths, batch.x.shape[1], t.loss_steps, generator)
        loss = compute_loss(out, batch, t.loss, mask)
        if not torch.isfinite(loss):
            progress.close()
            return loss.item()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
        optimizer.step()
        total += loss.item() * len(index)
        progress.update(i + 1, loss.item())
    progress.close()
    return total / len(data.train)


def train(config: ExperimentConfig, run_dir: Path | None = None, log=print) -> RunResult:
    """Trains ``config`` in a new run folder, or resumes the run in ``run_dir`` from its last checkpoint.

    Args:
        config: the experiment. run_dir: an existing run folder to resume (its config is used).
        log: where progress lines go.
    """
    if run_dir is not None:
        run_dir = Path(run_dir)
        config = read_run_config(run_dir)
    device = resolve_device(config.train.device)
    data = build_dataset(config.data)
    if data.task != "forecast" and config.train.autoregressive:
        raise ValueError(f"train.autoregressive: {config.data.name!r} is a {data.task} task, whose inputs are "
                         f"never replaced by predictions; set train.autoregressive=false")
    model = build_model(config, data, device)
    optimizer, scheduler = build_optimizer(config, model)
    history, best, start = [], None, 1
    if run_dir is None:
        run_dir = new_run_dir(config)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    elif (run_dir / "checkpoints" / "last.pt").is_file():
        state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        history, best, start = state["history"], state["best"], state["epoch"] + 1
        log(f"resumed {run_dir} after epoch {state['epoch']}")
    t = config.train
    size = f"D_theta {model.d_theta}" if config.model == "warp" else f"width {model.width}"
    log(f"run folder: {run_dir}  ({config.model}, {size}, {count_parameters(model)} parameters)")
    for epoch in range(start, t.epochs + 1):
        began = time.time()
        generator = epoch_generator(t.seed, epoch)
        train_loss = train_epoch(model, data, config, optimizer, generator, device, f"epoch {epoch}/{t.epochs}")
        if not math.isfinite(train_loss):
            return stop_non_finite(run_dir, config.model, count_parameters(model), epoch, train_loss, log)
        row = {"epoch": epoch, "train_loss": train_loss, "lr": optimizer.param_groups[0]["lr"]}
        if epoch % t.val_every == 0 or epoch == t.epochs:
            row.update(evaluate(model, data.val, data, t.loss, t.batch_size, device, t.mode, "val_"))
            if t.metric not in row:
                raise ValueError(f"train.metric: {t.metric!r} is not computed; choose one of "
                                 f"{sorted(k for k in row if k.startswith('val_'))}")
            if is_better(t.metric, row[t.metric], best):
                best = row[t.metric]
                save_checkpoint(run_dir / "checkpoints" / "best.pt", {"model": model.state_dict(), "epoch": epoch})
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(train_loss)
        elif scheduler is not None:
            scheduler.step()
        history.append(row)
        save_checkpoint(run_dir / "checkpoints" / "last.pt", {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "best": best,
            "scheduler": None if scheduler is None else scheduler.state_dict(), "history": history})
        write_metrics_csv(run_dir / "metrics.csv", history)
        eta = (time.time() - began) * (t.epochs - epoch)
        shown = "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "lr") and "orig" not in k)
        log(f"epoch {epoch}/{t.epochs}  {shown}  ({time.time() - began:.1f}s, ETA {eta:.0f}s)")
    if not (run_dir / "checkpoints" / "best.pt").is_file():
        save_checkpoint(run_dir / "checkpoints" / "best.pt", {"model": model.state_dict(), "epoch": t.epochs})
        log(f"warning: no validation {t.metric} was finite (the forecasts diverged); best.pt holds the last "
            f"epoch's weights and the test metrics below are theirs")
    return finish(run_dir, config, data, model, device, history)


def stop_non_finite(run_dir: Path, model: str, parameters: int, epoch: int, loss: float, log) -> RunResult:
    """Stops a run whose loss became NaN or Inf; its checkpoints stay as they were."""
    last = run_dir / "checkpoints" / "last.pt"
    kept = f"the last good checkpoint is {last}" if last.is_file() else "no checkpoint was written before it"
    log(f"stopped: the training loss became {loss} in epoch {epoch}; {kept}")
    return RunResult(run_dir=run_dir, model=model, parameters=parameters, status="non-finite", test_metrics={},
                     plots=[])


def finish(run_dir: Path, config: ExperimentConfig, data: SequenceData, model, device, history) -> RunResult:
    """Evaluates the best checkpoint on the test split and draws the run's figures."""
    test = score_best(run_dir, config, data, model, device)
    return RunResult(run_dir=run_dir, model=config.model, parameters=count_parameters(model), status="finished",
                     test_metrics=test, plots=draw_plots(run_dir, model, data, device, history, config.train.batch_size,
                                      config.train.metric))


def score_best(run_dir: Path, config: ExperimentConfig, data: SequenceData, model, device) -> dict:
    """Loads the best checkpoint into ``model``, writes and returns its test metrics."""
    model.load_state_dict(load_checkpoint(run_dir / "checkpoints" / "best.pt")["model"])
    t = config.train
    test = evaluate(model, data.test, data, t.loss, t.batch_size, device, t.mode, "test_")
    if data.task == "forecast":
        test.update(naive_metrics(data.test, data, "test_"))
    (run_dir / "test_metrics.json").write_text(json.dumps(test, indent=2))
    return test


def load_run(run_dir: Path):
    """The config, data and best model of a run folder."""
    config = read_run_config(run_dir)
    device = resolve_device(config.train.device)
    data = build_dataset(config.data)
    model = build_model(config, data, device)
    model.load_state_dict(load_checkpoint(run_dir / "checkpoints" / "best.pt")["model"])
    return config, data, model.eval(), device


def evaluate_run(run_dir: Path) -> dict:
    """Test metrics of a run's best checkpoint (also written to its ``test_metrics.json``)."""
    config, data, model, device = load_run(run_dir)
    return score_best(run_dir, config, data, model, device)


@torch.no_grad()
def predict_run(run_dir: Path, values: torch.Tensor, horizon: int | None = None) -> torch.Tensor:
    """Forecasts ``horizon`` steps after ``values`` with a run's best model.

    Args:
        values: ``(T, C)`` or ``(N, T, C)`` on the original scale of the data.
        horizon: steps to forecast (default: the training sequence length minus T).

    Returns:
        ``(N, horizon, C)`` forecasts on the original scale.
    """
    config, data, model, device = load_run(run_dir)
    if data.task != "forecast":
        raise ValueError(f"predict: run {str(run_dir)!r} is a {data.task} run; only forecasting runs predict")
    x = values.unsqueeze(0) if values.dim() == 2 else values
    if x.dim() != 3 or x.shape[-1] != data.channels:
        raise ValueError(f"--input: expected shape (T, {data.channels}) or (N, T, {data.channels}), "
                         f"got {tuple(values.shape)}")
    context = x.shape[1]
    horizon = data.train.x.shape[1] - context if horizon is None else horizon
    if horizon < 1:
        raise ValueError(f"--horizon: expected at least 1 step to forecast, got {horizon}")
    if data.scaler is not None:
        x = data.scaler.transform(x)
    padded = torch.cat([x, x.new_zeros(x.shape[0], horizon, x.shape[2])], dim=1).to(device)
    mean = model(padded, context=context).mean[:, context - 1:-1].cpu()
    return mean if data.scaler is None else data.scaler.inverse(mean)


def draw_plots(run_dir: Path, model, data: SequenceData, device, history, batch_size: int, metric: str) -> list[Path]:
    """Loss curves, test predictions with the context marked, and the weight trajectory of one sequence."""
    out = run_dir / "plots"
    figures = [plots.plot_losses(history, out / "losses.png", metric)]
    if data.task != "classification":
        sample = data.test.batch(torch.arange(min(4, len(data.test))))
        pred = forecast(model, sample, data.forecast_context, batch_size, device)
        figures.append(plots.plot_predictions(sample.y, pred["mean"], out / "predictions.png", context=data.context,
                                              std=pred["std"], channel_names=data.channel_names))
        figures.append(plots.plot_theta_trajectory(pred["theta"][0, :int(sample.lengths[0])], out / "theta.png",
                                                   context=data.context))
    return figures
