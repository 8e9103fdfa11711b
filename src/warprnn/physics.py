"""WARP-Phys roots (paper Sec. 3.3): physical forms whose parameters are the state theta.

- ``SineRoot``: a phase-shifted sine of tau.
- ``MSDRoot``: the damped oscillator (``damped_oscillator``) with theta = (log m, log k, log c, x0, v0).
- ``MSDMomentsRoot``: a mass-spring-damper root whose state holds moments of the trajectory, from which
  it identifies the oscillator and steps it forward.
- ``MSDOscillatorRoot``: the paper's design, the oscillator with theta = (log k/m, log c/m) stepped forward
  from the latest fed observation.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .roots import Root


class SineRoot(Root):
    """WARP-Phys phase root: ``tau -> sin(2 pi f tau + phase)``, one phase per channel.

    theta is the phase vector ``(channels,)``; the frequency f is fixed by the config.
    """

    in_features = 1

    def __init__(self, channels: int, frequency: float = 1.0):
        super().__init__()
        self.out_features = self.num_params = channels
        self.frequency = frequency

    def initial_theta(self, dtype=None, device=None) -> Tensor:
        """theta_0 before the hypernetwork: zero phases ``(channels,)``."""
        return torch.zeros(self.num_params, dtype=dtype, device=device)

    def forward(self, theta: Tensor, inputs: Tensor) -> Tensor:
        """``sin(2 pi f tau + theta)`` per channel: theta ``(..., channels)``, inputs ``(..., in)`` -> ``(..., channels)``."""
        return torch.sin(2 * math.pi * self.frequency * inputs[..., :1] + theta)


def damped_oscillator(t: Tensor, m: Tensor, k: Tensor, c: Tensor, x0: Tensor, v0: Tensor) -> tuple[Tensor, Tensor]:
    """Exact solution of ``m x'' + c x' + k x = 0`` with ``x(0) = x0``, ``x'(0) = v0``.

    With ``gamma = c / (2m)`` and ``w2 = k/m - gamma^2``, ``x = x0 C + (v0 + gamma x0) S`` where
    ``C = e^{-gamma t} cos(w t)``, ``S = e^{-gamma t} sin(w t)/w`` when underdamped (w2 > 0) and, with
    ``kappa^2 = -w2`` when overdamped, ``C = e^{-gamma t} cosh(kappa t)``, ``S = e^{-gamma t} sinh(kappa t)/kappa``,
    evaluated from ``e^{(kappa - gamma) t}`` and ``e^{-2 kappa t}`` (both at most 1, as kappa < gamma), so that a
    large gamma cannot overflow, and S with ``expm1``, so that it stays exact as kappa -> 0 (critical damping,
    where ``S = t e^{-gamma t}``); then ``v = -gamma x + (v0 + gamma x0) C - x0 w2 S``.
    All arguments broadcast. Returns position and velocity.
    """
    gamma = c / (2 * m)
    w2 = k / m - gamma**2
    under = w2 > 0
    w = torch.sqrt(torch.where(under, w2, torch.ones_like(w2)))
    kappa = torch.sqrt(torch.where(under, torch.ones_like(w2), -w2).clamp_min(1e-30))
    slow, gap = torch.exp((kappa - gamma) * t), torch.expm1(-2 * kappa * t)  # e^{-(kappa+gamma) t} = slow (1 + gap)
    decay = torch.exp(-gamma * t)
    cos_part = torch.where(under, decay * torch.cos(w * t), slow * (1 + gap / 2))
    sin_part = torch.where(under, decay * torch.sin(w * t) / w, slow * -gap / (2 * kappa))
    a = v0 + gamma * x0
    x = x0 * cos_part + a * sin_part
    v = -gamma * x + a * cos_part - x0 * w2 * sin_part
    return x, v


class MSDRoot(Root):
    """WARP-Phys mass-spring-damper root: the damped oscillator read at time tau.

    theta = ``(log m, log k, log c, x0, v0)``. The output is the position x, or (x, v) with two channels.
    """

    in_features = 1
    num_params = 5

    def __init__(self, channels: int):
        super().__init__()
        self.out_features = channels

    def initial_theta(self, dtype=None, device=None) -> Tensor:
        """The paper's mid-range oscillator, ``(5,)``: log m, log k, log c, x0, v0."""
        # Mid-range physical values of the paper's MSD data: m = 0.03, k = 10, c = 0.1, x0 = 1, v0 = 0.
        values = [math.log(0.03), math.log(10.0), math.log(0.1), 1.0, 0.0]
        return torch.tensor(values, dtype=dtype or torch.get_default_dtype(), device=device)

    def forward(self, theta: Tensor, inputs: Tensor) -> Tensor:
        """(x, v) at time tau of the oscillator in theta ``(..., 5)``: ``(..., out_features)``."""
        m, k, c = theta[..., 0:1].exp(), theta[..., 1:2].exp(), theta[..., 2:3].exp()
        x, v = damped_oscillator(inputs[..., :1], m, k, c, theta[..., 3:4], theta[..., 4:5])
        return torch.cat([x, v], dim=-1)[..., : self.out_features]


