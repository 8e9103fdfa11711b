"""What an experiment's configuration builds: the device, the model sized for its data, the optimiser."""

from __future__ import annotations

import dataclasses
import logging
import math
from functools import partial

import torch

from ..baselines import build_model as build_named_model
from ..checks import check_memory
from ..config import WarpConfig
from ..data import DataCard, SequenceData
from ..errors import ConfigError, TooLargeError
from ..model import build_root
from ..transition import transition_size
from .config import ExperimentConfig
from .optimizers import AdaBelief, StepPlateau

logger = logging.getLogger(__name__)


def resolve_device(name: str, local_rank: int | None = None) -> torch.device:
    """The device ``train.device`` names.

    ``auto`` is CUDA when torch sees it, else the CPU (an Apple GPU is used only when named: ``mps``).
    ``local_rank`` (a process of ``torchrun``, None otherwise) makes ``cuda`` the GPU ``cuda:local_rank``.

    Raises:
        ConfigError: the device named is not there.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name[5:]) if ":" in name else (local_rank or 0)
        if count == 0:
            raise ConfigError(f"train.device: {name!r} was asked for but torch sees no CUDA device")
        if local_rank is not None and ":" in name:
            raise ConfigError(
                f"train.device: {name!r} under torchrun; use 'cuda' (each process takes its local rank's GPU)"
            )
        if index >= count:
            raise ConfigError(f"train.device: GPU {index} was asked for but torch sees {count} CUDA device(s)")
        return torch.device("cuda", index)
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("train.device: 'mps' was asked for but torch sees no Apple GPU (MPS)")
    return torch.device(name)


def loading_device(name: str) -> torch.device:
    """The device to load a trained run on: ``train.device`` when it is here, else ``auto`` (a run trained
    on a GPU is evaluated on a machine without one), with a warning."""
    try:
        return resolve_device(name)
    except ConfigError as error:
        device = resolve_device("auto")
        logger.warning("%s; loading the run on %s instead", error, device)
        return device


def build_model(config: ExperimentConfig, data: SequenceData | DataCard, device) -> torch.nn.Module:
    """The model of ``config`` (WARP or a parameter-matched baseline), sized for ``data`` (or its card: the
    model is the same), normalising by its context (``warp.instance_norm``) and, forecasting, reading time
    on the scale of its training sequences (``warp.time_scale``), initialised from ``train.seed``."""
    forecasting = data.task == "forecast"
    warp = dataclasses.replace(
        config.warp,
        in_channels=data.channels,
        num_classes=data.num_classes,
        key_channels=data.key_channels,
        covariate_channels=data.covariate_channels,
        norm_steps=config.warp.norm_steps or (None if config.warp.instance_norm == "none" else data.context),
        time_scale=config.warp.time_scale or (max(data.seq_len - 1, 1) if forecasting else None),
    )
    check_training_memory(warp, device)
    if isinstance(data, SequenceData):  # to be trained (a card: a trained run, loaded)
        check_training_total(config, warp, device, min(config.train.batch_size, len(data.train)), data.seq_len)
    torch.manual_seed(config.train.seed)
    return build_named_model(config.model, warp, device=device)


TRAINING_COPIES = 4
"""What training holds per parameter: the weight, its gradient and the optimiser's two moments (Adam's,
AdaBelief's)."""


def check_training_memory(warp: WarpConfig, device) -> None:
    """Refuses, in one line and before any of it is allocated, a model whose training would not fit: WARP's
    A and B (every model of a comparison is matched to that count) times ``TRAINING_COPIES``, in float32."""
    D = build_root(warp).num_params
    check_memory(
        f"training with D_theta = {D} (A and B, their gradients and the optimiser's two moments)",
        TRAINING_COPIES * 4 * (transition_size(warp.transition, D) + D * warp.drive_channels),
        device,
        "choose a smaller root (warp.root_width, warp.root_depth) or fewer channels",
    )


ACTIVATION_COPIES = 2
"""What training holds per state entry of a batch: WARP's states theta_t, (batch, steps, D_theta) in float32,
and their gradients."""


def check_training_total(config: ExperimentConfig, warp: WarpConfig, device, batch: int, steps: int) -> None:
    """Refuses, in one line and before the model is allocated, a run whose parameters (counted on the meta
    device: every module, not only A and B), their training copies (``TRAINING_COPIES``) and WARP's states
    over a batch of ``batch`` sequences of ``steps`` steps (``ACTIVATION_COPIES``) would not fit."""
    parameters = sum(p.numel() for p in build_named_model(config.model, warp, device="meta").parameters())
    states = batch * steps * build_root(warp).num_params if config.model == "warp" else 0
    check_memory(
        f"training {parameters:,} parameters and {states:,} states ({batch} sequences of {steps} steps), "
        "with their gradients and moments,",
        4 * (TRAINING_COPIES * parameters + ACTIVATION_COPIES * states),
        device,
        "choose a smaller model (warp.*) or train.batch_size",
    )


