"""Typed configuration: the model (``WarpConfig``) and an experiment (``ExperimentConfig``).

Every option is documented once, here. YAML files and command-line overrides are only a serialisation
of these dataclasses: unknown keys and bad values raise ``ValueError`` naming the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

CONFIG_DIR = Path(__file__).parent / "configs"  # the shipped experiments, ``NAME.yaml``
ACTIVATIONS = ("relu", "tanh", "swish", "softplus", "sin", "identity")
FINAL_ACTIVATIONS = ("none", "tanh", "clip")
HEADS = ("point", "gaussian", "classification")
ROOTS = ("mlp", "sine", "msd", "msd-moments")
THETA0 = ("learned", "hypernet")
AR_FEEDS = ("mean", "sample")


def _one_of(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name}: expected one of {list(allowed)}, got {value!r}")


def _positive_int(name: str, value: Any, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")


@dataclass
class WarpConfig:
    """Architecture of one WARP model (paper Sec. 3).

    Attributes:
        in_channels: C, the number of channels of the input sequence x.
        head: what the root network's output means. ``point``: the next value (mean only);
            ``gaussian``: mean and softplus standard deviation of the next value (for NLL);
            ``classification``: class logits, read at the last valid step.
        num_classes: number of classes (``classification`` head only; the training harness sets it from
            the data).
        root: the root network whose parameters are the state theta. ``mlp``: a small MLP;
            ``sine``: WARP-Phys phase root ``sin(2 pi f tau + phase)``; ``msd``: WARP-Phys
            mass-spring-damper root with theta = (log m, log k, log c, x0, v0); ``msd-moments``: WARP-Phys
            mass-spring-damper root that identifies the oscillator from trajectory moments held in theta
            and steps (x, v) forward (two channels, ``time_as_channel``, a linear hypernetwork).
        root_width: width of each hidden layer of the MLP root.
        root_depth: number of hidden layers of the MLP root (0 makes it affine).
        root_activation: activation of the MLP root's hidden layers, one of ``ACTIVATIONS``.
        final_activation: applied to the predicted mean: ``none``, ``tanh`` or ``clip`` (to +-final_clip).
        final_clip: bound c of the ``clip`` final activation.
        positional_encoding: number of sinusoidal frequencies of the step index added to the root
            input (0: the root sees tau alone).
        input_prev_obs: also give the root the latest fed observation x_t.
        key_channels: in-context learning: the last ``key_channels`` input channels hold a key that the
            root reads in place of tau (root_{theta_t}(key_t)); neither phi nor B sees them, so theta is
            driven by the other channels alone (0: the root reads tau; the training harness sets it
            from the data, see the ``icl`` data set). MLP root only.
        theta0: how theta_0 is made: ``learned`` vector, or ``hypernet`` phi(x_0).
        hypernet_depth: hidden layers of the hypernetwork (0, 1 or 2).
        hypernet_width: width of each hidden layer of the hypernetwork (None: widths stepping evenly
            from C to D_theta, which leaves WARP-Phys roots, whose D_theta is tiny, a tiny hypernetwork).
        hypernet_activation: activation of the hypernetwork's hidden layers.
        time_as_channel: append tau to x before differencing, so that B also sees the time step.
        std_floor: lower bound added to the softplus standard deviation (``gaussian`` head).
        ar_feed: what an autoregressive step feeds back for a ``gaussian`` head: the ``mean`` or a
            reparameterised ``sample``.
        sine_frequency: the fixed frequency f of the ``sine`` root.
    """

    in_channels: int = 1
    head: str = "point"
    num_classes: int | None = None
    root: str = "mlp"
    root_width: int = 32
    root_depth: int = 2
    root_activation: str = "relu"
    final_activation: str = "none"
    final_clip: float = 1.0
    positional_encoding: int = 0
    input_prev_obs: bool = False
    key_channels: int = 0
    theta0: str = "hypernet"
    hypernet_depth: int = 1
    hypernet_width: int | None = None
    hypernet_activation: str = "relu"
    time_as_channel: bool = False
    std_floor: float = 1e-4
    ar_feed: str = "mean"
    sine_frequency: float = 1.0

    def __post_init__(self) -> None:
        _positive_int("in_channels", self.in_channels)
        _one_of("head", self.head, HEADS)
        _one_of("root", self.root, ROOTS)
        _positive_int("root_width", self.root_width)
        _positive_int("root_depth", self.root_depth, minimum=0)
        _one_of("root_activation", self.root_activation, ACTIVATIONS)
        _one_of("final_activation", self.final_activation, FINAL_ACTIVATIONS)
        _positive_int("positional_encoding", self.positional_encoding, minimum=0)
        _one_of("theta0", self.theta0, THETA0)
        _positive_int("key_channels", self.key_channels, minimum=0)
        if self.key_channels >= self.in_channels:
            raise ValueError(f"key_channels: expected fewer than in_channels={self.in_channels} (at least one "
                             f"channel must drive theta), got {self.key_channels}")
        _one_of("hypernet_depth", self.hypernet_depth, (0, 1, 2))
        _one_of("hypernet_activation", self.hypernet_activation, ACTIVATIONS)
        if self.hypernet_width is not None:
            _positive_int("hypernet_width", self.hypernet_width)
        _one_of("ar_feed", self.ar_feed, AR_FEEDS)
        if not self.final_clip > 0:
            raise ValueError(f"final_clip: expected a positive number, got {self.final_clip!r}")
        if not self.std_floor >= 0:
            raise ValueError(f"std_floor: expected a number >= 0, got {self.std_floor!r}")
        if self.head == "classification":
            if self.num_classes is not None:  # None until the training harness reads it from the data
                _positive_int("num_classes", self.num_classes, minimum=2)
        elif self.num_classes is not None:
            raise ValueError(f"num_classes: only used with head='classification', got head={self.head!r}")
        if self.root != "mlp":
            if self.head != "point":
                raise ValueError(f"head: root={self.root!r} supports only 'point', got {self.head!r}")
            if self.positional_encoding or self.input_prev_obs or self.key_channels:
                raise ValueError(
                    f"root={self.root!r} reads tau alone: positional_encoding and key_channels must be 0 and "
                    f"input_prev_obs False, got {self.positional_encoding}, {self.key_channels} and "
                    f"{self.input_prev_obs}")
        if self.root == "msd" and self.in_channels not in (1, 2):
            raise ValueError(f"in_channels: root='msd' predicts x or (x, v), so 1 or 2, got {self.in_channels}")
        if self.root == "msd-moments":
            if not self.time_as_channel:
                raise ValueError("time_as_channel: root='msd-moments' reads dt from the tau held in theta, "
                                 "so it must be True")
            if self.theta0 != "hypernet" or self.hypernet_depth != 0:
                raise ValueError(f"theta0: root='msd-moments' copies x_0 into theta with a linear phi, so "
                                 f"theta0='hypernet' and hypernet_depth=0, got {self.theta0!r} and "
                                 f"{self.hypernet_depth}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "WarpConfig":
        """Builds a config from a mapping, rejecting unknown keys by name."""
        return _build(cls, values, "warp")

    @property
    def out_features(self) -> int:
        """Width of the root network's output: C, 2C (mean and std) or the number of classes."""
        if self.head == "classification":
            if self.num_classes is None:
                raise ValueError("num_classes: expected an integer >= 2 with head='classification', got None")
            return self.num_classes
        return 2 * self.in_channels if self.head == "gaussian" else self.in_channels

    @property
    def root_in_features(self) -> int:
        """Width of the root network's input: tau (or the key), its positional encoding, the latest observation."""
        first = self.key_channels or 1
        return first + 2 * self.positional_encoding + (self.in_channels if self.input_prev_obs else 0)

    @property
    def state_channels(self) -> int:
        """The input channels that phi and B see: all but the key channels."""
        return self.in_channels - self.key_channels

    @property
    def drive_channels(self) -> int:
        """Width of the driving difference dx: the state channels, plus one when tau is a channel."""
        return self.state_channels + int(self.time_as_channel)


