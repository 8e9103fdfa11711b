"""Root networks: the batched MLP equals nn.Linear layers; WARP-Phys roots reproduce their families."""

import math

import pytest
import torch
from torch import nn

from warprnn import WARP, MLPRoot, MSDOscillatorRoot, MSDRoot, SineRoot, WarpConfig
from warprnn.data.synthetic import MSD_TEST_RANGES, mass_spring_damper
from warprnn.physics import damped_oscillator
from warprnn.roots import activation, mlp_ref


@pytest.mark.parametrize("act", ["relu", "tanh", "swish", "softplus", "sin", "identity"])
def test_mlp_root_matches_linear_layers(act):
    torch.manual_seed(0)
    root = MLPRoot(3, 2, width=5, depth=2, act=act)
    theta = torch.randn(4, 6, root.num_params, dtype=torch.float64)  # a different theta per (batch, time)
    inputs = torch.randn(4, 6, 3, dtype=torch.float64)
    out = root(theta, inputs)
    assert out.shape == (4, 6, 2)
    for b in range(4):
        for t in range(6):
            layers, start = [], 0
            for out_f, in_f in [(5, 3), (5, 5), (2, 5)]:  # documented layout: weight row-major, then bias
                lin = nn.Linear(in_f, out_f, dtype=torch.float64)
                lin.weight.data = theta[b, t, start : start + out_f * in_f].view(out_f, in_f)
                start += out_f * in_f
                lin.bias.data = theta[b, t, start : start + out_f]
                start += out_f
                layers.append(lin)
            f = activation(act)
            h = f(layers[0](inputs[b, t]))
            h = f(layers[1](h))
            torch.testing.assert_close(out[b, t], layers[2](h), rtol=0, atol=1e-12)
    assert start == root.num_params


@pytest.mark.parametrize("act", ["relu", "tanh", "swish", "softplus", "sin", "identity"])
@pytest.mark.parametrize("theta_lead, input_lead", [((4, 6), (4, 6)), ((6, 4), (6, 1)), ((4, 1), (4, 5))])
def test_mlp_root_gradients_match_plain_autograd(theta_lead, input_lead, act):
    """``PerSampleMLP`` (its hand-written backward, ``mlp_vjp``) against ``mlp_ref`` (autograd through
    ``torch.matmul``), every activation, leading dims broadcasting."""
    torch.manual_seed(0)
    root = MLPRoot(3, 2, width=5, depth=2, act=act)
    theta = torch.randn(*theta_lead, root.num_params, dtype=torch.float64, requires_grad=True)
    inputs = torch.randn(*input_lead, 3, dtype=torch.float64, requires_grad=True)
    h = mlp_ref(root, theta, inputs)
    out = root(theta, inputs)
    torch.testing.assert_close(out, h, rtol=0, atol=1e-12)
    weights = torch.randn_like(out)
    for g_fast, g_plain in zip(
        torch.autograd.grad((out * weights).sum(), [theta, inputs]),
        torch.autograd.grad((h * weights).sum(), [theta, inputs]),
    ):
        torch.testing.assert_close(g_fast, g_plain, rtol=0, atol=1e-10)


def test_mlp_initial_theta_matches_linear_init_bounds():
    torch.manual_seed(0)
    root = MLPRoot(1, 1, width=64, depth=1)
    theta = root.initial_theta()
    first, second = theta[:128], theta[128:]
    assert first.abs().max() <= 1.0 and first.abs().max() > 0.9  # U(-1, 1): fan-in 1
    assert second.abs().max() <= 1 / 8 and second.abs().max() > 0.1  # U(-1/8, 1/8): fan-in 64


def rk4_damped_oscillator(m, k, c, x0, v0, times, substeps=50):
    """A plain fixed-step RK4 solve of m x'' + c x' + k x = 0 on the uniform grid ``times``, float64."""

    def f(s):
        return torch.stack([s[1], -(c * s[1] + k * s[0]) / m])

    state = torch.stack([x0, v0])
    out = []
    dt = (times[1] - times[0]).item() / substeps
    for i in range((len(times) - 1) * substeps + 1):
        if i % substeps == 0:
            out.append(state)
        k1 = f(state)
        k2 = f(state + dt / 2 * k1)
        k3 = f(state + dt / 2 * k2)
        k4 = f(state + dt * k3)
        state = state + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return torch.stack(out, dim=-1)  # (2, batch, T)


