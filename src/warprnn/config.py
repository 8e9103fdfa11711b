"""Typed configuration of a WARP model.

Every option is documented once, here. YAML files and command-line overrides are only a serialisation
of these dataclasses: unknown keys and bad values raise ``ValueError`` naming the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

ACTIVATIONS = ("relu", "tanh", "swish", "softplus", "sin", "identity")
FINAL_ACTIVATIONS = ("none", "tanh", "clip")
HEADS = ("point", "gaussian", "classification")
ROOTS = ("mlp", "sine", "msd")
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
        num_classes: number of classes (``classification`` head only).
        root: the root network whose parameters are the state theta. ``mlp``: a small MLP;
            ``sine``: WARP-Phys phase root ``sin(2 pi f tau + phase)``; ``msd``: WARP-Phys
            mass-spring-damper root.
        root_width: width of each hidden layer of the MLP root.
        root_depth: number of hidden layers of the MLP root (0 makes it affine).
        root_activation: activation of the MLP root's hidden layers, one of ``ACTIVATIONS``.
        final_activation: applied to the predicted mean: ``none``, ``tanh`` or ``clip`` (to +-final_clip).
        final_clip: bound c of the ``clip`` final activation.
        positional_encoding: number of sinusoidal frequencies of the step index added to the root
            input (0: the root sees tau alone).
        input_prev_obs: also give the root the latest fed observation x_t.
        theta0: how theta_0 is made: ``learned`` vector, or ``hypernet`` phi(x_0).
        hypernet_depth: hidden layers of the hypernetwork (0, 1 or 2), widths stepping from C to D_theta.
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
    theta0: str = "hypernet"
    hypernet_depth: int = 1
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
        _one_of("hypernet_depth", self.hypernet_depth, (0, 1, 2))
        _one_of("hypernet_activation", self.hypernet_activation, ACTIVATIONS)
        _one_of("ar_feed", self.ar_feed, AR_FEEDS)
        if not self.final_clip > 0:
            raise ValueError(f"final_clip: expected a positive number, got {self.final_clip!r}")
        if not self.std_floor >= 0:
            raise ValueError(f"std_floor: expected a number >= 0, got {self.std_floor!r}")
        if self.head == "classification":
            _positive_int("num_classes", self.num_classes, minimum=2)
        elif self.num_classes is not None:
            raise ValueError(f"num_classes: only used with head='classification', got head={self.head!r}")
        if self.root != "mlp":
            if self.head != "point":
                raise ValueError(f"head: root={self.root!r} supports only 'point', got {self.head!r}")
            if self.positional_encoding or self.input_prev_obs:
                raise ValueError(
                    f"root={self.root!r} reads tau alone: positional_encoding must be 0 and "
                    f"input_prev_obs False, got {self.positional_encoding} and {self.input_prev_obs}")
        if self.root == "msd" and self.in_channels not in (1, 2):
            raise ValueError(f"in_channels: root='msd' predicts x or (x, v), so 1 or 2, got {self.in_channels}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "WarpConfig":
        """Builds a config from a mapping, rejecting unknown keys by name."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model option(s) {unknown}; allowed: {sorted(known)}")
        return cls(**values)

    @property
    def out_features(self) -> int:
        """Width of the root network's output: C, 2C (mean and std) or the number of classes."""
        if self.head == "classification":
            return self.num_classes
        return 2 * self.in_channels if self.head == "gaussian" else self.in_channels

    @property
    def root_in_features(self) -> int:
        """Width of the root network's input: tau, its positional encoding, the latest observation."""
        return 1 + 2 * self.positional_encoding + (self.in_channels if self.input_prev_obs else 0)

    @property
    def drive_channels(self) -> int:
        """Width of the driving difference dx: C, plus one when tau is a channel."""
        return self.in_channels + int(self.time_as_channel)
