"""The training loop: one run folder per experiment (``rundir.py``), resumable from its last checkpoint.

Reproducibility: initialisation is seeded by ``train.seed``; the shuffling and teacher-forcing draws of
epoch e come from a generator seeded by (seed, e), so a run resumed from its checkpoint after epoch e
continues exactly as an uninterrupted run would on the same CPU. Progress goes to the ``warprnn``
loggers: one line per epoch at INFO.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch

from ..authors import OURS, Choices, model_choices
from ..baselines import count_parameters
from ..data import DataCard, SequenceData, Split, build_dataset, write_card
from ..errors import ConfigError, RunFolderError, TrainingInterrupted
from . import distributed, rundir
from .build import BudgetCosine, build_model, build_optimizer, scale_learning_rates
from .config import ExperimentConfig, TrainConfig
from .evaluation import compute_loss, evaluate, loss_mask, metric_names
from .optimizers import StepPlateau, clip_values
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
        rollbacks: epochs trained again after a NaN/Inf loss (``train.rollbacks``).
        test_metrics: metrics of the best checkpoint on the test split (empty when a non-finite loss
            stopped the run before any validation).
        plots: the figures written.
        stopped_by: what ended it: ``patience`` (early stopping), ``time budget``, ``epochs`` (None: a NaN or
            Inf loss, or a checkpoint written before this was kept).
    """

    run_dir: Path
    model: str
    parameters: int
    status: str
    rollbacks: int
    test_metrics: dict
    plots: list[Path]
    stopped_by: str | None = None


def metric_sign(metric: str) -> float:
    """-1 for a metric where larger is better (accuracy, F1), +1 otherwise: ``sign * value`` is minimised."""
    return -1.0 if any(m in metric for m in MAXIMISED) else 1.0


def selection_key(metric: str, row: dict) -> tuple[float, float]:
    """What picks the best checkpoint, smaller is better: the validation ``metric`` (negated where larger is
    better), then the validation loss, which breaks its ties (an accuracy over a few cases ties often)."""
    return metric_sign(metric) * row[metric], row["val_loss"]


def is_better(key: tuple[float, float], best: tuple[float, float] | None) -> bool:
    """Whether a validation with ``selection_key`` ``key`` beats the best so far (None: none yet)."""
    return math.isfinite(key[0]) and (best is None or key < best)


def improves(key: tuple[float, float], mark: tuple[float, float] | None, min_delta: float) -> bool:
    """Whether a validation with ``selection_key`` ``key`` restarts early stopping's count: it beats
    ``mark``, the key of the last validation that did (None: none yet), and its metric by at least
    ``min_delta`` of the metric's size (``train.min_delta``; 0: any better key, as ``is_better``)."""
    return is_better(key, mark) and (mark is None or key[0] <= mark[0] - min_delta * abs(mark[0]))


@dataclass
class Patience:
    """Early stopping's count (``train.patience``): ``stale`` validations since ``mark``, the key of the last
    one that ``improves`` (None: none yet), by ``min_delta`` (``train.min_delta``)."""

    min_delta: float = 0.0
    mark: tuple[float, float] | None = None
    stale: int = 0

    def update(self, key: tuple[float, float]) -> None:
        """Counts a validation of ``selection_key`` ``key``."""
        self.mark, self.stale = (key, 0) if improves(key, self.mark, self.min_delta) else (self.mark, self.stale + 1)

    @classmethod
    def of(cls, history: list[dict], metric: str, min_delta: float = 0.0) -> Patience:
        """The count after the validations of ``history``: a run's rows, as the loop keeps them or as
        ``metrics.csv`` holds them (rows of epochs without a validation have no, or an empty, ``metric``)."""
        count = cls(min_delta)
        for row in history:
            if row.get(metric) not in (None, ""):
                count.update(selection_key(metric, {metric: float(row[metric]), "val_loss": float(row["val_loss"])}))
        return count


def run_eta(epoch_seconds: float, epochs_left: int, elapsed: float, budget: float | None) -> float:
    """Seconds until a run ends: its epochs left at the last epoch's pace, or, under a time budget
    (``train.time_budget``, minutes) that ends it first, what is left of that budget."""
    by_epochs = epoch_seconds * epochs_left
    return by_epochs if budget is None else max(0.0, min(by_epochs, 60 * budget - elapsed))