class MSDMomentsRoot(Root):
    """WARP-Phys mass-spring-damper root that identifies the oscillator from moments held in theta.

    With ``w2 = k/m`` and ``g2 = c/m``, the equation ``v' = -w2 x - g2 v`` weighted by ``e^{-mu (t-s)}``
    and integrated over s in [0, t] gives, for each rate mu, one equation linear in (w2, g2):

        w2 X + g2 (x - e^{-mu t} x_0 - mu X) = mu V + e^{-mu t} v_0 - v,

    with the leaky integrals ``X = int e^{-mu (t-s)} x(s) ds`` and V the same of v. All of them are linear
    in the trajectory, so Eq. 1 maintains them exactly (``initial_recurrence``: trapezoidal sums, decay
    ``lambda`` per step, ``mu = -log(lambda) / dt``). The root solves the equations of all rates for
    (w2, g2) by least squares (a tiny Tikhonov term keeps the solve defined at t = 0, where every
    moment is zero), then steps the observed state (x, v) forward by the exact flow over dt.

    theta = ``(x, v, then for each decay lambda: e^{-mu t} x_0, e^{-mu t} v_0, X / dt, V / dt)``; the
    integrals are kept in units of steps, and dt is the root input's time step (``reads_step``: the root
    input is ``(tau_{t+1}, dt)``), not a difference of taus held in theta, which B and phi would move as they
    train. Needs both channels (x, v). Unlike ``MSDRoot``, whose theta must hold (m, k, c) themselves,
    nothing here asks a linear recurrence for a non-linear function of the data: the identification is the
    root's.
    """

    in_features = 2
    out_features = 2
    reads_step = True
    RIDGE = 1e-9

    def __init__(self, channels: int, decays: tuple[float, ...] = (0.98, 0.9)):
        super().__init__()
        if channels != 2:  # checked here, not in WarpConfig: the harness sets the channels from the data
            raise ValueError(f"in_channels: root='msd-moments' reads and predicts (x, v), so 2, got {channels}")
        self.decays = decays
        self.num_params = 2 + 4 * len(decays)

    def initial_theta(self, dtype=None, device=None) -> Tensor:
        """theta_0 before phi: zeros ``(D,)`` (phi copies x_0 and v_0 in)."""
        return torch.zeros(self.num_params, dtype=dtype, device=device)  # phi adds x_0 and v_0

    def initial_recurrence(self, drive_channels, dtype=None, device=None):
        """The fixed A, B and phi that keep the trajectory's moments in theta (see the class)."""
        D, factory = self.num_params, {"dtype": dtype, "device": device}
        A, B, phi = torch.eye(D, **factory), torch.zeros(D, drive_channels, **factory), torch.zeros(D, 2, **factory)
        B[0, 0] = B[1, 1] = 1.0  # x, v: running sums of their differences
        phi[0, 0] = phi[1, 1] = 1.0
        for i, decay in enumerate(self.decays):
            o = 2 + 4 * i
            for j in range(2):  # j = 0: x, 1: v
                A[o + j, o + j] = decay  # e^{-mu t} x_0: starts at x_0 and decays
                phi[o + j, j] = 1.0
                A[o + 2 + j, o + 2 + j] = decay  # X_t = lambda X_{t-1} + (lambda x_{t-1} + x_t) / 2
                A[o + 2 + j, j] = (decay + 1) / 2
                B[o + 2 + j, j] = 0.5
        return A, B, phi

    def forward(self, theta: Tensor, inputs: Tensor) -> Tensor:
        """(x, v) one step ahead from the moments in theta ``(..., D)``: ``(..., 2)``."""
        x, v, dt = theta[..., 0], theta[..., 1], inputs[..., 1]
        n11 = n12 = n22 = b1 = b2 = 0.0  # normal equations of the least squares for (w2, g2)
        for i, decay in enumerate(self.decays):
            x0, v0, X, V = theta[..., 2 + 4 * i : 6 + 4 * i].unbind(-1)
            X, V, mu = X * dt, V * dt, -math.log(decay) / dt
            a1, a2, r = X, x - x0 - mu * X, mu * V + v0 - v
            n11, n12, n22 = n11 + a1 * a1, n12 + a1 * a2, n22 + a2 * a2
            b1, b2 = b1 + a1 * r, b2 + a2 * r
        n11, n22 = n11 + self.RIDGE, n22 + self.RIDGE
        det = n11 * n22 - n12 * n12
        w2, g2 = (n22 * b1 - n12 * b2) / det, (n11 * b2 - n12 * b1) / det
        one = torch.ones_like(w2)
        x_next, v_next = damped_oscillator(dt, one, w2.clamp_min(1e-3), g2.clamp_min(0.0), x, v)
        return torch.stack([x_next, v_next], dim=-1)


