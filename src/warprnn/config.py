"""Typed configuration of the core: the WARP architecture (``WarpConfig``), and the machinery every
section of a configuration shares.

Every option is documented once, in the docstring of its section. An option with a fixed set of values is
declared with ``typing.Literal``, and its check is derived from that declaration (``check_fields``). YAML
files and command-line overrides are only a serialisation of these dataclasses (``from_dict``): unknown
keys, values of the wrong type and values out of range raise ``ConfigError`` (a ``ValueError``) naming the
key, what is allowed and what was given. The data and training layers
declare their own sections (``warprnn.data.config``, ``warprnn.training.config``).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from .errors import ConfigError

Activation = Literal["relu", "tanh", "swish", "softplus", "sin", "identity"]
FinalActivation = Literal["none", "tanh", "clip", "dtanh"]
Head = Literal["point", "gaussian", "classification"]
RootName = Literal["mlp", "sine", "msd", "msd-moments", "msd-oscillator"]
Theta0 = Literal["learned", "hypernet"]
ArFeed = Literal["mean", "sample"]
ClassPool = Literal["last", "mean"]
InstanceNorm = Literal["none", "shift", "scale"]
TransitionNorm = Literal["none", "spectral"]
Semantics = Literal["warprnn", "authors"]
INT64 = 2**63
"""Every integer option lies in [-INT64, INT64): torch and numpy take 64-bit integers (a seed of 2**70 ended in
'Overflow when unpacking long long')."""
Mode = Literal["reference", "scan", "conv", "auto"]
"""How the recurrence runs (``warprnn.recurrence``): all give the same result."""


def mismatch(hint, value) -> str | None:
    """What a value of the declared type ``hint`` would be, in words, when ``value`` is not one (None: it is).

    Understands ``Literal``, unions (``X | Y | None``), ``bool``, ``int``, ``float`` (any finite number), ``str`` and
    dataclasses; other declarations accept anything.
    """
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        problems = [mismatch(a, value) for a in args if a is not type(None)]
        if not all(problems):
            return None
        return " or ".join(problems + (["null"] if type(None) in args else []))
    if typing.get_origin(hint) is Literal:
        flag = isinstance(value, bool) and not any(isinstance(a, bool) for a in args)  # True == 1
        return None if not flag and value in args else f"one of {list(args)}"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    expected = {
        bool: (isinstance(value, bool), "true or false"),
        int: (number and isinstance(value, int), "an integer"),
        float: (number and math.isfinite(value), "a finite number"),
        str: (isinstance(value, str), "a string"),
    }
    if hint in expected:
        ok, words = expected[hint]
        if ok and hint is int and not -INT64 <= value < INT64:
            return "an integer of 64 bits (from -2**63 to 2**63 - 1)"
        return None if ok else words
    if dataclasses.is_dataclass(hint) and not isinstance(value, hint):
        return f"a {hint.__name__}"
    return None


def unread_options(config, prefix: str) -> list[tuple[str, str, str]]:
    """The options of dataclass ``config`` set away from their defaults that the section's own choices
    leave unread, as ``(option, decider, message)`` with dotted names. A section declares such options in
    its class attribute ``READ_WHEN``: each maps to the option that decides and the values under which it
    is read (``final_clip`` only when ``final_activation`` is ``clip``). The data sets' own declaration is
    ``warprnn.data.registry.Entry.reads``."""
    defaults, unread = type(config)(), []
    for key, (decider, values) in getattr(type(config), "READ_WHEN", {}).items():
        if getattr(config, decider) not in values and getattr(config, key) != getattr(defaults, key):
            allowed = " or ".join(repr(v) for v in values)
            message = (
                f"{prefix}.{key}: not read when {prefix}.{decider} is {getattr(config, decider)!r} "
                f"(read when it is {allowed})"
            )
            unread.append((f"{prefix}.{key}", f"{prefix}.{decider}", message))
    return unread


def check_fields(config, prefix: str = "") -> None:
    """Checks every field of dataclass ``config`` against its declared type: ``Literal`` values, numbers,
    flags, strings, None only where the declaration allows it. Errors name the option as ``prefix.key``."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        expected = mismatch(hints[field.name], value)
        if expected:
            name = f"{prefix}.{field.name}" if prefix else field.name
            raise ConfigError(f"{name}: expected {expected}, got {value!r}")


