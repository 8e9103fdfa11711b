"""The training loop: one run folder per experiment (``rundir.py``), resumable from its last checkpoint.

Reproducibility: initialisation is seeded by ``train.seed``; the shuffling and teacher-forcing draws of
epoch e come from a generator seeded by (seed, e), so a run resumed from its checkpoint after epoch e
continues exactly as an uninterrupted run would on the same CPU. Progress goes to the ``warprnn``
loggers: one line per epoch at INFO.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..baselines import count_parameters
from ..data import SequenceData, Split, build_dataset
from ..errors import ConfigError, RunFolderError, TrainingInterrupted
from . import rundir
from .build import build_model, build_optimizer, resolve_device
from .config import ExperimentConfig
from .evaluation import compute_loss, evaluate, metric_names, step_mask
from .runs import finish

logger = logging.getLogger(__name__)
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


def is_better(metric: str, value: float, best: float | None) -> bool:
    if best is None:
        return math.isfinite(value)
    return value > best if any(m in metric for m in MAXIMISED) else value < best


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The random source of one epoch (shuffling, teacher forcing, loss steps)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


class Progress:
    """A one-line progress bar on stderr with loss and ETA, drawn only when ``enabled`` (the CLI enables it
    on a terminal)."""

    def __init__(self, total: int, label: str, enabled: bool):
        self.total, self.label, self.start = total, label, time.time()
        self.enabled = enabled and sys.stderr.isatty()

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


def train_epoch(model, data: SequenceData, config: ExperimentConfig, optimizer, generator, device, progress: Progress):
    """One pass over the training split. Returns the mean loss, or a non-finite loss as soon as one occurs."""
    t = config.train
    model.train()
    order = torch.randperm(len(data.train), generator=generator)
    batches = list(order.split(t.batch_size))
    total = 0.0
    for i, index in enumerate(batches):
        cpu_batch = data.train.batch(index)
        batch = Split(cpu_batch.x.to(device), cpu_batch.y.to(device), cpu_batch.lengths.to(device))
        forcing = t.teacher_forcing if t.autoregressive else None
        out = model(
            batch.x,
            batch.lengths,
            teacher_forcing=forcing,
            mode=t.mode if forcing is None else "scan",
            generator=generator if device.type == "cpu" else None,
        )
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


def train(config: ExperimentConfig | None, run_dir: Path | None = None, *, progress: bool = False) -> RunResult:
    """Trains ``config`` in a new run folder, or resumes the run in ``run_dir`` from its last checkpoint.

    Everything that can be checked is checked before the run folder is created (or, when resuming,
    before training continues): the config, the data, the metric, the model's size, the folder's
    writability. Ctrl-C raises ``TrainingInterrupted`` naming the run folder to resume.

    Args:
        config: the experiment (None when resuming). run_dir: an existing run folder to resume (its
            config is used). progress: draw a progress bar on stderr when it is a terminal.
    """
    if run_dir is not None:
        run_dir = Path(run_dir)
        config = rundir.read_config(run_dir)
        rundir.check_writable(run_dir)
    device = resolve_device(config.train.device)
    data = build_dataset(config.data)
    if data.task != "forecast" and config.train.autoregressive:
        raise ConfigError(
            f"train.autoregressive: {config.data.name!r} is a {data.task} task, whose inputs are "
            f"never replaced by predictions; set train.autoregressive=false"
        )
    names = metric_names(data, config.warp.head == "gaussian", "val_")
    if config.train.metric not in names:
        raise ConfigError(f"train.metric: {config.train.metric!r} is not computed; choose one of {sorted(names)}")
    model = build_model(config, data, device)
    optimizer, scheduler = build_optimizer(config, model)
    history, best, start = [], None, 1
    if run_dir is None:
        run_dir = rundir.new_run_dir(config)
        rundir.write_config(run_dir, config)
    else:
        rundir.clear_stale(run_dir)
        if rundir.checkpoint_path(run_dir, "last").is_file():
            history, best, start = restore(run_dir, model, optimizer, scheduler)
    try:
        return run_epochs(run_dir, config, data, model, optimizer, scheduler, device, history, best, start, progress)
    except KeyboardInterrupt:
        raise TrainingInterrupted(run_dir) from None


def restore(run_dir: Path, model, optimizer, scheduler) -> tuple[list[dict], float | None, int]:
    """Loads the last checkpoint of ``run_dir`` into the model, optimiser and scheduler.

    Returns:
        the history so far, the best validation metric, and the epoch to continue from.
    """
    path = rundir.checkpoint_path(run_dir, "last")
    state = rundir.load_checkpoint(path, ("model", "optimizer", "scheduler", "history", "best", "epoch"))
    rundir.load_weights(model, path)
    try:
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise RunFolderError(f"{path}: its optimiser state does not fit the run's config ({error})") from None
    logger.info("resumed %s after epoch %d", run_dir, state["epoch"])
    return state["history"], state["best"], state["epoch"] + 1


def run_epochs(
    run_dir: Path,
    config: ExperimentConfig,
    data: SequenceData,
    model,
    optimizer,
    scheduler,
    device,
    history,
    best,
    start,
    progress,
) -> RunResult:
    """The epochs from ``start`` on, a checkpoint after each, then the test metrics and figures."""
    t = config.train
    size = f"D_theta {model.d_theta}" if config.model == "warp" else f"width {model.width}"
    logger.info("run folder: %s  (%s, %s, %d parameters)", run_dir, config.model, size, count_parameters(model))
    board = rundir.TensorBoard(run_dir, start) if t.tensorboard else None
    try:
        for epoch in range(start, t.epochs + 1):
            began = time.time()
            generator = epoch_generator(t.seed, epoch)
            bar = Progress(math.ceil(len(data.train) / t.batch_size), f"epoch {epoch}/{t.epochs}", progress)
            train_loss = train_epoch(model, data, config, optimizer, generator, device, bar)
            if not math.isfinite(train_loss):
                return stop_non_finite(run_dir, config.model, count_parameters(model), epoch, train_loss)
            row = {"epoch": epoch, "train_loss": train_loss, "lr": optimizer.param_groups[0]["lr"]}
            if epoch % t.val_every == 0 or epoch == t.epochs:
                row.update(evaluate(model, data.val, data, t.loss, t.batch_size, device, t.mode, "val_"))
                if is_better(t.metric, row[t.metric], best):
                    best = row[t.metric]
                    rundir.save_checkpoint(
                        rundir.checkpoint_path(run_dir, "best"), {"model": model.state_dict(), "epoch": epoch}
                    )
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(train_loss)
            elif scheduler is not None:
                scheduler.step()
            history.append(row)
            rundir.save_checkpoint(
                rundir.checkpoint_path(run_dir, "last"),
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "epoch": epoch,
                    "best": best,
                    "scheduler": None if scheduler is None else scheduler.state_dict(),
                    "history": history,
                },
            )
            rundir.write_metrics(run_dir, history)
            if board is not None:
                board.write(row)
            eta = (time.time() - began) * (t.epochs - epoch)
            shown = "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "lr") and "orig" not in k)
            logger.info("epoch %d/%d  %s  (%.1fs, ETA %.0fs)", epoch, t.epochs, shown, time.time() - began, eta)
    finally:
        if board is not None:
            board.close()
    if not rundir.checkpoint_path(run_dir, "best").is_file():
        rundir.save_checkpoint(
            rundir.checkpoint_path(run_dir, "best"), {"model": model.state_dict(), "epoch": t.epochs}
        )
        logger.warning(
            "no validation %s was finite (the forecasts diverged); best.pt holds the last epoch's "
            "weights and the test metrics below are theirs",
            t.metric,
        )
    test, figures = finish(run_dir, config, data, model, device, history)
    return RunResult(
        run_dir=run_dir,
        model=config.model,
        parameters=count_parameters(model),
        status="finished",
        test_metrics=test,
        plots=figures,
    )


def stop_non_finite(run_dir: Path, model: str, parameters: int, epoch: int, loss: float) -> RunResult:
    """Stops a run whose loss became NaN or Inf; its checkpoints stay as they were."""
    last = rundir.checkpoint_path(run_dir, "last")
    kept = f"the last good checkpoint is {last}" if last.is_file() else "no checkpoint was written before it"
    logger.warning("stopped: the training loss became %s in epoch %d; %s", loss, epoch, kept)
    return RunResult(
        run_dir=run_dir, model=model, parameters=parameters, status="non-finite", test_metrics={}, plots=[]
    )