def budget_spent(budget: float | None, elapsed: float, epoch: float) -> bool:
    """Whether a run that had trained ``elapsed`` seconds before an epoch of ``epoch`` seconds would pass its
    ``budget`` (minutes, or None) with one more epoch as long."""
    return budget is not None and elapsed + 2 * epoch > 60 * budget


def epoch_length(split: int, epoch_size: int | None) -> int:
    """Sequences an epoch trains on: ``train.epoch_size`` of a training split of ``split``, at most all."""
    return split if epoch_size is None else min(split, epoch_size)


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
        """Redraws the bar after ``done`` of ``total`` steps."""
        if not self.enabled:
            return
        elapsed = time.time() - self.start
        eta = elapsed / done * (self.total - done)
        bar = "#" * int(20 * done / self.total)
        sys.stderr.write(f"\r{self.label} [{bar:<20}] {done}/{self.total} loss {loss:.4g} ETA {eta:4.0f}s")
        sys.stderr.flush()

    def close(self) -> None:
        """Clears the bar."""
        if self.enabled:
            sys.stderr.write("\r" + " " * 80 + "\r")


def optimizer_step(optimizer: torch.optim.Optimizer, step: int, warmup_steps: int, scaler=None) -> None:
    """``optimizer.step()`` (through ``scaler``, a ``torch.amp.GradScaler``, when given), with every group's
    learning rate scaled by ``(step + 1) / warmup_steps`` while ``step < warmup_steps`` (linear warmup on top
    of the schedule, which it leaves as it was)."""
    take_step = optimizer.step if scaler is None else lambda: scaler.step(optimizer)
    if step >= warmup_steps:
        take_step()
        return
    scheduled = [group["lr"] for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["lr"] *= (step + 1) / warmup_steps
    take_step()
    for group, lr in zip(optimizer.param_groups, scheduled):
        group["lr"] = lr


@dataclass
class Engine:
    """How a run computes: this process's ``world`` (``distributed.World``) and ``device``; ``autocast``, the
    context of a training forward pass (``train.precision``); ``scaler``, fp16's gradient scaler (None
    otherwise); ``forward``, the model or its ``torch.compile`` version (``train.compile``)."""

    world: distributed.World
    device: torch.device
    autocast: Callable[[], contextlib.AbstractContextManager]
    scaler: torch.amp.GradScaler | None
    forward: Callable


def build_engine(config: ExperimentConfig, model, world: distributed.World, device: torch.device) -> Engine:
    """The ``Engine`` of ``train.precision`` on ``device``.

    Raises:
        ConfigError: fp16 asked for on a device other than CUDA.
    """
    precision = config.train.precision
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(f"train.precision: 'fp16' needs CUDA (gradient scaling), the device is {device}; use bf16")
    if precision == "fp32":
        autocast = contextlib.nullcontext
    else:
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        autocast = partial(torch.autocast, device.type, dtype=dtype)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    return Engine(world, device, autocast, scaler, torch.compile(model) if config.train.compile else model)


def train_epoch(
    model,
    data: SequenceData,
    config: ExperimentConfig,
    optimizer,
    scheduler,
    generator,
    engine: Engine,
    progress: Progress,
    forcing: float | None,
    epoch: int,
):
    """One pass over the training split (epoch ``epoch``, from 1), autoregressive with teacher-forcing
    probability ``forcing`` (None: teacher-forced). Returns the mean loss, or a non-finite loss as soon as
    one occurs.

    Each step's gradients are clipped element-wise (``optim.clip_value``), then in norm (``optim.grad_clip``),
    then the optimiser steps, as ``optax.chain(optax.clip, optimiser)`` does; a ``plateau-steps`` scheduler
    (``StepPlateau``; any other is stepped per epoch, ``step_schedule``) takes the step's loss, of the whole
    batch, just before the step, whose rates it sets (optax's reduce_on_plateau scales the update of the
    step whose loss it was given).

    Under ``torchrun`` each rank runs its rows of every batch (``rank_loss``) and the ranks' gradients are
    summed, so that each step is the step of one process on the whole batch (see ``distributed``).
    """
    t, world, device = config.train, engine.world, engine.device
    size = epoch_length(len(data.train), t.epoch_size)
    first_step = (epoch - 1) * math.ceil(size / t.batch_size)
    model.train()
    order = torch.randperm(len(data.train), generator=generator)[:size]
    batches = list(order.split(t.batch_size))
    parameters = [p for p in model.parameters() if p.requires_grad]
    context = data.forecast_context if t.feed_context and forcing is not None else None
    total = 0.0
    for i, index in enumerate(batches):
        loss = rank_loss(data.train.batch(index), config, engine, generator, forcing, context, model_choices(model))
        whole_loss = distributed.total(torch.zeros((), device=device) if loss is None else loss.detach(), world)
        if not torch.isfinite(whole_loss):
            progress.close()
            return whole_loss.item()
        optimizer.zero_grad(set_to_none=True)
        if loss is not None:
            (loss if engine.scaler is None else engine.scaler.scale(loss)).backward()
        distributed.sum_gradients(parameters, world)
        if engine.scaler is not None:
            engine.scaler.unscale_(optimizer)
        clip_values(parameters, config.optim.clip_value)
        if config.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
        if isinstance(scheduler, StepPlateau):
            scheduler.step(whole_loss.item())
        optimizer_step(optimizer, first_step + i, config.optim.warmup_steps, engine.scaler)
        if engine.scaler is not None:
            engine.scaler.update()
        total += whole_loss.item() * len(index)
        progress.update(i + 1, whole_loss.item())
    progress.close()
    return total / size


@dataclass
class Snapshot:
    """Weights and optimiser state kept in memory for ``train.rollbacks``: those of the best validation so far,
    or of the start of an epoch."""

    model: dict
    optimizer: dict

    @classmethod
    def take(cls, model, optimizer) -> Snapshot:
        """A copy of the model's and the optimiser's state."""
        return cls(copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()))

    def restore(self, model, optimizer) -> None:
        """Puts the copied state back into ``model`` and ``optimizer``."""
        model.load_state_dict(self.model)
        optimizer.load_state_dict(copy.deepcopy(self.optimizer))  # the optimiser adopts the tensors it loads


