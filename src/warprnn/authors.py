r"""The authors' semantics of WARP (``WarpConfig.semantics = "authors"``): what their JAX code computes.

With the same parameters, the authors' code (github ddrous/warp, ``models.py`` and ``main.py`` at bde9a5d)
and warprnn's default semantics compute different things. The differences are seven choices, each a field
of ``Choices``; ``AUTHORS`` takes their value for all seven, ``OURS`` ours. With ``OURS`` every function
here computes what the default path of ``WARP`` computes (a test checks it), so each choice can be switched
alone. Their two forward modes, in our notation (tau_t = t / (T - 1), theta_{-1} = phi(x_0), dx_0 = 0):

teacher-forced (their ``non_ar_call``: classification, and regression trained without feedback)::

    theta_t = clip(A theta_{t-1} + B dx_t)        for every t >= 0   (choice 3: A applied at t = 0)
    y_t     = root_{theta_t}(tau_t [, x_t])                          (choice 4: tau_t, not tau_{t+1})

autoregressive (their ``ar_call`` and ``ar_call_stochastic``; inference after a context)::

    h_t     = x_0 at t = 0, else the prediction y_{t-1} fed back (its mean, or mean + std * noise_t)
    f_t     = x_t where the data is fed at t, else h_t
    theta_t = clip(A theta_{t-1} + B (f_t - h_{t-1}))                (choice 1: h_{t-1}, not f_{t-1}; h_{-1} = x_0)
    y_t     = root_{theta_t}(s_t [, h_{t-1}])                        (choice 4: s_0 = 0, s_t = tau_{t+1})

so the driving difference subtracts the prediction made two steps earlier, even where the data is fed,
and the root's previous observation (``input_prev_obs``) is that prediction too. In both modes the loss
scores y_t against x_t over all T steps (choice 2: a reconstruction; ours scores y_t against x_{t+1}),
on ``train.loss_steps`` steps drawn with replacement per sequence when set, and evaluation aligns the same
way. The Gaussian head's std is ``max(softplus(s), floor)`` (choice 5), their losses are
``mean(log std + (x - mean)^2 / (2 std^2))`` and ``mean((x - mean)^2) / 2`` (choice 6), and their
hypernetwork's hidden widths are ``int(2/3 C + 1/3 D)``, ``int(1/3 C + 2/3 D)`` (``int(C/2 + D/2)`` with one
layer) with the root's activation (choice 7).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from . import heads, recurrence
from .config import WarpConfig
from .heads import WarpOutput


@dataclass(frozen=True)
class Choices:
    """Where the authors' code and warprnn differ; True takes the authors' value (see the module docstring).

    Attributes:
        drive: autoregressive mode: the driving difference and the root's previous observation use the
            prediction made two steps earlier (theirs) rather than the previous fed value (ours).
        reconstruct: the output at t is scored against x_t over all T steps (theirs), not x_{t+1} (ours).
        transition_first: A (and the clip) is applied to theta_0 before its first decode (theirs).
        root_time: the root reads tau_t when teacher-forced, and 0 at step 0 then tau_{t+1} when
            autoregressive (theirs); tau_{t+1} everywhere (ours).
        std_max: the std is ``max(softplus(s), floor)`` (theirs), not ``softplus(s) + floor`` (ours).
        loss_constants: NLL without ``0.5 log 2 pi`` and MSE halved (theirs).
        hypernet_widths: the hypernetwork's hidden widths truncate ``2/3 C + 1/3 D`` etc. (theirs), not
            round evenly spaced widths (ours).
    """

    drive: bool
    reconstruct: bool
    transition_first: bool
    root_time: bool
    std_max: bool
    loss_constants: bool
    hypernet_widths: bool


OURS = Choices(*[False] * len(dataclasses.fields(Choices)))
AUTHORS = Choices(*[True] * len(dataclasses.fields(Choices)))


def choices_of(config: WarpConfig) -> Choices:
    """The ``Choices`` of ``config.semantics``."""
    return AUTHORS if config.semantics == "authors" else OURS


def model_choices(model) -> Choices:
    """The choices a model runs under: a WARP model's ``choices``, ``OURS`` for every other model."""
    return getattr(model, "choices", OURS)


