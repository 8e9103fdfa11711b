"""The training section of an experiment's configuration, and the experiment that composes every section.

``ExperimentConfig`` = ``model`` + ``warp`` (``warprnn.config.WarpConfig``) + ``data``
(``warprnn.data.config.DataConfig``) + ``optim`` (``OptimConfig``) + ``train`` (``TrainConfig``). YAML
files and ``SECTION.KEY=VALUE`` overrides (``load_experiment``) are a serialisation of it. The shipped
experiments are ``configs/NAME.yaml`` in the package, loadable by name.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

from ..baselines import ModelName
from ..config import Mode, WarpConfig, check_fields, from_dict, positive_int, unread_options
from ..data.config import DataConfig
from ..errors import ConfigError

CONFIG_DIR = Path(__file__).parents[1] / "configs"  # the shipped experiments, ``NAME.yaml``

logger = logging.getLogger(__name__)


@dataclass
class OptimConfig:
    """The optimiser and its learning-rate schedule.

    The paper's authors (JAX) train with ``optax.chain(optax.clip(gradients_lim), optax.adabelief(lr),
    optax.contrib.reduce_on_plateau(factor, patience, rtol, 0, cooldown, accum_size, min_scale))``, stepped
    on every step's training loss. Here that is ``name=adabelief``, ``clip_value`` = gradients_lim,
    ``scheduler=plateau-steps`` with ``plateau_factor`` = factor, ``plateau_patience`` = patience,
    ``plateau_cooldown`` = cooldown, ``plateau_rtol`` = rtol, ``plateau_accumulation`` = accum_size and
    ``min_lr`` = min_scale x ``lr``, and ``grad_clip=0`` (they clip no norm); ``lr_A=null`` for their single
    rate (``warprnn.training.optimizers`` follows optax 0.2.3 to 1e-12).

    Attributes:
        name: ``adam``, ``adamw`` or ``adabelief`` (``optax.adabelief``'s algebra and defaults,
            eps = eps_root = 1e-16, ``warprnn.training.optimizers.AdaBelief``; no weight decay).
        lr: initial learning rate.
        lr_A: initial learning rate of WARP's transition A. Adam moves each of a dense A's D_theta^2
            entries by about its learning rate per step, so at ``lr`` A's spectral norm can grow by up to
            ``lr D_theta`` per step and its powers A^t overflow on long sequences (at T = 784 and lr 1e-3
            within the first epoch). ``scaled`` (the default): ``lr / D_theta`` for a dense A, so that one
            step moves A's spectral norm by at most about ``lr``, and ``lr`` for a structured A
            (``warp.transition``, whose entries do not all add up); None: ``lr``, the paper's single rate;
            a number: that rate; 0 keeps A fixed (a root whose state has a fixed meaning,
            ``msd-moments``). Schedules scale A's rate like ``lr``. Against the alternative of a bounded A
            (``warp.transition_norm=spectral``) see the guide's page on A (``docs/guide/transition.md``).
        weight_decay: decoupled for ``adamw``, L2 for ``adam``; must be 0 for ``adabelief``.
        grad_clip: maximum global gradient norm (0: no clipping).
        clip_value: element-wise gradient clipping, every optimiser: each gradient entry is clamped to
            [-clip_value, clip_value] before ``grad_clip`` and the optimiser (``optax.clip``, the authors'
            ``gradients_lim``; None: no clipping). At the authors' 1e-7, far below any gradient of note,
            every entry is +-1e-7 and every update is AdaBelief of the gradients' signs.
        scheduler: ``none``; ``plateau`` (multiply by ``plateau_factor`` when the training loss has
            not improved for ``plateau_patience`` epochs); ``plateau-steps`` (the authors' schedule,
            ``optax.contrib.reduce_on_plateau``, per optimiser step: the whole batch's training losses are
            averaged over ``plateau_accumulation`` steps, and when ``plateau_patience`` such means in a row
            have not been below ``1 - plateau_rtol`` times the best, every rate is multiplied by
            ``plateau_factor``, then ``plateau_cooldown`` means are not counted; not below ``min_lr``);
            ``cosine`` (cosine decay to ``min_lr`` over all epochs or, under ``train.time_budget``, over the
            budget's minutes).
        plateau_factor, plateau_patience: see ``scheduler`` (the authors' factor and patience, the
            latter counted in means of ``plateau_accumulation`` steps under ``plateau-steps``).
        plateau_cooldown, plateau_rtol, plateau_accumulation: ``plateau-steps`` only: the authors'
            cooldown, rtol (in (0, 1]; their atol is 0) and accum_size; see ``scheduler``.
        min_lr: the floor of the schedules (for ``lr``; A's floor is ``min_lr lr_A / lr``); under
            ``plateau-steps`` the authors' min_scale is ``min_lr / lr`` (``min_lr`` at most ``lr``).
        warmup_steps: the first this many optimiser steps of the run ramp every group's learning rate
            linearly from ``1 / warmup_steps`` of its value to all of it, on top of the schedule (0: no warmup).
    """

    READ_WHEN: ClassVar[dict[str, tuple[str, tuple]]] = {  # config.unread_options
        "plateau_factor": ("scheduler", ("plateau", "plateau-steps")),
        "plateau_patience": ("scheduler", ("plateau", "plateau-steps")),
        "plateau_cooldown": ("scheduler", ("plateau-steps",)),
        "plateau_rtol": ("scheduler", ("plateau-steps",)),
        "plateau_accumulation": ("scheduler", ("plateau-steps",)),
    }

    name: Literal["adam", "adamw", "adabelief"] = "adam"
    lr: float = 1e-3
    lr_A: float | Literal["scaled"] | None = "scaled"
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    clip_value: float | None = None
    scheduler: Literal["none", "plateau", "cosine", "plateau-steps"] = "none"
    plateau_factor: float = 0.5
    plateau_patience: int = 10
    plateau_cooldown: int = 0
    plateau_rtol: float = 1e-4
    plateau_accumulation: int = 1
    min_lr: float = 1e-6
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        check_fields(self, "optim")
        positive_int("optim.warmup_steps", self.warmup_steps, minimum=0)
        if not self.lr > 0:
            raise ConfigError(f"optim.lr: expected a positive number, got {self.lr!r}")
        if isinstance(self.lr_A, float | int) and not self.lr_A >= 0:
            raise ConfigError(f"optim.lr_A: expected a number >= 0, 'scaled' or null, got {self.lr_A!r}")
        if not 0 < self.plateau_factor < 1:
            raise ConfigError(f"optim.plateau_factor: expected a number in (0, 1), got {self.plateau_factor!r}")
        if self.grad_clip < 0 or self.weight_decay < 0 or self.min_lr < 0:
            raise ConfigError("optim.grad_clip, optim.weight_decay and optim.min_lr must be >= 0")
        positive_int("optim.plateau_patience", self.plateau_patience)
        positive_int("optim.plateau_cooldown", self.plateau_cooldown, minimum=0)
        positive_int("optim.plateau_accumulation", self.plateau_accumulation)
        if not 0 < self.plateau_rtol <= 1:
            raise ConfigError(f"optim.plateau_rtol: expected a number in (0, 1], got {self.plateau_rtol!r}")
        if self.clip_value is not None and not self.clip_value > 0:
            raise ConfigError(f"optim.clip_value: expected a positive number or null, got {self.clip_value!r}")
        if self.name == "adabelief" and self.weight_decay != 0:
            raise ConfigError(
                f"optim.weight_decay: adabelief has no weight decay (neither has optax's), got {self.weight_decay!r}; "
                "set it to 0, or use adamw"
            )
        if self.scheduler == "plateau-steps" and self.min_lr > self.lr:
            raise ConfigError(
                f"optim.min_lr: under plateau-steps min_lr / lr (the authors' min_scale) must be <= 1, got "
                f"min_lr {self.min_lr!r} above lr {self.lr!r}"
            )


@dataclass
class TrainConfig:
    """The training loop.

    Attributes:
        epochs: passes over the training split (an upper bound when ``time_budget`` or ``patience``
            stops the run earlier; the ``cosine`` schedule decays over all of them).
        time_budget: minutes of training (validation included) after which the run stops at an epoch
            boundary: it stops after an epoch when one more epoch as long as that one would pass the
            budget, validates the last epoch and scores the best checkpoint. The time spent is kept in the
            checkpoint, so a resumed run continues the same budget (None: no budget).
        patience: early stopping: stop after this many validations in a row without a better ``metric``
            (None: never): the validation curve has been flat that long. Under ``optim.scheduler=plateau``
            (or ``plateau-steps``) it also waits until the schedule has lowered every rate to its floor
            (``optim.min_lr``).
        min_delta: what counts as better for ``patience``: a ``metric`` better than at the validation that
            last restarted the count by at least this fraction of it (0.05: 5% lower MSE), so that a run
            whose curve creeps down by noise-sized steps stops. The best checkpoint is the best validation,
            whatever the margin (0: any better value restarts the count).
        rollbacks: what a NaN or Inf training loss does: with 0 it stops the run (its best checkpoint is
            scored); otherwise the weights and optimiser state go back to those of the best validation so far
            (kept in memory; before the first validation, or after a resume, to where the epoch started), every learning rate is multiplied by ``rollback_factor`` for the rest of the run, and the
            epoch trains again, at most this many times in a run. The failed attempts count in
            ``time_budget``; the rates after a rollback show in ``metrics.csv``'s ``lr``.
        rollback_factor: see ``rollbacks`` (between 0 and 1).
        batch_size: sequences per step.
        epoch_size: sequences per epoch: each epoch draws this many of the training split without
            replacement, a fresh draw every epoch, so that a large split is validated (and checkpointed,
            and timed against ``time_budget``) more often than once a pass (None: the whole split).
        loss: ``mse``, ``nll`` (Gaussian negative log-likelihood; needs head ``gaussian``) or ``ce``
            (cross-entropy; needs head ``classification``).
        autoregressive: feed the model's own predictions during training, each step replaced by the
            truth with probability ``teacher_forcing`` (False: teacher-forced, all truth).
        teacher_forcing: p of ``autoregressive`` training (of its first epoch, with ``teacher_forcing_final``).
        teacher_forcing_final: scheduled sampling: p moves linearly from ``teacher_forcing`` at the start to
            this at the end of the run (of its ``time_budget`` when there is one, else of its ``epochs``), so
            that training ends in the regime of the forecasts, fed its own predictions; it is logged per epoch
            in ``metrics.csv`` (None: p stays ``teacher_forcing``).
        feed_context: ``autoregressive`` training feeds the truth at every step of the data's context L
            (``data.context``) and draws teacher forcing only after it, as forecasts are made; False: only
            the first step is always fed (the paper's).
        loss_steps: compute the loss on this many random steps of each batch (None: all steps).
        val_every: validate every this many epochs (and after the last).
        checkpoint_every: write ``checkpoints/last.pt`` and ``metrics.csv`` after an epoch only when this many
            seconds of training have passed since the last write, and always after the last epoch (0: after
            every epoch). For runs of thousands of epochs of milliseconds, whose per-epoch writes would
            take longer than the training; a killed run loses at most this much work.
        metric: the validation metric that picks the best checkpoint (e.g. ``val_mse``,
            ``val_accuracy``); accuracy and F1 are maximised, everything else minimised. Ties go to the lower
            validation loss (an accuracy over a few validation cases ties often; the first checkpoint to
            reach it is then rarely the best trained).
        seed: seeds initialisation, shuffling and teacher-forcing draws; CPU runs bounded by ``epochs``
            repeat exactly (under ``time_budget`` the schedule follows the clock).
        device: ``auto`` (CUDA when torch sees it, else the CPU; an Apple GPU only when named), ``cpu``,
            ``cuda``, ``cuda:N`` or ``mps``. Under ``torchrun`` each process takes the GPU of its local rank
            (``cuda:LOCAL_RANK``), and ``cuda:N`` is not allowed. Checkpoints load on any device.
        precision: ``fp32``; ``bf16`` or ``fp16``: the training forward pass and loss run under
            ``torch.autocast`` in that type (weights, optimiser and evaluation stay fp32); ``fp16`` needs
            CUDA (its gradients are scaled by ``torch.amp.GradScaler``). The recurrences (WARP's scan, rollouts
            and per-sample root; GRU and LSTM cells) stay fp32: in bf16, WARP's states drift by 4% over 64 steps.
        compile: train through ``torch.compile(model)`` (the first steps compile; validation and the saved
            weights use the model itself). See ``docs/guide/distributed.md`` for where it helps.
        mode: how WARP's recurrence runs when teacher-forced: ``auto`` (the faster of ``scan`` and
            ``conv`` for the batch's size, ``warprnn.recurrence.fastest``), ``scan``, ``conv`` or ``reference``
            (see ``warprnn.recurrence``); all give the same result. Autoregressive passes always scan.
        out_dir: parent directory of run folders.
        name: run folder name prefix (None: the data set's name): a plain name, not a path, so that the
            run folder stays inside ``out_dir``.
        plots: draw the run's figures (``plots/``) once trained (False: none; the estimators of
            ``warprnn.estimators`` draw none in their temporary run folders).
        tensorboard: also write the per-epoch metrics of ``metrics.csv`` as TensorBoard events in the
            run folder's ``tensorboard/`` (needs the ``tensorboard`` package: ``pip install
            "warprnn[tensorboard]"``).
    """

    READ_WHEN: ClassVar[dict[str, tuple[str, tuple]]] = {  # config.unread_options
        "teacher_forcing": ("autoregressive", (True,)),
        "teacher_forcing_final": ("autoregressive", (True,)),
        "feed_context": ("autoregressive", (True,)),
    }

    epochs: int = 20
    time_budget: float | None = None
    patience: int | None = None
    min_delta: float = 0.0
    rollbacks: int = 0
    rollback_factor: float = 0.5
    batch_size: int = 64
    epoch_size: int | None = None
    loss: Literal["mse", "nll", "ce"] = "mse"
    autoregressive: bool = False
    teacher_forcing: float = 0.5
    teacher_forcing_final: float | None = None
    feed_context: bool = False
    loss_steps: int | None = None
    val_every: int = 1
    checkpoint_every: float = 0.0
    metric: str = "val_mse"
    seed: int = 0
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    compile: bool = False
    mode: Mode = "auto"
    out_dir: str = "runs"
    name: str | None = None
    plots: bool = True
    tensorboard: bool = False

    def __post_init__(self) -> None:
        positive_int("train.epochs", self.epochs)
        positive_int("train.batch_size", self.batch_size)
        if self.epoch_size is not None:
            positive_int("train.epoch_size", self.epoch_size)
        positive_int("train.val_every", self.val_every)
        check_fields(self, "train")
        if self.loss_steps is not None:
            positive_int("train.loss_steps", self.loss_steps)
        if self.patience is not None:
            positive_int("train.patience", self.patience)
        if not 0 <= self.min_delta < 1:
            raise ConfigError(f"train.min_delta: expected a fraction in [0, 1), got {self.min_delta!r}")
        positive_int("train.rollbacks", self.rollbacks, minimum=0)
        if not 0 < self.rollback_factor < 1:
            raise ConfigError(f"train.rollback_factor: expected a number between 0 and 1, got {self.rollback_factor!r}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ConfigError(
                f"train.time_budget: expected a positive number of minutes or null, got {self.time_budget!r}"
            )
        if not self.checkpoint_every >= 0:
            raise ConfigError(f"train.checkpoint_every: expected seconds >= 0, got {self.checkpoint_every!r}")
        if not 0 <= self.teacher_forcing <= 1:
            raise ConfigError(f"train.teacher_forcing: expected a probability in [0, 1], got {self.teacher_forcing!r}")
        if self.feed_context and not self.autoregressive:
            raise ConfigError("train.feed_context: only for autoregressive training (train.autoregressive=true)")
        if self.teacher_forcing_final is not None:
            if not 0 <= self.teacher_forcing_final <= 1:
                raise ConfigError(
                    f"train.teacher_forcing_final: expected a probability in [0, 1] or null, "
                    f"got {self.teacher_forcing_final!r}"
                )
            if not self.autoregressive:
                raise ConfigError(
                    "train.teacher_forcing_final: schedules autoregressive training; set train.autoregressive=true"
                )
        if self.name is not None and not is_plain_name(self.name):
            raise ConfigError(
                f"train.name: expected a plain folder name (no '/', '\\', '..' or leading '.'), got {self.name!r}"
            )
        if not is_device_name(self.device):
            raise ConfigError(
                f"train.device: expected one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps', got {self.device!r}"
            )
        if not self.out_dir:
            raise ConfigError("train.out_dir: expected a folder, got an empty string")


def is_device_name(name: str) -> bool:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` (N a GPU index) or ``mps``."""
    return name in ("auto", "cpu", "cuda", "mps") or bool(re.fullmatch(r"cuda:[0-9]+", name))


def is_plain_name(name: str) -> bool:
    """A file name that stays in its folder: no separators, not hidden, not ``.`` or ``..``, no NUL."""
    return bool(name) and not name.startswith(".") and not any(c in name for c in "/\\\0")


@dataclass
class ExperimentConfig:
    """One experiment: a model, a data set, an optimiser and a training loop.

    Attributes:
        model: which model to train: ``warp``, or a baseline (``gru``, ``lstm``, ``transformer``,
            ``s4d``; see ``warprnn.baselines``) with WARP's heads and a width chosen so that its
            parameter count matches the WARP model of ``warp``.
        warp: the WARP architecture; ``in_channels`` and ``num_classes`` are set from the data. Its
            head options (``head``, ``final_activation``, ``std_floor``, ``ar_feed``...) apply to
            every model.
        data, optim, train: see ``DataConfig``, ``OptimConfig``, ``TrainConfig``.
    """

    model: ModelName = "warp"
    warp: WarpConfig = field(default_factory=WarpConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.train.loss == "nll" and self.warp.head != "gaussian":
            raise ConfigError(f"train.loss: 'nll' needs warp.head='gaussian', got {self.warp.head!r}")
        if (self.train.loss == "ce") != (self.warp.head == "classification"):
            raise ConfigError(
                f"train.loss: 'ce' goes with warp.head='classification' and only with it, "
                f"got loss {self.train.loss!r} and head {self.warp.head!r}"
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ExperimentConfig:
        """Builds an experiment from nested mappings, naming any unknown key."""
        return from_dict(cls, values)

    def to_dict(self) -> dict:
        """Nested plain dictionaries, ready for YAML."""
        return dataclasses.asdict(self)


SECTIONS = {f.name for f in dataclasses.fields(ExperimentConfig) if f.name != "model"}


def apply_overrides(values: dict, overrides: list[str]) -> dict:
    """Applies ``section.key=value`` (or ``model=value``) words to nested ``values``, in place.

    Values are parsed as YAML scalars (``3``, ``1e-3``, ``true``, ``null``, ``tanh``).
    """
    for word in overrides:
        key, sep, raw = word.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {word!r}: expected key=value, e.g. train.epochs=5")
        path = key.split(".")
        if len(path) > 2 or (len(path) == 2 and path[0] not in SECTIONS) or (len(path) == 1 and path[0] in SECTIONS):
            raise ConfigError(
                f"override {word!r}: expected 'model=...' or 'SECTION.KEY=...' with SECTION one of {sorted(SECTIONS)}"
            )
        target = values
        if len(path) == 2:
            if values.get(path[0]) is None:
                values[path[0]] = {}
            target = values[path[0]]
            if not isinstance(target, dict):
                raise ConfigError(f"override {word!r}: section {path[0]!r} is {target!r}, not a mapping of options")
        try:
            target[path[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError as error:
            raise ConfigError(f"override {word!r}: the value is not a YAML scalar ({yaml_problem(error)})") from None
    return values


def yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and where."""
    mark = getattr(error, "problem_mark", None)
    what = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{what} at line {mark.line + 1}, column {mark.column + 1}" if mark else what


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with a repeated key (a repeated section too), naming it and
    its two lines, instead of keeping the last one silently."""

    def construct_mapping(self, node, deep=False):
        """The mapping of ``node``; raises ``ConfigError`` on a repeated key."""
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice (first on line {seen[key]})", key_node.start_mark
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> dict:
    """The mapping in YAML file ``path`` (empty: ``{}``).

    Raises:
        ConfigError: naming the file, when it is not UTF-8 text, not valid YAML, or not a mapping.
    """
    try:
        values = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not a UTF-8 text file (byte {error.object[error.start]:#04x} at {error.start})"
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({yaml_problem(error)})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(
            f"{path}: expected a mapping of sections (model, warp, data, optim, train), got {values!r:.60}"
        )
    return values


def load_experiment(source: str | Path | None, overrides: list[str] = ()) -> ExperimentConfig:
    """Reads an experiment from a YAML file or a shipped config's name (the defaults when None) and
    applies ``SECTION.KEY=VALUE`` overrides; an option that the others leave unread is refused
    (``check_read``)."""
    values = {} if source is None else read_yaml(config_path(source))
    experiment = ExperimentConfig.from_dict(apply_overrides(values, list(overrides)))
    check_read(experiment, {word.split("=", 1)[0].strip() for word in overrides})
    return experiment


def check_read(experiment: ExperimentConfig, overridden: set[str]) -> None:
    """Refuses an option that the experiment's other options leave unread (``config.unread_options``; the
    data options are checked against their data set when it is built), unless it comes from the file and
    the option that decides was changed on the command line (``train msd-small train.autoregressive=false``
    leaves the file's ``teacher_forcing`` unread): that one is a warning."""
    for section in ("warp", "optim", "train"):
        for option, decider, message in unread_options(getattr(experiment, section), section):
            if decider in overridden and option not in overridden:
                logger.warning("%s; it is ignored", message)
            else:
                raise ConfigError(message)


def config_path(name: str | Path) -> Path:
    """A config file, or the shipped config of that name (``configs/NAME.yaml``)."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"config file {str(name)!r} does not exist")
        return path
    shipped = CONFIG_DIR / f"{name}.yaml"
    if not shipped.is_file():
        raise ConfigError(f"unknown experiment {str(name)!r}: not a file and not a shipped config {shipped_names()}")
    return shipped


def shipped_names() -> list[str]:
    """The names of the shipped experiments."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