def train_epoch_with_rollbacks(
    model,
    data,
    config: ExperimentConfig,
    optimizer,
    scheduler,
    engine: Engine,
    bar,
    forcing,
    epoch: int,
    used: int,
    best: Snapshot | None,
) -> tuple[float, int]:
    """``train_epoch`` of epoch ``epoch``; on a NaN or Inf loss, while fewer than ``train.rollbacks`` of the
    run's rollbacks are ``used``, back to ``best`` (the state of the best validation so far; None: the
    epoch's start) with every learning rate times ``train.rollback_factor``, and the epoch again, from the
    same random draws. Returns the loss (non-finite when the rollbacks ran out) and the rollbacks used so far."""
    t = config.train
    snapshot = None if used >= t.rollbacks else best or Snapshot.take(model, optimizer)
    loss = train_epoch(
        model, data, config, optimizer, scheduler, epoch_generator(t.seed, epoch), engine, bar, forcing, epoch
    )
    while not math.isfinite(loss) and used < t.rollbacks:
        used += 1
        logger.warning(
            "the training loss became %s in epoch %d: back to %s, every learning rate x %g (rollback %d of %d)",
            loss,
            epoch,
            "the epoch's start" if best is None else "the best validation so far",
            t.rollback_factor,
            used,
            t.rollbacks,
        )
        snapshot.restore(model, optimizer)
        scale_learning_rates(optimizer, scheduler, t.rollback_factor)
        loss = train_epoch(
            model, data, config, optimizer, scheduler, epoch_generator(t.seed, epoch), engine, bar, forcing, epoch
        )
    return loss, used


def teacher_forcing_at(t: TrainConfig, epoch: int, elapsed: float) -> float | None:
    """The teacher-forcing probability of epoch ``epoch`` (from 1), which starts after ``elapsed`` seconds of
    training: ``t.teacher_forcing``, or with ``t.teacher_forcing_final`` the point that far along the line
    between the two over the time budget (else over the epochs); None when training is teacher-forced."""
    if not t.autoregressive:
        return None
    if t.teacher_forcing_final is None:
        return t.teacher_forcing
    done = min(elapsed / (60 * t.time_budget), 1.0) if t.time_budget else (epoch - 1) / max(t.epochs - 1, 1)
    return t.teacher_forcing + (t.teacher_forcing_final - t.teacher_forcing) * done