def test_msd_root_matches_ode_solve():
    gen = torch.Generator().manual_seed(0)
    n = 16
    m = torch.empty(n, dtype=torch.float64).uniform_(0.01, 0.05, generator=gen)
    k = torch.empty(n, dtype=torch.float64).uniform_(2, 18, generator=gen)
    c = torch.empty(n, dtype=torch.float64).uniform_(0.01, 0.3, generator=gen)
    m[0], k[0], c[0] = 0.01, 2.0, 0.3  # overdamped: c^2 > 4 m k
    x0 = 1 + torch.empty(n, dtype=torch.float64).uniform_(-0.5, 0.5, generator=gen)
    v0 = torch.empty(n, dtype=torch.float64).uniform_(-0.5, 0.5, generator=gen)
    times = torch.linspace(0, 1, 101, dtype=torch.float64)
    truth = rk4_damped_oscillator(m, k, c, x0, v0, times)  # (2, n, T)
    theta = torch.stack([m.log(), k.log(), c.log(), x0, v0], dim=-1)  # (n, 5)
    out = MSDRoot(2)(theta[:, None, :], times[None, :, None].expand(n, -1, 1))  # (n, T, 2)
    torch.testing.assert_close(out.permute(2, 0, 1), truth, rtol=0, atol=1e-8)
    assert (c[0] ** 2 > 4 * m[0] * k[0]) and (c[1:] ** 2 < 4 * m[1:] * k[1:]).any()


def phys_model(root: str, theta0: torch.Tensor, channels: int) -> WARP:
    config = WarpConfig(in_channels=channels, root=root, theta0="learned", input_prev_obs=root == "msd-oscillator")
    model = WARP(config, dtype=torch.float64)
    with torch.no_grad():
        model.theta_init.copy_(theta0)
    return model


def test_msd_warp_phys_reproduces_family_from_correct_state():
    """A = I, B = 0 and theta_0 = (log m, log k, log c, x0, v0): every prediction is the next true value."""
    T = 256
    times = torch.linspace(0, 1, T, dtype=torch.float64)
    for m, k, c in [(0.02, 4.0, 0.01), (0.04, 16.0, 0.2), (0.01, 2.0, 0.3)]:
        m, k, c = (torch.tensor(v, dtype=torch.float64) for v in (m, k, c))
        theta0 = torch.stack([m.log(), k.log(), c.log(), torch.tensor(1.0).double(), torch.tensor(0.0).double()])
        truth = rk4_damped_oscillator(
            m, k, c, torch.tensor(1.0).double(), torch.tensor(0.0).double(), times
        ).T.unsqueeze(0)  # (1, T, 2)
        pred = phys_model("msd", theta0, 2)(truth).mean
        mse = ((pred[:, :-1] - truth[:, 1:]) ** 2).mean()
        assert mse < 1e-6