LOSSES = ("mse", "nll", "ce")
OPTIMIZERS = ("adam", "adamw")
SCHEDULERS = ("none", "plateau", "cosine")
DEVICES = ("cpu", "cuda", "auto")
MODELS = ("warp", "gru", "lstm", "transformer", "s4d")  # warprnn.baselines.MODELS
SCALINGS = ("standard", "minmax")
SPLITS = ("archive", "resplit")


@dataclass
class DataConfig:
    """Which data set, and how much of it.

    Attributes:
        name: a data set of ``warprnn.datasets`` (``warprnn list`` shows them).
        root: directory of downloaded files for real data sets (default: ``$WARPRNN_DATA``, else
            ``~/.cache/warprnn``), laid out as ``warprnn.loaders`` describes (``mnist/``, ``ett/``,
            ``uea/NAME/``, ``pems08/``); synthetic sets cache their generated splits in ``synthetic/``
            there (``warprnn.cache``).
        num_train, num_val, num_test: sizes of the splits. Synthetic sets generate that many (None: the
            data set's default); real sets keep a random subset of that many, drawn with ``seed`` (None: all).
        seq_len: sequence length of synthetic data sets (None: the data set's default).
        dim: D, the dimension of the keys of the ``icl`` data set (None: its default, 1).
        context: L, the steps fed the truth when forecasting (None: the data set's default); for the
            windowed forecasting sets (ETT, PEMS08) the input length of each window.
        horizon: H, the steps forecast after the context by the windowed forecasting sets (ETT: 96, 192,
            336 or 720, default 96; PEMS08: default 12); each window is one sequence of L + H steps.
        scaling: how the windowed forecasting sets are normalised, with statistics of the training
            part: ``standard`` (zero mean, unit variance per channel, the usual protocol) or ``minmax``
            (the training range mapped to [-1, 1] per channel, as in the WARP authors' code).
        split: how UEA sets are split: ``archive`` (the archive's TRAIN part, less a random 10% kept for
            validation, and its TEST part) or ``resplit`` (all cases pooled and split 70:15:15 at random).
        seed: seed of the synthetic generator, and of the random subsets, validation carve-outs and
            re-splits of real sets (independent of the training seed).
    """

    name: str = "msd-small"
    root: str | None = None
    num_train: int | None = None
    num_val: int | None = None
    num_test: int | None = None
    seq_len: int | None = None
    dim: int | None = None
    context: int | None = None
    horizon: int | None = None
    scaling: str = "standard"
    split: str = "archive"
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("num_train", "num_val", "num_test", "seq_len", "dim", "context", "horizon"):
            if getattr(self, key) is not None:
                _positive_int(f"data.{key}", getattr(self, key))
        _one_of("data.scaling", self.scaling, SCALINGS)
        _one_of("data.split", self.split, SPLITS)