def rank_loss(
    whole: Split,
    config: ExperimentConfig,
    engine: Engine,
    generator,
    forcing: float | None,
    context: int | None,
    choices: Choices = OURS,
) -> torch.Tensor | None:
    """This process's part of the training loss of the batch ``whole`` (on the CPU; autoregressive with
    teacher-forcing probability ``forcing`` after the first ``context`` steps (None: 1), None:
    teacher-forced), None when its share of the
    batch is empty. One process: the batch's loss. Rank r of N: the loss of its rows ``distributed.rows``
    times their share of the batch's loss terms, so that the N parts add up to the batch's loss; its
    teacher-forcing draws are its rows of the batch's (``distributed.drawing_rows``), and the loss steps
    (``train.loss_steps``) are drawn for the whole batch, as one process draws them (under the authors'
    semantics, ``choices``, as they draw them: ``evaluation.loss_mask``)."""
    t, world, device = config.train, engine.world, engine.device
    start, stop = distributed.rows(len(whole), world)
    draws = generator if device.type == "cpu" else None
    if forcing is None:
        drawing = contextlib.nullcontext(draws)
    else:
        sampled = config.warp.head == "gaussian" and config.warp.ar_feed == "sample"
        noise = whole.x.dtype if sampled else None
        drawing = distributed.drawing_rows(draws, start, stop, tuple(whole.x.shape), noise, world)
    with drawing as draws:
        if stop > start:
            batch = Split(*(part[start:stop].to(device) for part in (whole.x, whole.y, whole.lengths)))
            mode = t.mode if forcing is None else "scan"
            with engine.autocast():
                out = engine.forward(
                    batch.x, batch.lengths, context=context, teacher_forcing=forcing, mode=mode, generator=draws
                )
    lengths = whole.lengths.to(device)
    mask = None if t.loss == "ce" else loss_mask(choices, lengths, whole.x.shape[1], t.loss_steps, generator)
    if stop == start:
        return None
    with engine.autocast():
        loss = compute_loss(out, batch, t.loss, None if mask is None else mask[start:stop], choices).float()
    return loss if world.size == 1 else loss * distributed.share_of_loss(mask, start, stop, len(whole))


def train(
    config: ExperimentConfig | None,
    run_dir: Path | None = None,
    *,
    progress: bool = False,
    data: SequenceData | None = None,
) -> RunResult:
    """Trains ``config`` in a new run folder, or resumes the run in ``run_dir`` from its last checkpoint.

    Everything that can be checked is checked before the run folder is created (or, when resuming,
    before training continues): the config, the data, the metric, the model's size, the folder's
    writability. Ctrl-C raises ``TrainingInterrupted`` naming the run folder to resume.

    Args:
        config: the experiment (None when resuming). run_dir: an existing run folder to resume (its
            config is used). progress: draw a progress bar on stderr when it is a terminal.
        data: the data set to train on, made by the caller (from arrays in memory: ``warprnn.estimators``)
            instead of ``build_dataset(config.data)``; ``config.data`` then only records how it was made.
    """
    if run_dir is not None:
        run_dir = Path(run_dir)
        config = rundir.read_config(run_dir)
        rundir.check_writable(run_dir)
    with distributed.process_group(config.train.device) as (world, device):
        return train_on(config, run_dir, world, device, progress, data)


