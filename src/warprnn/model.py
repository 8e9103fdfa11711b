"""WARP: Weight-space Adaptive Recurrent Prediction (Nzoyem et al., ICLR 2026).

The hidden state ``theta_t`` (size D_theta) is the flat parameter vector of a small root network. It
evolves by a linear recurrence driven by input differences and decodes itself:

    theta_0 = phi(x_0)                                  hypernetwork (or a learned vector)
    theta_t = A theta_{t-1} + B (x_t - x_{t-1})         A: (D, D), starts at I; B: (D, C), starts at 0
                                                        (or a structured A: ``warprnn.transition``)
    y_t     = root_{theta_t}(tau_{t+1})                 tau_t = t / (length - 1)

``y_t`` is the prediction of ``x_{t+1}``: a point value, a Gaussian (mean and softplus std) or, for
classification, class logits read at the last valid step. ``recurrence.py`` holds the recurrence
itself, ``rollout.py`` its autoregressive mode, ``roots.py`` and ``physics.py`` the root networks.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from . import authors, heads, instance_norm, recurrence, rollout
from .authors import OURS, Choices
from .checks import check_choice, check_dtype, check_memory, check_sequence
from .config import Mode, WarpConfig
from .errors import InputError
from .heads import WarpOutput
from .physics import MSDMomentsRoot, MSDOscillatorRoot, MSDRoot, SineRoot
from .roots import MLPRoot, Root, activation
from .transition import Dense, Operator, SpectralBound, build_transition, initial_eigenvalues, transition_size

TEACHER_FORCED_MODES = typing.get_args(Mode)
AUTOREGRESSIVE_MODES = tuple(m for m in TEACHER_FORCED_MODES if m != "conv")  # feedback is sequential


@dataclass
class WarpState:
    """Streaming state of ``WARP.step``: the state after ``t`` steps of sequences of ``lengths``."""

    theta: Tensor | None  # (batch, D), None before the first step
    fed: Tensor | None  # (batch, C) the last value fed (authors' semantics: what the next difference subtracts)
    t: int
    lengths: Tensor  # (batch,) the lengths tau is normalised by
    hat: Tensor | None = None  # (batch, C) authors' semantics: the last step's predicted mean


def full_precision(x: Tensor):
    """A context in which ``torch.autocast`` is off, so that the recurrence (theta_0, A, B and the rollouts)
    runs in the weights' type under mixed-precision training: its states are products of up to T transitions,
    and bf16's 8-bit mantissa loses them (``train.precision``). Without autocast it changes nothing."""
    return torch.autocast(x.device.type, enabled=False)


def build_root(config: WarpConfig) -> Root:
    """The root network that ``config`` asks for."""
    if config.root == "sine":
        return SineRoot(config.in_channels, config.sine_frequency)
    if config.root == "msd":
        return MSDRoot(config.in_channels)
    if config.root == "msd-moments":
        return MSDMomentsRoot(config.in_channels)
    if config.root == "msd-oscillator":
        return MSDOscillatorRoot(config.in_channels)
    return MLPRoot(
        config.root_in_features, config.out_features, config.root_width, config.root_depth, config.root_activation
    )