@dataclass
class OptimConfig:
    """The optimiser and its learning-rate schedule.

    Attributes:
        name: ``adam`` or ``adamw``.
        lr: initial learning rate.
        lr_A: initial learning rate of WARP's transition matrix A (None: ``lr``). Adam moves each of
            A's D_theta^2 entries by about this much per step, so A's spectral radius can grow by up to
            ``lr_A D_theta`` per step and its powers A^t overflow on long sequences (at T = 784 and
            lr 1e-3 within the first epoch); a smaller ``lr_A`` keeps such runs finite while the rest of
            the model trains at ``lr``; 0 keeps A fixed (a root whose state has a fixed meaning,
            ``msd-moments``). Schedules scale both alike.
        weight_decay: decoupled for ``adamw``, L2 for ``adam``.
        grad_clip: maximum global gradient norm (0: no clipping).
        scheduler: ``none``; ``plateau`` (multiply by ``plateau_factor`` when the training loss has
            not improved for ``plateau_patience`` epochs); ``cosine`` (cosine decay to ``min_lr`` over
            all epochs).
        plateau_factor, plateau_patience: see ``scheduler``.
        min_lr: the floor of both schedules (for ``lr``; A's floor is ``min_lr lr_A / lr``).
    """

    name: str = "adam"
    lr: float = 1e-3
    lr_A: float | None = None
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    scheduler: str = "none"
    plateau_factor: float = 0.5
    plateau_patience: int = 10
    min_lr: float = 1e-6

    def __post_init__(self) -> None:
        _one_of("optim.name", self.name, OPTIMIZERS)
        _one_of("optim.scheduler", self.scheduler, SCHEDULERS)
        if not self.lr > 0:
            raise ValueError(f"optim.lr: expected a positive number, got {self.lr!r}")
        if self.lr_A is not None and not self.lr_A >= 0:
            raise ValueError(f"optim.lr_A: expected a number >= 0 or null, got {self.lr_A!r}")
        if not 0 < self.plateau_factor < 1:
            raise ValueError(f"optim.plateau_factor: expected a number in (0, 1), got {self.plateau_factor!r}")
        if self.grad_clip < 0 or self.weight_decay < 0 or self.min_lr < 0:
            raise ValueError("optim.grad_clip, optim.weight_decay and optim.min_lr must be >= 0")
        _positive_int("optim.plateau_patience", self.plateau_patience)