def train_on(
    config: ExperimentConfig,
    run_dir: Path | None,
    world: distributed.World,
    device: torch.device,
    progress: bool,
    data: SequenceData | None,
) -> RunResult:
    """``train`` in this process of ``world``, on ``device``: the checks, then rank 0 makes (or clears) the
    run folder, every rank builds the model and restores the last checkpoint, and the epochs run."""
    data = build_dataset(config.data) if data is None else data
    if data.task != "forecast" and config.train.autoregressive:
        raise ConfigError(
            f"train.autoregressive: {config.data.name!r} is a {data.task} task, whose inputs are "
            f"never replaced by predictions; set train.autoregressive=false"
        )
    names = metric_names(data, config.warp.head == "gaussian", "val_")
    if config.train.metric not in names:
        raise ConfigError(f"train.metric: {config.train.metric!r} is not computed; choose one of {sorted(names)}")
    model = build_model(config, data, device)
    engine = build_engine(config, model, world, device)
    optimizer, scheduler = build_optimizer(config, model)
    state, resuming = RunState(), run_dir is not None
    if not resuming:
        run_dir = distributed.share(rundir.new_run_dir(config) if world.main else None, world)
    with rundir.hold(run_dir) if world.main else contextlib.nullcontext():
        if world.main:
            if resuming:
                rundir.clear_stale(run_dir)
            else:
                rundir.write_config(run_dir, config)
                rundir.write_identity(run_dir)
                write_card(run_dir, DataCard.of(data))
            rundir.record_command(run_dir, "resume" if resuming else "start")
        distributed.barrier(world)
        if resuming and rundir.checkpoint_path(run_dir, "last").is_file():
            state = restore(run_dir, model, optimizer, scheduler, config.train.metric)
        try:
            return run_epochs(run_dir, config, data, model, optimizer, scheduler, engine, state, progress)
        except KeyboardInterrupt:
            raise TrainingInterrupted(run_dir) from None


@dataclass
class RunState:
    """Where a run stands: what its last checkpoint holds besides the weights and the optimiser.

    Attributes:
        history: the rows of ``metrics.csv`` so far. best: the ``selection_key`` of the best validation
            (None: none yet).
        start: the next epoch. elapsed: seconds of training so far (``train.time_budget``).
        rollbacks: ``train.rollbacks`` used.
        stopped: the budget, early stopping
            or a non-finite loss ended the run (a resumed run then only scores it). status: ``finished``,
            or ``non-finite`` where a NaN or Inf training loss stopped it (``stop_non_finite``).
        stopped_by: what ended it (``RunResult.stopped_by``; None: it goes on).
    """

    history: list[dict] = field(default_factory=list)
    best: tuple[float, float] | None = None
    start: int = 1
    elapsed: float = 0.0
    rollbacks: int = 0
    stopped: bool = False
    status: str = "finished"
    stopped_by: str | None = None


def restore(run_dir: Path, model, optimizer, scheduler, metric: str) -> RunState:
    """Loads the last checkpoint of ``run_dir`` into the model, optimiser and scheduler, and returns where
    the run stands (checkpoints of earlier versions have no ``elapsed`` or ``stopped``, and hold
    the best ``metric`` alone, not its ``selection_key``)."""
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
    best = state["best"]
    return RunState(
        history=state["history"],
        best=selection_key(metric, {metric: best, "val_loss": math.inf}) if isinstance(best, float) else best,
        start=state["epoch"] + 1,
        elapsed=state.get("elapsed", 0.0),
        rollbacks=state.get("rollbacks", 0),
        stopped=state.get("stopped", False),
        status=state.get("status", "finished"),
        stopped_by=state.get("stopped_by"),
    )