class MSDOscillatorRoot(Root):
    """WARP-Phys mass-spring-damper root as the paper builds it (Sec. 3.3): the damped oscillator whose
    physical parameters are theta, integrated over one time step from the latest fed observation.

    theta = ``(log k/m, log c/m)``. Dividing ``m x'' + c x' + k x = 0`` by m shows that the motion depends on
    (m, k, c) only through these two ratios: a theta holding all three would have a direction (scaling
    them together) along which it moves while every prediction stays the same. The logarithms keep the
    ratios positive for any theta and make their spread over the data (k/m from about 40 to 1,800)
    a spread of a few units.

    Root input ``(tau_{t+1}, dt, x_t, v_t)`` (``reads_step`` and ``WarpConfig.input_prev_obs``): the output
    is the exact flow (``damped_oscillator``) of the fed state (x_t, v_t) over ``dt = tau_{t+1} - tau_t =
    1 / (length - 1)``, which is the data's time step for trajectories sampled uniformly on t in [0, 1]
    (every synthetic set here; the physics root left commented out in the authors' code fixes it at
    1/256 instead). tau itself is not read: the oscillator is autonomous. Needs both channels (x, v).
    Shapes: theta ``(..., 2)``, inputs ``(..., 4)`` -> next (x, v) ``(..., 2)``.
    """

    in_features = 4
    out_features = 2
    num_params = 2
    reads_step = True

    def __init__(self, channels: int):
        super().__init__()
        if channels != 2:  # checked here, not in WarpConfig: the harness sets the channels from the data
            raise ValueError(f"in_channels: root='msd-oscillator' reads and predicts (x, v), so 2, got {channels}")

    def initial_theta(self, dtype=None, device=None) -> Tensor:
        """The paper's mid-range oscillator, ``(2,)``: log k/m, log c/m."""
        # The mid-range oscillator of the paper's MSD data (as MSDRoot): m = 0.03, k = 10, c = 0.1.
        values = [math.log(10.0 / 0.03), math.log(0.1 / 0.03)]
        return torch.tensor(values, dtype=dtype or torch.get_default_dtype(), device=device)

    def forward(self, theta: Tensor, inputs: Tensor) -> Tensor:
        """(x, v) one time step after the fed (x_t, v_t) in ``inputs``, by the exact flow: ``(..., 2)``."""
        dt, x, v = inputs[..., 1:2], inputs[..., 2:3], inputs[..., 3:4]  # (..., 1) each
        stiffness, damping = theta[..., 0:1].exp(), theta[..., 1:2].exp()  # k/m and c/m, (..., 1)
        x_next, v_next = damped_oscillator(dt, torch.ones_like(stiffness), stiffness, damping, x, v)
        return torch.cat([x_next, v_next], dim=-1)