def hypernet_widths(in_features: int, out_features: int, depth: int) -> list[int]:
    """The authors' hypernetwork hidden widths (their ``GradualMLP``) from C = in_features to D = out_features:
    ``[]``, ``[int(C/2 + D/2)]`` or ``[int(2/3 C + 1/3 D), int(1/3 C + 2/3 D)]`` for depth 0, 1, 2."""
    C, D = in_features, out_features
    return {0: [], 1: [int(0.5 * C + 0.5 * D)], 2: [int(2 / 3 * C + 1 / 3 * D), int(1 / 3 * C + 2 / 3 * D)]}[depth]


def std(config: WarpConfig, choices: Choices, raw: Tensor) -> Tensor:
    """The Gaussian head's std: ``max(softplus(s), floor)`` (``choices.std_max``) or ``heads.std``."""
    if choices.std_max:
        return F.softplus(raw[..., config.in_channels :]).clamp_min(config.std_floor)
    return heads.std(config, raw)


def mean(model, raw: Tensor) -> Tensor:
    """The predicted mean: ``heads.mean``, or their trained ``alpha tanh((m - b) / a) + beta`` with
    ``model.dtanh`` = (a, b, alpha, beta) (``final_activation="dtanh"``)."""
    if model.config.final_activation != "dtanh":
        return heads.mean(model.config, raw)
    a, b, alpha, beta = model.dtanh
    return alpha * torch.tanh((raw[..., : model.config.in_channels] - b) / a) + beta


def feedback(model, raw: Tensor, noise: Tensor | None) -> Tensor:
    """The value fed back: the mean, or ``mean + std * noise`` (``ar_feed="sample"``)."""
    if noise is None:
        return mean(model, raw)
    return mean(model, raw) + std(model.config, model.choices, raw) * noise


def output(model, raw: Tensor, theta: Tensor, valid: Tensor | None = None, lengths: Tensor | None = None) -> WarpOutput:
    """The head's output (``heads.sequence_output``; one step's, ``heads.step_output``, without ``valid``) with
    the mean and std of the authors' semantics (``mean``, ``std``)."""
    config = model.config
    if config.head == "classification":
        if valid is None:
            return heads.step_output(config, raw, theta)
        return heads.sequence_output(config, raw, theta, valid, lengths)
    mu = mean(model, raw)
    sd = std(config, model.choices, raw) if config.head == "gaussian" else None
    if valid is not None:
        keep = valid.unsqueeze(-1)
        mu, sd = mu.masked_fill(~keep, 0.0), None if sd is None else sd.masked_fill(~keep, 0.0)
    return WarpOutput(mean=mu, std=sd, logits=None, theta=theta)


def root_steps(choices: Choices, steps: Tensor, autoregressive: bool) -> Tensor:
    """The steps whose tau_{s+1} the root reads at ``steps`` (``WARP.decode`` reads tau of steps + 1):
    ``steps`` (ours); teacher-forced ``steps - 1`` (tau_t), autoregressive -1 at step 0 (tau = 0) (theirs)."""
    if not choices.root_time:
        return steps
    if autoregressive:
        return torch.where(steps == 0, steps - 1, steps)
    return steps - 1


def initial_state(model, x0: Tensor) -> Tensor:
    """The state the first output decodes: theta_0 = phi(x_0), or ``clip(A theta_0)``
    (``choices.transition_first``; dx_0 = 0). x0 ``(batch, C)`` -> ``(batch, D)``."""
    theta = model.theta0(x0)
    if model.choices.transition_first:
        theta = model.transition_operator().apply(theta)
        clip = model.config.theta_clip
        theta = theta if clip is None else theta.clamp(-clip, clip)
    return theta


def teacher_forced(model, x: Tensor, lengths: Tensor, valid: Tensor, mode: str) -> tuple[Tensor, Tensor]:
    """The teacher-forced mode (their ``non_ar_call``) by ``mode`` ``scan``, ``conv`` or ``reference``.

    x: ``(batch, T, C)``, zero past each length; valid ``(batch, T)``. Returns theta ``(batch, T, D)`` and
    the root's raw output ``(batch, T, out)``.
    """
    steps = torch.arange(x.shape[1], device=x.device)
    dx = model.drive(recurrence.differences(x), steps, lengths)  # (batch, T, C')
    op, clip = model.transition_operator(), model.config.theta_clip
    if mode == "conv":
        h, W, b = model.theta0_parts(x[:, 0])
        if model.choices.transition_first:  # A theta_0 = h (A W)^T + A b
            W, b = op.apply(W.T).T, op.apply(b)
        theta = recurrence.convolve(op, model.B, (h, W, b), dx, valid)
    elif mode == "scan":
        theta = recurrence.scan(op, model.B, initial_state(model, x[:, 0]), dx, valid, clip)
    else:
        theta = recurrence.recurrence_ref(op.matrix(), model.B, initial_state(model, x[:, 0]), dx, valid, clip)
    raw = model.decode(theta, root_steps(model.choices, steps, False), lengths, x)
    return theta, raw