def run_epochs(
    run_dir: Path,
    config: ExperimentConfig,
    data: SequenceData,
    model,
    optimizer,
    scheduler,
    engine: Engine,
    state: RunState,
    progress: bool,
) -> RunResult:
    """The epochs from ``state.start`` on (none when the run had stopped), a checkpoint after each, then the
    test metrics and figures. Under ``torchrun``, rank 0 alone validates and writes; the others follow its
    decisions (``distributed.share``)."""
    history, best, elapsed, rollbacks = state.history, state.best, state.elapsed, state.rollbacks
    patience = Patience.of(history, config.train.metric, config.train.min_delta)
    best_state = None  # the weights and optimiser state of the best validation, for train.rollbacks
    saved = elapsed  # the training seconds at the last checkpoint written (``train.checkpoint_every``)
    clock = time.monotonic()
    start = config.train.epochs + 1 if state.stopped else state.start
    stop = state.stopped_by
    t, world, device = config.train, engine.world, engine.device
    size = f"D_theta {model.d_theta}" if config.model == "warp" else f"width {model.width}"
    logger.info("run folder: %s  (%s, %s, %d parameters)", run_dir, config.model, size, count_parameters(model))
    if world.size > 1:
        logger.info("data-parallel over %d processes (%s)", world.size, device.type)
    board = rundir.TensorBoard(run_dir, start) if t.tensorboard and world.main else None
    try:
        for epoch in range(start, t.epochs + 1):
            began = clock  # the end of the last epoch's timing: its writes count in this epoch's seconds
            steps = math.ceil(epoch_length(len(data.train), t.epoch_size) / t.batch_size)
            bar = Progress(steps, f"epoch {epoch}/{t.epochs}", progress and world.main)
            forcing = teacher_forcing_at(t, epoch, elapsed)
            train_loss, rollbacks = train_epoch_with_rollbacks(
                model, data, config, optimizer, scheduler, engine, bar, forcing, epoch, rollbacks, best_state
            )
            if not math.isfinite(train_loss):
                return stop_non_finite(
                    run_dir, config, data, model, device, world, history, epoch, train_loss, rollbacks
                )
            row = {"epoch": epoch, "train_loss": train_loss, "lr": optimizer.param_groups[0]["lr"]}
            if t.teacher_forcing_final is not None:
                row["teacher_forcing"] = forcing
            validate = epoch % t.val_every == 0 or epoch == t.epochs
            out_of_time = False
            if world.main:
                if validate:
                    row.update(evaluate(model, data.val, data, t.loss, t.batch_size, device, t.mode, "val_"))
                out_of_time = budget_spent(t.time_budget, elapsed, time.monotonic() - began)
                if out_of_time and not validate:  # the last epoch is always validated
                    row.update(evaluate(model, data.val, data, t.loss, t.batch_size, device, t.mode, "val_"))
            row, out_of_time = distributed.share((row, out_of_time), world)
            if validate or out_of_time:
                key = selection_key(t.metric, row)
                patience.update(key)
                if is_better(key, best):
                    best = key
                    best_state = Snapshot.take(model, optimizer) if rollbacks < t.rollbacks else None
                    if world.main:
                        rundir.save_checkpoint(
                            rundir.checkpoint_path(run_dir, "best"), {"model": model.state_dict(), "epoch": epoch}
                        )
            clock = time.monotonic()
            seconds = clock - began
            elapsed = distributed.share(elapsed + seconds, world)  # rank 0's clock: the same schedules on every rank
            step_schedule(scheduler, train_loss, elapsed / (60 * t.time_budget) if t.time_budget else None)
            row["time"] = elapsed
            history.append(row)
            flat = t.patience is not None and patience.stale >= t.patience and at_floor(optimizer, scheduler)
            stop = "patience" if flat else "time budget" if out_of_time else "epochs" if epoch == t.epochs else None
            if world.main and (stop or elapsed - saved >= t.checkpoint_every):
                save_epoch(run_dir, model, optimizer, scheduler, history, epoch, best, elapsed, rollbacks, stop)
                saved = elapsed
                if board is not None:
                    board.write(row)
            eta = run_eta(seconds, t.epochs - epoch, elapsed, t.time_budget)
            shown = "  ".join(
                f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "lr", "time") and "orig" not in k
            )
            logger.info("epoch %d/%d  %s  (%.1fs, ETA %.0fs)", epoch, t.epochs, shown, seconds, eta)
            if stop in ("patience", "time budget"):
                logger.info("stopped after epoch %d: %s", epoch, stop_message(stop, patience.stale, t, scheduler))
                break
    finally:
        if board is not None:
            board.close()
    test, figures = finish_main(run_dir, config, data, model, device, history) if world.main else ({}, [])
    test, figures = distributed.share((test, figures), world)
    return RunResult(
        run_dir=run_dir,
        model=config.model,
        parameters=count_parameters(model),
        status=state.status,
        rollbacks=rollbacks,
        test_metrics=test,
        plots=figures,
        stopped_by=stop,
    )


def stop_message(stop: str, stale: int, t: TrainConfig, scheduler) -> str:
    """Why a run stopped early: ``stop`` is ``patience`` (after ``stale`` validations) or ``time budget``."""
    if stop == "time budget":
        return f"time budget of {t.time_budget:g} min"
    margin = f" by {t.min_delta:.0%}" if t.min_delta else ""
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau | StepPlateau)
    floor = " at the floor rates" if plateau else ""
    return f"{stale} validations without a better {t.metric}{margin}{floor}"