class Hypernetwork(nn.Module):
    """phi: x_0 ``(batch, C)`` -> theta_0 ``(batch, D)``, an MLP of ``depth`` hidden layers of ``width``
    (None: widths stepping evenly from C to D), or of the hidden ``widths`` given."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        depth: int,
        act: str,
        width: int | None = None,
        widths: list[int] | None = None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        widths = [in_features] + (
            widths
            or [
                width or round(in_features + (out_features - in_features) * i / (depth + 1))
                for i in range(1, depth + 1)
            ]
        )
        self.hidden = nn.ModuleList(nn.Linear(a, b, device=device, dtype=dtype) for a, b in zip(widths, widths[1:]))
        self.out = nn.Linear(widths[-1], out_features, device=device, dtype=dtype)
        self.act = activation(act)

    def features(self, x0: Tensor) -> Tensor:
        """The last hidden features h ``(batch, H)``, so that ``theta_0 = out(h)``."""
        h = x0
        for layer in self.hidden:
            h = self.act(layer(h))
        return h


class WARP(nn.Module):
    """The WARP model. Batch-first: inputs are ``(batch, time, channels)``.

    Args:
        config: the architecture (``WarpConfig``).
        device: where to create the parameters (``device="meta"`` allocates nothing: sizes only).
        dtype: the parameters' precision.
        choices: which of the authors' choices to run (``warprnn.authors.Choices``; None: those of
            ``config.semantics``, all of theirs or none); one can be switched alone to measure it.

    Parameters: the dense A is ``A`` ``(D, D)`` (``transition='dense'``, the paper's); a structured one's
    parameters are those of the module ``transition`` (``warprnn.transition``), and ``A`` is absent. Both
    are read through ``transition_operator()``.

    Raises:
        TooLargeError: A (``(D_theta, D_theta)`` when dense) and B would not fit in the memory available on
            ``device``.
    """

    def __init__(self, config: WarpConfig, *, device=None, dtype=None, choices: Choices | None = None):
        super().__init__()
        self.config = config
        self.choices = authors.choices_of(config) if choices is None else choices
        self.root = build_root(config)
        D = self.root.num_params
        itemsize = torch.empty(0, dtype=dtype).element_size()
        check_memory(
            f"WARP with D_theta = {D}: its transition matrix A ({config.transition}, {D} x {D}) and B",
            (transition_size(config.transition, D) + D * config.drive_channels) * itemsize,
            device,
            "choose a smaller root (warp.root_width, warp.root_depth)",
        )
        self.norm_steps = config.normalisation_steps()  # None: no instance normalisation
        factory = {"device": device, "dtype": dtype}
        self.transition = build_transition(config.transition, D, **factory)  # None when dense
        if self.transition is None:
            self.A = nn.Parameter(torch.empty(D, D, **factory))
        if config.transition_norm == "spectral":  # A read through W / max(1, sigma(W)); state key A.original
            parametrize.register_parametrization(self, "A", SpectralBound(D, **factory), unsafe=True)
        self.B = nn.Parameter(torch.empty(D, config.drive_channels, **factory))
        if config.final_activation == "dtanh":  # the authors' trained final activation (warprnn.authors.mean)
            self.dtanh = nn.Parameter(torch.empty(4, **factory))
        if config.theta0 == "learned":
            self.theta_init = nn.Parameter(torch.empty(D, **factory))
        else:
            self.hypernet = Hypernetwork(
                config.state_channels,
                D,
                config.hypernet_depth,
                config.hypernet_activation,
                config.hypernet_width,
                authors.hypernet_widths(config.state_channels, D, config.hypernet_depth)
                if self.choices.hypernet_widths
                else None,
                **factory,
            )
        self.reset_parameters()

    @property
    def d_theta(self) -> int:
        """D_theta, the size of the weight-space state."""
        return self.root.num_params

    def reset_parameters(self) -> None:
        """A = I (a structured A: at or near it, ``warprnn.transition``) or the diagonal of decays that
        ``transition_init`` asks for, B = 0, theta_0 (or the hypernetwork's output bias) = a freshly
        initialised root; a root whose state has a fixed meaning sets A, B and phi's weight instead
        (``Root.initial_recurrence``; dense A only)."""
        factory = {"dtype": self.B.dtype, "device": self.B.device}
        with torch.no_grad():
            eigenvalues = initial_eigenvalues(self.config.transition_init, self.d_theta, **factory)  # (D,) or None
            if self.transition is None:
                eye = torch.eye(self.d_theta, **factory)
                self.set_transition(eye if eigenvalues is None else torch.diag(eigenvalues))
            else:
                self.transition.reset_parameters(eigenvalues)
            nn.init.zeros_(self.B)
            if self.config.final_activation == "dtanh":
                self.dtanh.copy_(torch.tensor(self.config.dtanh_init, dtype=self.B.dtype))
            fresh = self.root.initial_theta(dtype=self.B.dtype, device=self.B.device)
            if self.config.theta0 == "learned":
                self.theta_init.copy_(fresh)
            else:
                for layer in [*self.hypernet.hidden, self.hypernet.out]:
                    layer.reset_parameters()
                self.hypernet.out.bias.copy_(fresh)
            recurrence = self.root.initial_recurrence(self.config.drive_channels, self.B.dtype, self.B.device)
            if recurrence is not None:
                A, B, phi = recurrence
                self.set_transition(A)
                self.B.copy_(B)
                self.hypernet.out.weight.copy_(phi)

    def set_transition(self, A: Tensor) -> None:
        """Sets the dense transition to A ``(D, D)`` (through ``transition_norm``'s parametrisation, if any)."""
        if self.transition is not None:
            raise ValueError(f"set_transition: transition={self.config.transition!r} is not a dense A")
        if parametrize.is_parametrized(self, "A"):
            self.A = A
        else:
            self.A.copy_(A)

    # ----- the pieces of Eq. 1 and the decoder ---------------------------------------------------

    def transition_operator(self) -> Operator:
        """A of Eq. 1 as an ``Operator``: the dense ``A`` (through its parametrisation, computed once per
        call) or the structured transition's factors. Read once per pass."""
        return Dense(self.A) if self.transition is None else self.transition.operator()

    @property
    def theta0_rank(self) -> int:
        """H, the width of the features h in ``theta0_parts`` (0 for a learned theta_0)."""
        return 0 if self.config.theta0 == "learned" else self.hypernet.out.in_features

    def theta0_parts(self, x0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """theta_0 as ``h W^T + b``: h ``(batch, H)``, W ``(D, H)``, b ``(D,)`` (H = 0 when learned).

        x0: ``(batch, C)``; phi reads its state channels only (``WarpConfig.key_channels``)."""
        if self.config.theta0 == "learned":
            return x0.new_zeros(x0.shape[0], 0), self.theta_init.new_zeros(self.d_theta, 0), self.theta_init
        h = self.hypernet.features(x0[:, : self.config.state_channels])
        return h, self.hypernet.out.weight, self.hypernet.out.bias

    def theta0(self, x0: Tensor) -> Tensor:
        """theta_0 = phi(x_0). x0: ``(batch, C)`` -> ``(batch, D)``."""
        h, W, b = self.theta0_parts(x0)
        return h @ W.T + b

    def drive(self, diff: Tensor, steps: Tensor, lengths: Tensor) -> Tensor:
        """The driving difference dx: the state channels of diff ``(batch, T, C)``, with tau's increment
        appended when tau is a channel. steps: ``(T,)`` step indices; lengths ``(batch,)``. Returns
        ``(batch, T, C')``."""
        diff = diff[..., : self.config.state_channels]
        if not self.config.time_as_channel:
            return diff
        dtau = (steps > 0).to(diff.dtype) / self.time_span(lengths).to(diff.dtype)  # (batch, T)
        return torch.cat([diff, dtau.unsqueeze(-1)], dim=-1)

    def time_span(self, lengths: Tensor) -> Tensor:
        """What tau is normalised by, ``(batch, 1)``: ``tau_t = t / span``. ``warp.time_scale`` where set (fixed
        by the trained model: a forecast's time input does not depend on its horizon), else each sequence's
        length minus one (the paper's ``t / (T - 1)``). lengths: ``(batch,)``."""
        if self.config.time_scale is None:
            return lengths[:, None] - 1
        return torch.full_like(lengths[:, None], self.config.time_scale)

    def root_input(self, steps: Tensor, lengths: Tensor, fed: Tensor) -> Tensor:
        """The root's input for the outputs at ``steps`` (predicting steps + 1).

        Args:
            steps: ``(T,)`` step indices t. lengths: ``(batch,)``. fed: ``(batch, T, C)`` values fed at t.

        Returns:
            ``(batch, T, in_features)``: tau_{t+1} = (t+1)/span (``time_span``; or the key, the last
            ``key_channels`` channels of x_t), then the time step 1/span when the root reads it
            (``Root.reads_step``), then the positional encoding of t+1, then x_t, as the config asks.
        """
        target = (steps + 1).to(fed.dtype)  # (T,)
        span = self.time_span(lengths).to(fed.dtype)  # (batch, 1)
        if self.config.key_channels:
            parts = [fed[..., -self.config.key_channels :]]
        else:
            parts = [(target / span).unsqueeze(-1)]  # tau (batch, T, 1)
        if self.root.reads_step:
            parts.append((1 / span).unsqueeze(-1).expand(-1, fed.shape[1], -1))  # dt (batch, T, 1)
        n = self.config.positional_encoding
        if n:
            freqs = 10000.0 ** (-torch.arange(n, device=fed.device, dtype=fed.dtype) / n)
            angles = target[:, None] * freqs  # (T, n)
            pe = torch.cat([angles.sin(), angles.cos()], dim=-1)
            parts.append(pe.expand(fed.shape[0], -1, -1))
        if self.config.input_prev_obs:
            parts.append(fed)
        return torch.cat(parts, dim=-1)

    def decode(self, theta: Tensor, steps: Tensor, lengths: Tensor, fed: Tensor) -> Tensor:
        """The root's raw output: theta ``(batch, T, D)`` -> ``(batch, T, out_features)``, one batched call.

        The root runs time-major: the fast modes store theta as ``(T, batch, D)``, where every (t, b)
        weight of the root is a view of theta and nothing is copied.
        """
        inputs = self.root_input(steps, lengths, fed)  # (batch, T, in_features)
        return self.root(theta.transpose(0, 1), inputs.transpose(0, 1)).transpose(0, 1)

    def mean(self, raw: Tensor) -> Tensor:
        """The predicted mean (``heads.mean``)."""
        return heads.mean(self.config, raw)

    def std(self, raw: Tensor) -> Tensor:
        """The predicted standard deviation (``heads.std``)."""
        return heads.std(self.config, raw)

    def feedback(self, raw: Tensor, noise: Tensor | None, x: Tensor) -> Tensor:
        """The value an autoregressive step feeds in place of the data ``x`` ``(..., C)``: the prediction
        (``heads.feedback``), with the covariates' data (``heads.with_covariates``)."""
        return heads.with_covariates(self.config, heads.feedback(self.config, raw, noise), x)

    # ----- public entry points -------------------------------------------------------------------

    def forward(
        self,
        x: Tensor,
        lengths: Tensor | None = None,
        *,
        context: int | None = None,
        teacher_forcing: float | None = None,
        mode: Mode = "scan",
        generator: torch.Generator | None = None,
    ) -> WarpOutput:
        """Runs WARP over whole sequences.

        Teacher-forced (the default) feeds the data at every step. Giving ``context`` L or
        ``teacher_forcing`` p makes it autoregressive: steps < L (default 1) are fed the data; later
        steps the previous step's prediction, or the data with probability p (default 0).

        Args:
            x: ``(batch, T, C)`` sequences.
            lengths: ``(batch,)`` valid lengths for padded batches; padding never changes the valid part.
            context: L in [1, T], autoregressive mode.
            teacher_forcing: p in [0, 1], autoregressive mode.
            mode: ``scan``, ``conv`` or ``reference`` (teacher-forced); ``scan`` or ``reference``
                (autoregressive); ``auto`` picks the fastest (``recurrence.fastest``) and logs its choice.
                All give the same result (see ``recurrence`` and ``rollout``).
            generator: random source for the teacher-forcing draws and sampled feedback.

        Returns:
            ``WarpOutput``; ``mean[:, t]`` predicts ``x[:, t + 1]``.
        """
        lengths = check_sequence(x, self.config.in_channels, lengths, self.B.dtype)
        batch, T, C = x.shape
        check_memory(
            f"the states theta of {batch} sequences of {T} steps (D_theta = {self.d_theta})",
            batch * T * self.d_theta * x.element_size(),
            x.device,
            "use smaller batches or shorter sequences",
        )
        steps = torch.arange(T, device=x.device)
        valid = steps < lengths[:, None]  # (batch, T)
        x = x.masked_fill(~valid.unsqueeze(-1), 0.0)
        if self.norm_steps is not None:
            x, loc, scale = instance_norm.normalise(x, lengths, valid, self.norm_steps, self.config.instance_norm)
        autoregressive = context is not None or teacher_forcing is not None
        theirs = self.choices != OURS  # the authors' semantics (warprnn.authors)
        if autoregressive:
            feed_truth, noise = heads.feeding(self.config, x, context, teacher_forcing, generator)  # (batch, T)
            check_choice("mode", mode, AUTOREGRESSIVE_MODES)
            if mode == "auto":
                mode = recurrence.fastest(batch, T, self.d_theta, None, self.config.transition)
            run = rollout.reference if mode == "reference" else rollout.autoregressive
            run = authors.rollout if theirs else run
            with full_precision(x):
                theta, raw = run(self, x, lengths, feed_truth, noise)  # theta zero past each length
        else:
            check_choice("mode", mode, TEACHER_FORCED_MODES)
            clip = self.config.theta_clip
            if clip is not None and mode == "conv":
                raise InputError(f"mode='conv': theta_clip={clip} makes the recurrence non-linear; use 'scan'")
            if mode == "auto" and clip is not None:
                mode = "scan"
            if mode == "auto":
                # the kernel's columns: B's, and theta_0's (see recurrence.initial_columns)
                columns = self.config.drive_channels + min(self.theta0_rank + 1, batch)
                mode = recurrence.fastest(batch, T, self.d_theta, columns, self.config.transition)
            if theirs:
                with full_precision(x):
                    theta, raw = authors.teacher_forced(self, x, lengths, valid, mode)
            elif mode == "reference":
                with full_precision(x):
                    theta, raw = rollout.reference(self, x, lengths, torch.ones_like(valid), None)
            else:
                with full_precision(x):
                    dx = self.drive(recurrence.differences(x), steps, lengths)  # (batch, T, C')
                    if mode == "scan":
                        theta0 = self.theta0(x[:, 0])
                        theta = recurrence.scan(
                            self.transition_operator(), self.B, theta0, dx, valid, self.config.theta_clip
                        )
                    else:
                        parts = self.theta0_parts(x[:, 0])
                        theta = recurrence.convolve(self.transition_operator(), self.B, parts, dx, valid)
                raw = self.decode(theta, steps, lengths, x)  # the root network: in autocast's type, if any
        if theirs:
            out = authors.output(self, raw, theta, valid, lengths)
        else:
            out = heads.sequence_output(self.config, raw, theta, valid, lengths)
        return out if self.norm_steps is None else instance_norm.denormalise(out, loc, scale, valid)

    def init_state(self, batch_size: int, seq_len: int) -> WarpState:
        """An empty streaming state for ``batch_size`` sequences of length ``seq_len`` (for tau)."""
        if not isinstance(seq_len, int) or seq_len < 2:
            raise InputError(f"seq_len: expected an integer >= 2, got {seq_len!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
        instance_norm.check_streamable(self.norm_steps)
        lengths = torch.full((batch_size,), seq_len, dtype=torch.long, device=self.B.device)
        return WarpState(theta=None, fed=None, t=0, lengths=lengths)

    def step(self, x_t: Tensor, state: WarpState) -> tuple[WarpOutput, WarpState]:
        """One step of Eq. 1: feeds ``x_t`` ``(batch, C)``; the output predicts the next value.

        Returns:
            ``WarpOutput`` without the time axis (``logits`` are this step's) and the new state.
        """
        batch = state.lengths.shape[0]
        if not isinstance(x_t, Tensor) or x_t.shape != (batch, self.config.in_channels):
            shape = tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__
            raise InputError(f"x_t: expected shape ({batch}, {self.config.in_channels}), got {shape}")
        check_dtype("x_t", x_t, self.B.dtype)
        if not torch.isfinite(x_t).all():
            raise InputError("x_t: contains NaN or Inf")
        if state.t >= int(state.lengths[0]):
            raise InputError(f"state: all {int(state.lengths[0])} steps of seq_len have been taken")
        if self.choices != OURS:  # the authors' semantics (warprnn.authors)
            theta, raw, new_state = authors.step(self, x_t, state)
            return authors.output(self, raw, theta), new_state
        steps = torch.tensor([state.t], device=x_t.device)
        if state.t == 0:
            theta = self.theta0(x_t)
        else:
            dx = self.drive((x_t - state.fed).unsqueeze(1), steps, state.lengths)[:, 0]
            theta = self.transition_operator().apply(state.theta) + dx @ self.B.T  # dense: theta A^T + dx B^T
            if self.config.theta_clip is not None:
                theta = theta.clamp(-self.config.theta_clip, self.config.theta_clip)
        raw = self.decode(theta.unsqueeze(1), steps, state.lengths, x_t.unsqueeze(1))[:, 0]
        new_state = WarpState(theta=theta, fed=x_t, t=state.t + 1, lengths=state.lengths)
        return heads.step_output(self.config, raw, theta), new_state