@dataclass
class TrainConfig:
    """The training loop.

    Attributes:
        epochs: passes over the training split.
        batch_size: sequences per step.
        loss: ``mse``, ``nll`` (Gaussian negative log-likelihood; needs head ``gaussian``) or ``ce``
            (cross-entropy; needs head ``classification``).
        autoregressive: feed the model's own predictions during training, each step replaced by the
            truth with probability ``teacher_forcing`` (False: teacher-forced, all truth).
        teacher_forcing: p of ``autoregressive`` training.
        loss_steps: compute the loss on this many random steps of each batch (None: all steps).
        val_every: validate every this many epochs (and after the last).
        metric: the validation metric that picks the best checkpoint (e.g. ``val_mse``,
            ``val_accuracy``); accuracy and F1 are maximised, everything else minimised.
        seed: seeds initialisation, shuffling and teacher-forcing draws; CPU runs repeat exactly.
        device: ``cpu``, ``cuda`` or ``auto`` (cuda when available).
        mode: how WARP's recurrence runs when teacher-forced: ``auto`` (the faster of ``scan`` and
            ``conv`` for the batch's size, ``warprnn.modes.fastest``), ``scan``, ``conv`` or ``reference``
            (see ``warprnn.modes``); all give the same result. Autoregressive passes always scan.
        out_dir: parent directory of run folders.
        name: run folder name prefix (None: the data set's name).
    """

    epochs: int = 20
    batch_size: int = 64
    loss: str = "mse"
    autoregressive: bool = False
    teacher_forcing: float = 0.5
    loss_steps: int | None = None
    val_every: int = 1
    metric: str = "val_mse"
    seed: int = 0
    device: str = "cpu"
    mode: str = "auto"
    out_dir: str = "runs"
    name: str | None = None

    def __post_init__(self) -> None:
        _positive_int("train.epochs", self.epochs)
        _positive_int("train.batch_size", self.batch_size)
        _positive_int("train.val_every", self.val_every)
        _one_of("train.loss", self.loss, LOSSES)
        _one_of("train.device", self.device, DEVICES)
        _one_of("train.mode", self.mode, ("auto", "scan", "conv", "reference"))
        if self.loss_steps is not None:
            _positive_int("train.loss_steps", self.loss_steps)
        if not 0 <= self.teacher_forcing <= 1:
            raise ValueError(f"train.teacher_forcing: expected a probability in [0, 1], got {self.teacher_forcing!r}")


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

    model: str = "warp"
    warp: WarpConfig = field(default_factory=WarpConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        _one_of("model", self.model, MODELS)
        if self.train.loss == "nll" and self.warp.head != "gaussian":
            raise ValueError(f"train.loss: 'nll' needs warp.head='gaussian', got {self.warp.head!r}")
        if (self.train.loss == "ce") != (self.warp.head == "classification"):
            raise ValueError(f"train.loss: 'ce' goes with warp.head='classification' and only with it, "
                             f"got loss {self.train.loss!r} and head {self.warp.head!r}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "ExperimentConfig":
        """Builds an experiment from nested mappings, naming any unknown key."""
        return _build(cls, values, "")

    def to_dict(self) -> dict:
        """Nested plain dictionaries, ready for YAML."""
        return dataclasses.asdict(self)


def _build(cls, values: Mapping[str, Any], prefix: str):
    """Instantiates dataclass ``cls`` from ``values``, recursing into dataclass fields."""
    if not isinstance(values, Mapping):
        raise ValueError(f"{prefix or 'config'}: expected a mapping of options, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        where = f"{prefix} " if prefix else ""
        raise ValueError(f"unknown {where}option(s) {unknown}; allowed: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        sub = _SECTIONS.get(key) if not prefix else None
        name = f"{prefix}.{key}" if prefix else key
        kwargs[key] = _build(sub, value, key) if sub is not None else _as_declared(name, value, hints[key])
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ValueError(f"{prefix or 'config'}: {error}") from None


def _as_declared(name: str, value: Any, hint) -> Any:
    """Reads a number for a float option: YAML 1.1 leaves ``3e-4`` a string, and ``1`` an int."""
    if float not in typing.get_args(hint) + (hint,) or value is None:
        return value
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    if not isinstance(value, float):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    return value


_SECTIONS = {"warp": WarpConfig, "data": DataConfig, "optim": OptimConfig, "train": TrainConfig}


def apply_overrides(values: dict, overrides: list[str]) -> dict:
    """Applies ``section.key=value`` (or ``model=value``) words to nested ``values``, in place.

    Values are parsed as YAML scalars (``3``, ``1e-3``, ``true``, ``null``, ``tanh``).
    """
    for word in overrides:
        key, sep, raw = word.partition("=")
        if not sep or not key:
            raise ValueError(f"override {word!r}: expected key=value, e.g. train.epochs=5")
        path = key.split(".")
        if len(path) > 2 or (len(path) == 2 and path[0] not in _SECTIONS) or (len(path) == 1 and path[0] in _SECTIONS):
            raise ValueError(f"override {word!r}: expected 'model=...' or 'SECTION.KEY=...' "
                             f"with SECTION one of {sorted(_SECTIONS)}")
        target = values
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = yaml.safe_load(raw)
    return values


def load_experiment(source: str | Path | None, overrides: list[str] = ()) -> ExperimentConfig:
    """Reads an experiment from a YAML file (or the defaults when None) and applies overrides."""
    values = {}
    if source is not None:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"config file {str(path)!r} does not exist")
        values = yaml.safe_load(path.read_text()) or {}
    return ExperimentConfig.from_dict(apply_overrides(values, list(overrides)))