def at_floor(optimizer, scheduler) -> bool:
    """Whether the schedule will lower no rate any further, which early stopping waits for: under
    ``plateau`` (and ``plateau-steps``) every rate at its floor (``optim.min_lr``), so that a run stops flat
    at the smallest rate rather than while a lower one could still gain; under the other schedules always."""
    if isinstance(scheduler, StepPlateau):
        return scheduler.at_floor()
    if not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        return True
    return all(
        group["lr"] - max(group["lr"] * scheduler.factor, floor) <= scheduler.eps
        for group, floor in zip(optimizer.param_groups, scheduler.min_lrs)
    )


def step_schedule(scheduler, train_loss: float, spent: float | None) -> None:
    """Advances the learning-rate ``scheduler`` (None: none) after an epoch of mean loss ``train_loss``:
    ``plateau`` watches the loss, the budget's cosine follows ``spent`` (the fraction of the time budget);
    ``plateau-steps`` is left as it is (``train_epoch`` steps it at every optimiser step)."""
    if isinstance(scheduler, StepPlateau):
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(train_loss)
    elif isinstance(scheduler, BudgetCosine):
        scheduler.step(spent)
    elif scheduler is not None:
        scheduler.step()


def save_epoch(run_dir: Path, model, optimizer, scheduler, history, epoch, best, elapsed, rollbacks, stop) -> None:
    """Writes ``checkpoints/last.pt`` and ``metrics.csv`` after an epoch; ``stop``: what ended the run
    (``patience``, ``time budget``, ``epochs``; None: it goes on)."""
    rundir.save_checkpoint(
        rundir.checkpoint_path(run_dir, "last"),
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch,
            "best": best,
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "history": history,
            "elapsed": elapsed,
            "rollbacks": rollbacks,
            "stopped": stop in ("patience", "time budget"),  # resumed, it only scores (not so at the epochs' end)
            "stopped_by": stop,
        },
    )
    rundir.write_metrics(run_dir, history)


def finish_main(run_dir: Path, config: ExperimentConfig, data: SequenceData, model, device, history):
    """``runs.finish`` (test metrics and figures), after making sure there is a ``best.pt``."""
    t = config.train
    if not rundir.checkpoint_path(run_dir, "best").is_file():
        rundir.save_checkpoint(
            rundir.checkpoint_path(run_dir, "best"), {"model": model.state_dict(), "epoch": t.epochs}
        )
        logger.warning(
            "no validation %s was finite (the forecasts diverged); best.pt holds the last epoch's "
            "weights and the test metrics below are theirs",
            t.metric,
        )
    return finish(run_dir, config, data, model, device, history)


def stop_non_finite(
    run_dir: Path, config: ExperimentConfig, data: SequenceData, model, device, world, history, epoch, loss, rollbacks
) -> RunResult:
    """Stops a run whose training loss became NaN or Inf in ``epoch``. Its last checkpoint (the last good
    epoch's) is marked stopped, so that resuming it only scores it; the best checkpoint, where a validation
    wrote one before, is scored and drawn as a finished run's is (no test metrics without one)."""
    last, best = rundir.checkpoint_path(run_dir, "last"), rundir.checkpoint_path(run_dir, "best")
    kept = f"the last good checkpoint is {last}" if last.is_file() else "no checkpoint was written before it"
    spent = f" after {rollbacks} rollbacks (train.rollbacks)" if rollbacks else ""
    logger.warning("stopped: the training loss became %s in epoch %d%s; %s", loss, epoch, spent, kept)
    test, figures = {}, []
    if world.main:
        if last.is_file():
            state = rundir.load_checkpoint(last)
            rundir.save_checkpoint(last, state | {"stopped": True, "status": "non-finite"})
        if best.is_file():
            logger.warning(
                "the test metrics below are those of the best checkpoint, validated before the loss became %s", loss
            )
            test, figures = finish(run_dir, config, data, model, device, history)
    test, figures = distributed.share((test, figures), world)
    return RunResult(
        run_dir=run_dir,
        model=config.model,
        parameters=count_parameters(model),
        status="non-finite",
        rollbacks=rollbacks,
        test_metrics=test,
        plots=figures,
    )