LARGEST_TENSOR = 2**62
"""Entries beyond which torch cannot size a tensor, even on the meta device (its byte count overflows)."""


def check_tensor_sizes(warp: WarpConfig) -> None:
    """Refuses, in one line, a WARP whose transition A or input matrix B has more entries than torch can size
    (``describe root_width=1e8`` ended in an internal error)."""
    D = build_root(warp).num_params
    entries = max(transition_size(warp.transition, D), D * warp.drive_channels)
    if entries >= LARGEST_TENSOR:
        raise TooLargeError(
            f"warp: D_theta = {D:,} gives A or B {entries:.2e} entries, more than torch can size (2**62); "
            "choose a smaller root (warp.root_width, warp.root_depth, warp.positional_encoding) or fewer channels"
        )


def cosine(fraction: float, floor: float) -> float:
    """The cosine schedule's factor on the learning rate after ``fraction`` of training: from 1 down to
    ``floor`` (at ``fraction`` >= 1)."""
    return floor + (1 - floor) * (1 + math.cos(math.pi * min(fraction, 1.0))) / 2


class BudgetCosine:
    """``optim.scheduler=cosine`` under ``train.time_budget``: the decay follows the fraction of the budget
    spent (``step(fraction)`` after each epoch), not the epochs, so that it reaches ``min_lr`` as the budget
    runs out however many epochs that is."""

    def __init__(self, optimizer: torch.optim.Optimizer, floor: float):
        self.optimizer, self.floor = optimizer, floor
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]

    def step(self, fraction: float) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * cosine(fraction, self.floor)

    def state_dict(self) -> dict:
        return {"base": self.base_lrs}

    def load_state_dict(self, state: dict) -> None:
        self.base_lrs = state["base"]


def scale_learning_rates(optimizer: torch.optim.Optimizer, scheduler, factor: float) -> None:
    """Multiplies every group's learning rate by ``factor`` for the rest of the run: its current rate and the
    base rates the schedule (``cosine``, ``plateau-steps``) computes it from (``train.rollbacks``). ``plateau``
    and no schedule keep the current rate, so scaling it is enough."""
    for group in optimizer.param_groups:
        group["lr"] *= factor
    if hasattr(scheduler, "base_lrs"):
        scheduler.base_lrs = [lr * factor for lr in scheduler.base_lrs]


def transition_lr(config: ExperimentConfig, model: torch.nn.Module) -> float:
    """The learning rate of WARP's transition A (``optim.lr_A``): ``scaled`` is ``lr / D_theta`` for a dense
    A and ``lr`` for a structured one; None is ``lr``."""
    o = config.optim
    if o.lr_A is None:
        return o.lr
    if o.lr_A == "scaled":
        return o.lr / model.d_theta if config.warp.transition == "dense" else o.lr
    return o.lr_A


def build_optimizer(config: ExperimentConfig, model: torch.nn.Module):
    """The optimiser and learning-rate scheduler of ``config.optim`` (the scheduler may be None).

    ``optim.clip_value`` is not applied here but by the training loop, to every optimiser's gradients before
    ``grad_clip`` and the step (``optimizers.clip_values``). Under ``plateau-steps`` the scheduler is a
    ``StepPlateau``, which the loop steps before every optimiser step with that step's loss."""
    o = config.optim
    if o.name == "adabelief":
        cls = AdaBelief  # no weight decay (OptimConfig refuses one)
    else:
        cls = partial(torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam, weight_decay=o.weight_decay)

    def is_A(name: str) -> bool:  # WARP's A: free, parametrised or structured; baselines have none
        return name in ("A", "parametrizations.A.original") or name.startswith("transition.")

    transition = [p for name, p in model.named_parameters() if is_A(name)]
    rest = [p for name, p in model.named_parameters() if not is_A(name)]
    groups = [{"params": rest}] + ([{"params": transition, "lr": transition_lr(config, model)}] if transition else [])
    optimizer = cls(groups, lr=o.lr)
    floor = o.min_lr / o.lr  # the schedules scale every group's learning rate by the same factor
    if o.scheduler == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            factor=o.plateau_factor,
            patience=o.plateau_patience,
            min_lr=[group["lr"] * floor for group in optimizer.param_groups],
        )
    elif o.scheduler == "plateau-steps":  # optax's reduce_on_plateau; the floor min_lr / lr is its min_scale
        scheduler = StepPlateau(
            optimizer,
            factor=o.plateau_factor,
            patience=o.plateau_patience,
            rtol=o.plateau_rtol,
            cooldown=o.plateau_cooldown,
            accumulation_size=o.plateau_accumulation,
            min_scale=floor,
        )
    elif o.scheduler == "cosine" and config.train.time_budget is not None:
        scheduler = BudgetCosine(optimizer, floor)
    elif o.scheduler == "cosine":
        epochs = config.train.epochs
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: cosine(epoch / epochs, floor))
    else:
        scheduler = None
    return optimizer, scheduler