def rollout(model, x: Tensor, lengths: Tensor, feed_truth: Tensor, noise: Tensor | None) -> tuple[Tensor, Tensor]:
    """The autoregressive mode (their ``ar_call``, ``ar_call_stochastic`` and inference), batched, one step
    at a time under autograd.

    Args:
        model: the WARP module. x: ``(batch, T, C)``, zero past each length. lengths: ``(batch,)``.
        feed_truth: ``(batch, T)`` bool, the steps fed the data (their Bernoulli draws, or the context).
        noise: ``(batch, T, C)`` standard normal draws of sampled feedback, ``noise[:, t]`` for the value
            fed back at step t (their draw with step t's key), or None (the mean is fed back).

    Returns:
        theta ``(batch, T, D)`` and the root's raw output ``(batch, T, out)``, zero past each length.
    """
    config, choices = model.config, model.choices
    T, op, clip = x.shape[1], model.transition_operator(), config.theta_clip
    valid = (torch.arange(T, device=x.device) < lengths[:, None]).unsqueeze(-1)  # (batch, T, 1)
    theta = model.theta0(x[:, 0])  # theta_{-1} (authors) or theta_0 (ours)
    hat = prev = x[:, 0]  # hat: h_t, the value fed back at t (h_0 = x_0); prev: what dx_t subtracts
    thetas, raws = [], []
    for t in range(T):
        step = torch.tensor([t], device=x.device)
        if t > 0:
            hat = feedback(model, raws[-1], None if noise is None else noise[:, t])
        fed = torch.where(feed_truth[:, t, None], x[:, t], hat)  # (batch, C)
        if t > 0 or choices.transition_first:
            dx = model.drive((fed - prev).unsqueeze(1), step, lengths)[:, 0]
            theta = op.apply(theta) + dx @ model.B.T
            theta = theta if clip is None else theta.clamp(-clip, clip)
        observed = prev if choices.drive else fed  # h_{t-1} (authors) or f_t (ours)
        time = root_steps(choices, step, True)
        raws.append(model.decode(theta.unsqueeze(1), time, lengths, observed.unsqueeze(1))[:, 0])
        thetas.append(theta)
        prev = hat if choices.drive else fed
    theta, raw = torch.stack(thetas, dim=1), torch.stack(raws, dim=1)
    return theta.masked_fill(~valid, 0.0), raw.masked_fill(~valid, 0.0)


def step(model, x_t: Tensor, state) -> tuple[Tensor, Tensor, object]:
    """One streaming step of the autoregressive mode with the data fed (``WARP.step``).

    x_t: ``(batch, C)``. state: a ``WarpState`` whose ``fed`` holds what the next difference subtracts and
    ``hat`` the prediction of the last step (mean). Returns theta ``(batch, D)``, the raw output and the new
    state.
    """
    config, choices = model.config, model.choices
    step_ = torch.tensor([state.t], device=x_t.device)
    if state.t == 0:
        theta, hat, prev = model.theta0(x_t), x_t, x_t
    else:
        theta, hat, prev = state.theta, state.hat, state.fed
    if state.t > 0 or choices.transition_first:
        dx = model.drive((x_t - prev).unsqueeze(1), step_, state.lengths)[:, 0]
        theta = model.transition_operator().apply(theta) + dx @ model.B.T
        if config.theta_clip is not None:
            theta = theta.clamp(-config.theta_clip, config.theta_clip)
    observed = prev if choices.drive else x_t
    time = root_steps(choices, step_, True)
    raw = model.decode(theta.unsqueeze(1), time, state.lengths, observed.unsqueeze(1))[:, 0]
    new = dataclasses.replace(
        state, theta=theta, fed=hat if choices.drive else x_t, hat=mean(model, raw), t=state.t + 1
    )
    return theta, raw, new