def positive_int(name: str, value: Any, minimum: int = 1) -> None:
    """Raises unless ``value`` is an integer (not a bool) of at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def parse_transition_init(spec: str) -> float | None:
    """``WarpConfig.transition_init`` as its longest timescale H: None for ``identity``, H >= 1 for
    ``decay:H``. Raises ``ConfigError`` naming ``transition_init`` for anything else."""
    if spec == "identity":
        return None
    kind, _, size = spec.partition(":")
    try:
        horizon = float(size)
    except ValueError:
        horizon = math.nan
    if kind == "decay" and 1 <= horizon < math.inf:
        return horizon
    raise ConfigError(f"transition_init: expected 'identity' or 'decay:H' (H >= 1 steps), got {spec!r}")


def parse_transition(spec: str) -> tuple[str, int]:
    """``WarpConfig.transition`` as (kind, size): ``dense`` and ``diagonal`` have size 0, ``block:K`` K >= 1
    and ``lowrank:R`` R >= 1. Raises ``ConfigError`` naming ``transition`` for anything else."""
    kind, _, size = spec.partition(":") if isinstance(spec, str) else ("", "", "")
    if kind in ("dense", "diagonal") and not size and ":" not in spec:
        return kind, 0
    if kind in ("block", "lowrank") and size.isascii() and size.isdigit() and int(size) >= 1:
        return kind, int(size)
    raise ConfigError(f"transition: expected 'dense', 'diagonal', 'block:K' or 'lowrank:R' (K, R >= 1), got {spec!r}")


@dataclass
class WarpConfig:
    """Architecture of one WARP model (paper Sec. 3).

    Attributes:
        in_channels: C, the number of channels of the input sequence x.
        head: what the root network's output means. ``point``: the next value (mean only);
            ``gaussian``: mean and softplus standard deviation of the next value (for NLL);
            ``classification``: class logits, read at the last valid step.
        class_pool: which steps give a ``classification`` head's logits: ``last``, the last valid step's
            (the paper's), or ``mean``, the mean of every valid step's (a WARP root then reads the state at
            every step, so a class can depend on how the signal behaves along the sequence, e.g. its power,
            and not only on the end state). ``step()`` returns each step's own logits either way.
        num_classes: number of classes (``classification`` head only; the training harness sets it from
            the data).
        root: the root network whose parameters are the state theta. ``mlp``: a small MLP;
            ``sine``: WARP-Phys phase root ``sin(2 pi f tau + phase)``; ``msd``: WARP-Phys
            mass-spring-damper root with theta = (log m, log k, log c, x0, v0); ``msd-moments``: WARP-Phys
            mass-spring-damper root that identifies the oscillator from trajectory moments held in theta
            and steps (x, v) forward (two channels, a linear hypernetwork);
            ``msd-oscillator``: the paper's WARP-Phys mass-spring-damper root, theta = (log k/m, log c/m),
            which integrates the oscillator over one time step from the latest fed observation (two
            channels, ``input_prev_obs``).
        root_width: width of each hidden layer of the MLP root.
        root_depth: number of hidden layers of the MLP root (0 makes it affine).
        root_activation: activation of the MLP root's hidden layers, one of ``Activation``.
        final_activation: applied to the predicted mean: ``none``, ``tanh``, ``clip`` (to +-final_clip) or
            ``dtanh``, the authors' trained ``alpha tanh((m - b) / a) + beta`` whose (a, b, alpha, beta), a
            parameter of the model, start at ``dtanh_init`` (``semantics="authors"`` only; a baseline
            applies it fixed at ``dtanh_init``).
        dtanh_init: where the ``dtanh`` final activation's (a, b, alpha, beta) start.
        final_clip: bound c of the ``clip`` final activation.
        positional_encoding: number of sinusoidal frequencies of the step index added to the root
            input (0: the root sees tau alone).
        input_prev_obs: also give the root the latest fed observation x_t (the data, or the fed-back
            prediction in autoregressive mode): the MLP root, or ``msd-oscillator``, which needs it.
        key_channels: in-context learning: the last ``key_channels`` input channels hold a key that the
            root reads in place of tau (root_{theta_t}(key_t)); neither phi nor B sees them, so theta is
            driven by the other channels alone (0: the root reads tau; the training harness sets it
            from the data, see the ``icl`` data set). MLP root only.
        transition: the structure of the transition A (``warprnn.transition``): ``dense``, the paper's
            free ``(D, D)`` matrix; ``diagonal``, real eigenvalues ``0 < lambda_i < 1`` initialised just
            below 1; ``block:K``, block-diagonal with free ``K x K`` blocks initialised to I; ``lowrank:R``,
            ``I + U V^T`` with U, V ``(D, R)``, U initialised to 0 (A = I).
        transition_norm: how the transition A is parametrised (``warprnn.transition``): ``none``, the
            paper's free matrix; ``spectral``, A = W / max(1, ||W||_2), which keeps ||A^t|| <= 1 at any
            learning rate.
        transition_init: where A starts (``warprnn.transition``): ``identity``, the paper's A = I (a
            structured A at or near it), under which Eq. 1 telescopes to ``theta_t = theta_0 + B (x_t - x_0)``
            and the state remembers nothing of the path until training moves A; or ``decay:H``, A =
            diag(lambda) with ``lambda_i = exp(-1 / tau_i)``, the timescales tau_i (steps for a decay to 1/e)
            drawn log-uniformly in [1, H], so that from the first step theta holds the increments smoothed
            over many horizons (an LRU/S4D-style start). Not for ``lowrank`` (A = I + U V^T) or a root that
            declares its own A.
        theta_clip: c: every step's state is clipped to [-c, c], ``theta_t = clip(A theta_{t-1} + B dx_t)``
            for t >= 1 (theta_0 is not clipped). The authors' code does this (``weights_lim``, 0.5 in
            their MNIST and Fashion-MNIST configs): it bounds the state whatever A becomes, and it makes
            the recurrence non-linear, so it has no convolutional mode (``scan``, ``reference`` and
            ``step`` only). None: the paper's linear recurrence.
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
        instance_norm: per-sequence normalisation by the first ``norm_steps`` steps, per channel
            (``warprnn.instance_norm``): ``shift`` subtracts their mean, ``scale`` also divides by their
            standard deviation (RevIN without its affine part); the model runs on that, and its predictions
            are mapped back. ``none``: off (the paper's). Every model reads it. Forecasting heads and the
            MLP root only (a physical root predicts in the data's units).
        norm_steps: the steps ``instance_norm`` reads; None: the data's context, which the training harness
            fills in (a model built directly needs it set).
        covariate_channels: the last ``covariate_channels`` input channels are covariates, known in
            advance (calendar features, prices, controls): they drive theta like the others, but the model
            does not forecast them (its outputs are the other channels, ``target_channels``), and an
            autoregressive step is always fed their data, never a prediction. The data sets set it from
            ``data.covariates``. Not with ``key_channels``, ``instance_norm`` or the authors' semantics.
        time_scale: the steps tau is normalised by, ``tau_t = t / time_scale``, fixed by the trained model so
            that a forecast's time input, and so its first k steps, do not depend on how many steps are asked
            for; steps past it extrapolate (tau > 1). None: each sequence's length minus one (the paper's
            ``t / (T - 1)``, per sequence of a padded batch). The training harness sets it to the training
            sequences' length minus one for forecasting data; classification keeps None.
        semantics: ``warprnn`` (ours) or ``authors``: what the authors' JAX code computes, with the same
            parameters, in every mode (``warprnn.authors``: the driving difference, the loss target, A applied
            before the first decode, the root's time, the std floor, the loss constants, the hypernetwork's
            widths; the table in ``docs/guide/authors.md``). ``authors`` needs the MLP root, tau as its input (no
            ``positional_encoding``, ``key_channels`` or ``instance_norm``) and the hypernetwork's activation
            equal to the root's (theirs uses the root's), and has no ``hypernet_width``.
    """

    READ_WHEN: ClassVar[dict[str, tuple[str, tuple]]] = {  # unread_options: options that others leave unread
        "final_clip": ("final_activation", ("clip",)),
        "dtanh_init": ("final_activation", ("dtanh",)),
        "std_floor": ("head", ("gaussian",)),
        "class_pool": ("head", ("classification",)),
        "sine_frequency": ("root", ("sine",)),
        "norm_steps": ("instance_norm", ("shift", "scale")),
        "hypernet_depth": ("theta0", ("hypernet",)),
        "hypernet_width": ("theta0", ("hypernet",)),
    }

    in_channels: int = 1
    head: Head = "point"
    class_pool: ClassPool = "last"
    num_classes: int | None = None
    root: RootName = "mlp"
    root_width: int = 32
    root_depth: int = 2
    root_activation: Activation = "relu"
    final_activation: FinalActivation = "none"
    final_clip: float = 1.0
    dtanh_init: tuple = (1.0, 0.0, 1.0, 0.0)  # (a, b, alpha, beta), checked in __post_init__
    positional_encoding: int = 0
    input_prev_obs: bool = False
    key_channels: int = 0
    transition: str = "dense"
    transition_norm: TransitionNorm = "none"
    transition_init: str = "identity"
    theta_clip: float | None = None
    theta0: Theta0 = "hypernet"
    hypernet_depth: Literal[0, 1, 2] = 1
    hypernet_width: int | None = None
    hypernet_activation: Activation = "relu"
    time_as_channel: bool = False
    std_floor: float = 1e-4
    ar_feed: ArFeed = "mean"
    sine_frequency: float = 1.0
    instance_norm: InstanceNorm = "none"
    norm_steps: int | None = None
    time_scale: int | None = None
    covariate_channels: int = 0
    semantics: Semantics = "warprnn"

    def __post_init__(self) -> None:
        check_fields(self)
        positive_int("in_channels", self.in_channels)
        positive_int("root_width", self.root_width)
        positive_int("root_depth", self.root_depth, minimum=0)
        positive_int("positional_encoding", self.positional_encoding, minimum=0)
        positive_int("key_channels", self.key_channels, minimum=0)
        if self.key_channels >= self.in_channels:
            raise ConfigError(
                f"key_channels: expected fewer than in_channels={self.in_channels} (at least one "
                f"channel must drive theta), got {self.key_channels}"
            )
        if self.hypernet_width is not None:
            positive_int("hypernet_width", self.hypernet_width)
        if self.norm_steps is not None:
            positive_int("norm_steps", self.norm_steps)
        if self.time_scale is not None:
            positive_int("time_scale", self.time_scale)
        positive_int("covariate_channels", self.covariate_channels, minimum=0)
        if self.covariate_channels and self.covariate_channels >= self.in_channels:
            raise ConfigError(
                f"covariate_channels: expected fewer than in_channels={self.in_channels} (at least one channel "
                f"is forecast), got {self.covariate_channels}"
            )
        if self.covariate_channels and (self.key_channels or self.instance_norm != "none"):
            raise ConfigError("covariate_channels: not with key_channels or instance_norm")
        if self.instance_norm != "none" and (self.head == "classification" or self.root != "mlp"):
            raise ConfigError(
                f"instance_norm: rescales forecasts, so a 'point' or 'gaussian' head on the 'mlp' root, got "
                f"head={self.head!r}, root={self.root!r}"
            )
        if not self.final_clip > 0:
            raise ConfigError(f"final_clip: expected a positive number, got {self.final_clip!r}")
        if self.theta_clip is not None and not self.theta_clip > 0:
            raise ConfigError(f"theta_clip: expected a positive number or None, got {self.theta_clip!r}")
        if not self.std_floor >= 0:
            raise ConfigError(f"std_floor: expected a number >= 0, got {self.std_floor!r}")
        if self.head == "classification":
            if self.num_classes is not None:  # None until the training harness reads it from the data
                positive_int("num_classes", self.num_classes, minimum=2)
        elif self.num_classes is not None:
            raise ConfigError(f"num_classes: only used with head='classification', got head={self.head!r}")
        elif self.class_pool != "last":
            raise ConfigError(f"class_pool: only used with head='classification', got head={self.head!r}")
        if self.root != "mlp":
            if self.head != "point":
                raise ConfigError(f"head: root={self.root!r} supports only 'point', got {self.head!r}")
            if self.positional_encoding or self.key_channels:
                raise ConfigError(
                    f"root={self.root!r} reads tau, not its positional encoding or a key: positional_encoding "
                    f"and key_channels must be 0, got {self.positional_encoding} and {self.key_channels}"
                )
            self.check_prev_obs()
        if self.root == "msd" and self.in_channels not in (1, 2):
            raise ConfigError(f"in_channels: root='msd' predicts x or (x, v), so 1 or 2, got {self.in_channels}")
        parse_transition(self.transition)
        if self.semantics == "authors":
            self.check_authors()
        elif self.final_activation == "dtanh":
            raise ConfigError("final_activation: 'dtanh' is the authors' trained tanh, so semantics='authors'")
        numbers = isinstance(self.dtanh_init, (list, tuple)) and all(
            mismatch(float, v) is None for v in self.dtanh_init
        )
        if not numbers or len(self.dtanh_init) != 4 or self.dtanh_init[0] == 0:
            raise ConfigError(f"dtanh_init: expected four numbers (a, b, alpha, beta), a != 0, got {self.dtanh_init!r}")
        self.dtanh_init = tuple(float(v) for v in self.dtanh_init)
        if parse_transition_init(self.transition_init) is not None and self.transition.startswith("lowrank"):
            raise ConfigError(
                f"transition_init: 'lowrank' is I + U V^T, which starts at I, so 'identity', got {self.transition_init!r}"
            )
        if self.transition != "dense" and self.transition_norm != "none":
            raise ConfigError(
                f"transition_norm: 'spectral' bounds a dense A, so 'none' with transition={self.transition!r} "
                f"(a diagonal A is bounded by construction), got {self.transition_norm!r}"
            )
        if self.root == "msd-moments":
            if self.transition != "dense":
                raise ConfigError(
                    f"transition: root='msd-moments' declares its own dense A, so 'dense', got {self.transition!r}"
                )
            if self.transition_norm != "none":
                raise ConfigError(
                    f"transition_norm: root='msd-moments' declares its own A, so 'none', got {self.transition_norm!r}"
                )
            if self.transition_init != "identity":
                raise ConfigError(
                    f"transition_init: root='msd-moments' declares its own A, so 'identity', got {self.transition_init!r}"
                )
            if self.theta0 != "hypernet" or self.hypernet_depth != 0:
                raise ConfigError(
                    f"theta0: root='msd-moments' copies x_0 into theta with a linear phi, so "
                    f"theta0='hypernet' and hypernet_depth=0, got {self.theta0!r} and "
                    f"{self.hypernet_depth}"
                )

    def normalisation_steps(self) -> int | None:
        """The steps whose statistics normalise each sequence (``instance_norm``), None when off.

        Raises:
            ConfigError: ``instance_norm`` is on and ``norm_steps`` unset.
        """
        if self.instance_norm != "none" and self.norm_steps is None:
            raise ConfigError(
                "norm_steps: instance_norm needs the number of leading steps to normalise by (the training "
                "harness sets it to the data's context)"
            )
        return None if self.instance_norm == "none" else self.norm_steps

    def check_authors(self) -> None:
        """What the authors' semantics can hold: their root, inputs and hypernetwork (``semantics``)."""
        unused = {
            "root": (self.root, "mlp"),
            "positional_encoding": (self.positional_encoding, 0),
            "key_channels": (self.key_channels, 0),
            "covariate_channels": (self.covariate_channels, 0),
            "instance_norm": (self.instance_norm, "none"),
            "hypernet_width": (self.hypernet_width, None),
            "hypernet_activation": (self.hypernet_activation, self.root_activation),
        }
        for name, (value, theirs) in unused.items():
            if value != theirs:
                raise ConfigError(
                    f"{name}: semantics='authors' runs the authors' model, which needs {theirs!r} here, got {value!r}"
                )

    def check_prev_obs(self) -> None:
        """A physical root reads the latest fed observation if and only if it integrates from it."""
        integrates = self.root == "msd-oscillator"
        if self.input_prev_obs != integrates:
            reads = "integrates from the latest fed observation" if integrates else "reads tau alone"
            raise ConfigError(
                f"input_prev_obs: root={self.root!r} {reads}, so it must be {integrates}, got {self.input_prev_obs}"
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> WarpConfig:
        """Builds a config from a mapping, rejecting unknown keys by name."""
        return from_dict(cls, values, "warp")

    @property
    def out_features(self) -> int:
        """Width of the root network's output: C, 2C (mean and std) or the number of classes."""
        if self.head == "classification":
            if self.num_classes is None:
                raise ConfigError("num_classes: expected an integer >= 2 with head='classification', got None")
            return self.num_classes
        return 2 * self.target_channels if self.head == "gaussian" else self.target_channels

    @property
    def target_channels(self) -> int:
        """The channels the model forecasts: all but the covariates (``covariate_channels``)."""
        return self.in_channels - self.covariate_channels

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


Config = TypeVar("Config")


def from_dict(cls: type[Config], values: Mapping[str, Any], prefix: str = "") -> Config:
    """Instantiates dataclass ``cls`` from ``values``, recursing into the fields that are dataclasses
    themselves (the sections of an experiment); ``prefix`` names ``cls``'s section in errors."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping of options, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted((key for key in values if key not in fields), key=str)
    if unknown:
        where = f"{prefix} " if prefix else ""
        raise ConfigError(f"unknown {where}option(s) {unknown}; allowed: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        name = f"{prefix}.{key}" if prefix else key
        if dataclasses.is_dataclass(hints[key]):
            kwargs[key] = from_dict(hints[key], value, key)
        else:
            kwargs[key] = _as_declared(name, value, hints[key])
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ConfigError(f"{prefix or 'config'}: {error}") from None


def _as_declared(name: str, value: Any, hint) -> Any:
    """Reads a number for a float option (YAML 1.1 leaves ``3e-4`` a string, and ``1`` an int), unless the
    option also declares that value (``lr_A: scaled``)."""
    if float not in typing.get_args(hint) + (hint,) or value is None:
        return value
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except (ValueError, OverflowError):
            pass
    others = [a for a in typing.get_args(hint) if a not in (float, type(None))]
    if not isinstance(value, float) and (not others or mismatch(hint, value)):
        expected = mismatch(hint, value) if others else "a number"
        raise ConfigError(f"{name}: expected {expected}, got {value!r}")
    return value
