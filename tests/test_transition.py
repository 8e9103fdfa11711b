"""The transition's parametrisations: the paper's free A unchanged, and ``spectral``, which keeps
``||A||_2 <= 1`` whatever the updates."""

import pytest
import torch

from warprnn import WARP, WarpConfig
from warprnn.training import build, load_experiment
from warprnn.transition import SpectralBound, spectral_norm_ref

TOL = dict(rtol=0, atol=1e-10)


def growth_steps(model, lr=0.5, steps=20, T=64):
    """Adam steps on A alone that reward a growing state: the updates that blow a free A up."""
    optimizer = torch.optim.Adam([p for n, p in model.named_parameters() if n.endswith(("A", "A.original"))], lr=lr)
    x = torch.randn(4, T, model.config.in_channels, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.B.normal_(std=0.1)
    for _ in range(steps):
        loss = -model(x, mode="scan").theta[:, -1].square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_the_papers_free_A_is_unchanged():
    model = WARP(WarpConfig(in_channels=2))
    assert isinstance(model.A, torch.nn.Parameter) and torch.equal(model.A, torch.eye(model.d_theta))
    assert list(model.state_dict())[:2] == ["A", "B"]  # the checkpoints of earlier versions load as they are
    growth_steps(model)
    A = model.A.detach()  # the same updates that the spectral bound contains blow the free A up
    assert not torch.isfinite(A).all() or spectral_norm_ref(A) > 2


def test_spectral_keeps_the_norm_at_most_one_under_large_updates():
    torch.manual_seed(0)
    model = WARP(WarpConfig(in_channels=2, transition_norm="spectral"))
    assert torch.equal(model.A, torch.eye(model.d_theta))  # A = I at initialisation, as the paper's
    growth_steps(model)
    W = model.parametrizations.A.original
    assert spectral_norm_ref(W) > 2  # the free matrix grew ...
    assert spectral_norm_ref(model.A) <= 1 + 1e-3  # ... the transition did not
    out = model(torch.randn(2, 784, 2), mode="scan")
    assert torch.isfinite(out.mean).all() and out.theta.abs().max() < 1e3


def test_power_iteration_finds_the_largest_singular_value():
    W = torch.randn(30, 30, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    bound = SpectralBound(30, iterations=50, dtype=torch.float64)
    A = bound(W)
    torch.testing.assert_close(A, W / spectral_norm_ref(W), rtol=1e-6, atol=0)
    bound.eval()  # evaluation reuses the vector: the same A, and the vector is not moved
    u = bound.u.clone()
    torch.testing.assert_close(bound(W), A, rtol=1e-12, atol=0)
    assert torch.equal(bound.u, u)


@pytest.mark.parametrize("mode", ["scan", "conv", "auto"])
def test_spectral_modes_match_the_reference(mode):
    torch.manual_seed(0)
    model = WARP(WarpConfig(in_channels=2, root_width=6, transition_norm="spectral"), dtype=torch.float64)
    with torch.no_grad():
        W = model.parametrizations.A.original
        W.add_(0.5 * torch.randn_like(W))  # norm above 1: the bound divides
        model.B.normal_(std=0.1)
    model.train()
    model(torch.randn(1, 3, 2, dtype=torch.float64))  # one training pass settles the power iteration
    model.eval()
    x = torch.randn(3, 9, 2, dtype=torch.float64, requires_grad=True)
    params = [x, *model.parameters()]
    ref = model(x, mode="reference")
    fast = model(x, mode=mode)
    torch.testing.assert_close(fast.theta, ref.theta, **TOL)
    for g_fast, g_ref in zip(
        torch.autograd.grad(fast.mean.square().sum(), params), torch.autograd.grad(ref.mean.square().sum(), params)
    ):
        torch.testing.assert_close(g_fast, g_ref, **TOL)
    auto = model(x, context=4, mode="scan").mean
    torch.testing.assert_close(auto, model(x, context=4, mode="reference").mean, **TOL)


def test_lr_A_reaches_a_parametrised_A_and_checkpoints_round_trip(tmp_path):
    config = load_experiment("msd-small", ["warp.transition_norm=spectral", "optim.lr_A=1e-5", "warp.root_width=8"])
    model = WARP(WarpConfig(in_channels=2, root_width=8, transition_norm="spectral"))
    optimizer, _ = build.build_optimizer(config, model)
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, 1e-5]
    assert optimizer.param_groups[1]["params"] == [model.parametrizations.A.original]
    torch.save(model.state_dict(), tmp_path / "m.pt")
    other = WARP(WarpConfig(in_channels=2, root_width=8, transition_norm="spectral"))
    other.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    assert torch.equal(other.A, model.A)