def test_msd_oscillator_reproduces_family_from_correct_state():
    """The paper's WARP-Phys root, on trajectories of the MSD generator (test ranges, one overdamped): with
    A = I, B = 0 and theta_0 = (log k/m, log c/m), fed the true states (x_t, v_t), every prediction is the
    next true state, against an independent RK4 solve; the forecast from the first state alone stays on
    the trajectory; the generator's own float32 states are stepped to within their rounding; the
    mid-range initial theta of another oscillator is far off."""
    T = 256
    states, params = mass_spring_damper(6, T, generator=torch.Generator().manual_seed(0), **MSD_TEST_RANGES)
    params[0] = torch.tensor([0.01, 2.0, 0.3], dtype=torch.float64)  # overdamped: c^2 > 4 m k
    times, one = torch.linspace(0, 1, T, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    for i, (m, k, c) in enumerate(params):
        truth = rk4_damped_oscillator(m, k, c, one, 0 * one, times).T.unsqueeze(0)  # (1, T, 2)
        model = phys_model("msd-oscillator", torch.stack([(k / m).log(), (c / m).log()]), 2)
        torch.testing.assert_close(model(truth).mean[:, :-1], truth[:, 1:], rtol=0, atol=1e-10)
        torch.testing.assert_close(model(truth, context=1).mean[:, :-1], truth[:, 1:], rtol=0, atol=1e-10)
        if i > 0:  # the generator's states, drawn from (1, 0) with these parameters
            drawn = states[i : i + 1].double()
            torch.testing.assert_close(model(drawn).mean[:, :-1], drawn[:, 1:], rtol=0, atol=1e-5)
        untrained = phys_model("msd-oscillator", MSDOscillatorRoot(2).initial_theta(torch.float64), 2)
        assert ((untrained(truth, context=1).mean[:, :-1] - truth[:, 1:]) ** 2).mean() > 1e-2


def test_sine_warp_phys_reproduces_family_from_correct_state():
    T = 16
    t = torch.linspace(0, 1, T, dtype=torch.float64)
    for phase in torch.linspace(-math.pi / 6, math.pi / 6, 5, dtype=torch.float64):
        truth = torch.sin(2 * math.pi * t + phase).view(1, T, 1)
        pred = phys_model("sine", phase.view(1), 1)(truth).mean
        assert ((pred[:, :-1] - truth[:, 1:]) ** 2).mean() < 1e-6
        wrong = phys_model("sine", phase.view(1) + 0.3, 1)(truth).mean
        assert ((wrong[:, :-1] - truth[:, 1:]) ** 2).mean() > 1e-3


def test_sine_root_is_phase_shifted_sine():
    root = SineRoot(2, frequency=3.0)
    tau = torch.rand(7, 1, dtype=torch.float64)
    theta = torch.tensor([0.1, -0.4], dtype=torch.float64).expand(7, 2)
    torch.testing.assert_close(root(theta, tau), torch.sin(6 * math.pi * tau + theta))


def test_damped_oscillator_stays_finite_when_strongly_overdamped():
    """A large damping rate gamma = c / 2m would overflow cosh(kappa t) alone; the solution itself decays."""
    t = torch.linspace(0, 1, 64)
    x, v = damped_oscillator(
        t, torch.tensor(1e-4), torch.tensor(1.0), torch.tensor(1.0), torch.tensor(1.0), torch.tensor(0.0)
    )
    assert torch.isfinite(x).all() and torch.isfinite(v).all()
    assert x[-1].abs() <= 1.0


def test_damped_oscillator_is_exact_at_and_near_critical_damping():
    """m = 1/4, k = 4: c = 2 is critical (c^2 = 4 m k exactly in floating point), c = 2.0002 just overdamped.
    Against an RK4 solve, in float64 and float32: evaluated as (e^{-(gamma - kappa) t} - e^{-(gamma + kappa) t})
    / 2 kappa, the overdamped S lost everything at kappa = 0 and most digits at small kappa t."""
    t = torch.linspace(0, 1, 33, dtype=torch.float64)
    m, k, x0, v0 = (torch.tensor(v, dtype=torch.float64) for v in (0.25, 4.0, 1.0, -2.0))
    for c in (torch.tensor(2.0, dtype=torch.float64), torch.tensor(2.0002, dtype=torch.float64)):
        truth = rk4_damped_oscillator(m, k, c, x0, v0, t, substeps=20)  # (2, T)
        for dtype, tol in ((torch.float64, 1e-9), (torch.float32, 1e-6)):
            x, v = damped_oscillator(*(a.to(dtype) for a in (t, m, k, c, x0, v0)))
            torch.testing.assert_close(torch.stack([x, v]).double(), truth, rtol=0, atol=tol)


def msd_batch() -> torch.Tensor:
    """16 MSD trajectories of the training ranges, 256 steps, float64: ``(16, 256, 2)``."""
    data, _ = mass_spring_damper(
        16, 256, m=(0.01, 0.05), k=(2, 18), c=(0.01, 0.3), generator=torch.Generator().manual_seed(0)
    )
    return data.double()


def test_msd_moments_root_identifies_the_oscillator_without_training():
    """The physics-built recurrence (A, B, phi from ``initial_recurrence``) forecasts MSD trajectories of
    unseen parameters after a 100-step context to within 1% of their mean square; with A = I and B = 0 instead, the moments are never
    formed and the forecast is far off."""
    data = msd_batch()
    config = WarpConfig(in_channels=2, root="msd-moments", hypernet_depth=0)
    model = WARP(config, dtype=torch.float64)
    teacher_forced = model(data, mode="scan").mean
    assert ((teacher_forced[:, 99:-1] - data[:, 100:]) ** 2).mean() < 1e-4
    forecast = model(data, context=100).mean
    good = ((forecast[:, 99:-1] - data[:, 100:]) ** 2).mean()
    assert good < 0.01 * (data[:, 100:] ** 2).mean()  # within 1% of the forecast's mean square
    with torch.no_grad():
        model.A.copy_(torch.eye(model.d_theta, dtype=torch.float64))
        model.B.zero_()
    assert ((model(data, context=100).mean[:, 99:-1] - data[:, 100:]) ** 2).mean() > 100 * good


def test_msd_moments_forecast_stays_finite_when_b_and_phi_move():
    """WARP-Phys fine-tunes B and phi. When theta also held tau and the root read dt as tau_{t+1} minus it,
    moving them by 1e-4 (a few epochs at the rate of ``warprnn reproduce dsr``) shifted that tau by more
    than a step somewhere in the batch, and the forecast was NaN; dt is now the root input's step."""
    data = msd_batch()
    model = WARP(WarpConfig(in_channels=2, root="msd-moments", hypernet_depth=0), dtype=torch.float64)
    good = ((model(data, context=100).mean[:, 99:-1] - data[:, 100:]) ** 2).mean()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for weight in (model.B, model.hypernet.out.weight):
            weight.add_(1e-4 * torch.randn(weight.shape, generator=gen, dtype=weight.dtype))
    moved = ((model(data, context=100).mean[:, 99:-1] - data[:, 100:]) ** 2).mean()
    assert torch.isfinite(moved) and moved < 10 * good
