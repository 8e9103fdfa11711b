"""The transition: the paper's free A unchanged, ``spectral``, which keeps ``||A||_2 <= 1`` whatever the
updates, and the structured transitions (``diagonal``, ``block:K``, ``lowrank:R``), each equal to the
reference loop in every mode, in float64."""

import math

import pytest
import torch

from warprnn import WARP, WarpConfig, recurrence, rollout
from warprnn.baselines import build_model, count_parameters, relative_size
from warprnn.errors import ConfigError
from warprnn.training import build, load_experiment
from warprnn.transition import BlockDiagonal, Dense, Diagonal, LowRank, SpectralBound, spectral_norm_ref

TOL = dict(rtol=0, atol=1e-10)


def growth_steps(model, lr=0.5, steps=20, T=64):
    """Adam steps on A alone that reward a growing state: the updates that blow a free A up."""
    optimizer = torch.optim.Adam(
        [p for n, p in model.named_parameters() if n.endswith(("A", "A.original")) or n.startswith("transition.")],
        lr=lr,
    )
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


# ----- structured transitions (warp.transition) ------------------------------------------------------

STRUCTURED = ["diagonal", "block:3", "lowrank:2"]
SPECS = ["dense", *STRUCTURED]


def random_operator(spec, D=7, seed=0):
    """An operator of structure ``spec`` with random factors that require gradients (``block:3`` on D = 7:
    the last block is cut to one row)."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=0.3):
        return (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()

    if spec == "dense":
        return Dense((torch.eye(D, dtype=torch.float64) + rand(D, D, scale=0.3 / D**0.5)).detach().requires_grad_())
    if spec == "diagonal":
        return Diagonal((0.4 + 0.55 * torch.rand(D, generator=g, dtype=torch.float64)).requires_grad_())
    if spec == "block:3":
        return BlockDiagonal((torch.eye(3, dtype=torch.float64) + rand(3, 3, 3)).detach().requires_grad_(), D)
    return LowRank(rand(D, 2), rand(D, 2))


@pytest.mark.parametrize("spec", SPECS)
def test_operator_products_match_its_matrix(spec):
    """Each product of an operator against the same product with its dense matrix, gradients included."""
    op = random_operator(spec)
    A = op.matrix()
    g = torch.Generator().manual_seed(1)
    theta, lam, u = (torch.randn(5, 7, generator=g, dtype=torch.float64) for _ in range(3))
    torch.testing.assert_close(op.apply(theta), theta @ A.T, **TOL)
    torch.testing.assert_close(op.step(theta, u), theta @ A.T + u, **TOL)
    out = torch.empty_like(u)
    with torch.no_grad():  # the loops write into their storage without a graph
        op.step(theta, u, out=out)
    torch.testing.assert_close(out, theta @ A.T + u, **TOL)
    torch.testing.assert_close(op.step_T(lam, u), u + lam @ A, **TOL)
    want = torch.autograd.grad((lam * (theta @ A.T)).sum(), op.factors)
    for got, w in zip(op.grads(lam, theta), want):
        torch.testing.assert_close(got, w, **TOL)
    totals = [torch.ones_like(f) for f in op.factors]
    op.accumulate(totals, lam, theta)
    for total, w in zip(totals, want):
        torch.testing.assert_close(total, 1 + w, **TOL)


@pytest.mark.parametrize("spec", STRUCTURED)
@pytest.mark.parametrize("padded", [False, True])
def test_structured_scan_and_convolve_match_the_reference_loop(spec, padded):
    """Eq. 1 and Eq. 3 through a structured operator against the naive loop on its dense matrix: values,
    and gradients of every factor, theta_0's parts, B and dx."""
    op = random_operator(spec)
    g = torch.Generator().manual_seed(2)
    batch, T, D, C = 3, 9, 7, 2
    B, h, W, b = (
        torch.randn(*s, generator=g, dtype=torch.float64).requires_grad_() for s in [(D, C), (3, 2), (D, 2), (D,)]
    )
    steps = torch.randn(batch, T - 1, C, generator=g, dtype=torch.float64, requires_grad=True)
    dx = torch.cat([torch.zeros(batch, 1, C, dtype=torch.float64), steps], 1)  # dx_0 = 0, a constant
    valid = (torch.arange(T) < torch.tensor([T, 5, 2])[:, None]) if padded else None
    inputs = [*op.factors, B, h, W, b, steps]
    ref = recurrence.recurrence_ref(op, B, h @ W.T + b, dx, valid)
    weights = torch.randn_like(ref)
    ref_grads = torch.autograd.grad((ref * weights).sum(), inputs)
    assert all(r.abs().max() > 0 for r in ref_grads[: len(op.factors)])  # not vacuous
    for fast in (
        recurrence.scan(op, B, h @ W.T + b, dx, valid),
        recurrence.convolve(op, B, (h, W, b), dx, valid),
    ):
        torch.testing.assert_close(fast, ref, **TOL)
        for got, want in zip(torch.autograd.grad((fast * weights).sum(), inputs), ref_grads):
            torch.testing.assert_close(got, want, **TOL)


@pytest.mark.parametrize("spec", STRUCTURED)
def test_structured_kernel_matches_matrix_powers(spec):
    """The kernel ``A^j M``: a diagonal A's Vandermonde product, or Eq. 1 run on M's columns."""
    op = random_operator(spec)
    M = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    fast, ref = recurrence.kernel(op, M, 11), recurrence.kernel_ref(op, M, 11)
    torch.testing.assert_close(fast, ref, **TOL)
    weights = torch.randn_like(ref)
    inputs = [*op.factors, M]
    for got, want in zip(
        torch.autograd.grad((fast * weights).sum(), inputs), torch.autograd.grad((ref * weights).sum(), inputs)
    ):
        torch.testing.assert_close(got, want, **TOL)


MODEL_CONFIGS = {
    "hypernet-point": dict(in_channels=2, hypernet_depth=2, root_width=6, time_as_channel=True),
    "learned-gaussian": dict(in_channels=2, theta0="learned", head="gaussian", root_width=6, final_activation="tanh"),
}


def losses_and_grads(model, x, lengths=None, **kwargs):
    out = model(x, lengths, **kwargs)
    loss = (out.mean**2).mean() + (out.theta[:, -1] ** 2).mean() + (0 if out.std is None else out.std.log().mean())
    return out, torch.autograd.grad(loss, [x, *model.parameters()])


@pytest.mark.parametrize("spec", STRUCTURED)
@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_structured_modes_match_reference(make_model, monkeypatch, spec, name):
    """WARP with a structured A: teacher-forced scan, conv and auto, and the autoregressive rollout (in
    several chunks of A's gradient), against ``mode="reference"``, on a padded batch: values and every
    parameter's gradient, in float64."""
    monkeypatch.setattr(rollout.AutoregressiveRollout, "CHUNK", 4)
    model = make_model(transition=spec, a_scale=0.2, b_scale=0.05, **MODEL_CONFIGS[name])
    x = torch.randn(3, 10, 2, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([10, 7, 3])
    for kwargs, modes in ((dict(), ("scan", "conv", "auto")), (dict(context=3), ("scan", "auto"))):
        ref, ref_grads = losses_and_grads(model, x, lengths, mode="reference", **kwargs)
        for mode in modes:
            fast, fast_grads = losses_and_grads(model, x, lengths, mode=mode, **kwargs)
            torch.testing.assert_close(fast.theta, ref.theta, **TOL)
            torch.testing.assert_close(fast.mean, ref.mean, **TOL)
            for n, got, want in zip(["x", *dict(model.named_parameters())], fast_grads, ref_grads):
                torch.testing.assert_close(
                    got, want, **TOL, msg=lambda m, n=n, mode=mode, kw=kwargs: f"{mode} {kw}: gradient of {n}: {m}"
                )
        grads = dict(zip(["x", *dict(model.named_parameters())], ref_grads))
        assert all(grads[n].abs().max() > 1e-8 for n in grads if n.startswith("transition."))  # not vacuous


@pytest.mark.parametrize("spec", STRUCTURED)
def test_structured_transitions_start_at_or_near_the_identity(spec):
    torch.manual_seed(0)
    model = WARP(WarpConfig(in_channels=2, root_width=6, transition=spec), dtype=torch.float64)
    assert not hasattr(model, "A") or model.transition is None
    A = model.transition_operator().matrix()
    eye = torch.eye(model.d_theta, dtype=torch.float64)
    if spec == "diagonal":
        torch.testing.assert_close(A, math.exp(-1e-4) * eye, rtol=0, atol=1e-15)
    else:
        assert torch.equal(A, eye)
    x = torch.randn(2, 50, 2, dtype=torch.float64)
    theta = model(x, mode="scan").theta  # B = 0: theta_0 kept (diagonal: decaying by 1e-4 per step)
    torch.testing.assert_close(theta[:, -1], theta[:, 0], rtol=1e-2 if spec == "diagonal" else 0, atol=1e-12)
    sizes = {"diagonal": model.d_theta, "block:3": math.ceil(model.d_theta / 3) * 9, "lowrank:2": 4 * model.d_theta}
    assert sum(p.numel() for p in model.transition.parameters()) == sizes[spec]


@pytest.mark.parametrize("spec", ["dense", "diagonal", "block:3"])
@pytest.mark.parametrize("norm", ["none", "spectral"])
def test_decay_init_starts_at_a_spread_of_decays(spec, norm):
    """``transition_init='decay:H'``: A = diag(exp(-1 / tau)), the timescales tau spread over [1, H] steps,
    so that the state forgets theta_0 at each weight's own rate (``identity`` keeps it, the test above)."""
    if spec != "dense" and norm == "spectral":
        pytest.skip("spectral bounds a dense A only")
    torch.manual_seed(0)
    config = WarpConfig(in_channels=2, root_width=6, transition=spec, transition_norm=norm, transition_init="decay:50")
    model = WARP(config, dtype=torch.float64)
    A = model.transition_operator().matrix()
    lam = torch.diagonal(A)
    assert torch.equal(A, torch.diag(lam))
    tau = -1 / lam.log()
    assert tau.min() >= 1 - 1e-9 and tau.max() <= 50 + 1e-9
    assert tau.min() < 2 and tau.max() > 25  # spread over the range, not one value
    x = torch.randn(2, 30, 2, dtype=torch.float64)
    theta = model(x, mode="scan").theta  # B = 0: theta_t = lambda^t theta_0
    torch.testing.assert_close(theta[:, -1], lam**29 * theta[:, 0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("spec", ["dense", "diagonal", "block:3"])
def test_decay_init_modes_match_reference(spec):
    """Every mode runs from the decaying start as from any other A: values and gradients in float64."""
    torch.manual_seed(0)
    model = WARP(
        WarpConfig(in_channels=2, root_width=6, transition=spec, transition_init="decay:8"), dtype=torch.float64
    )
    with torch.no_grad():
        model.B.normal_(std=0.1)
    x = torch.randn(3, 10, 2, dtype=torch.float64, requires_grad=True)
    ref, ref_grads = losses_and_grads(model, x, mode="reference")
    for mode in ("scan", "conv"):
        fast, fast_grads = losses_and_grads(model, x, mode=mode)
        torch.testing.assert_close(fast.mean, ref.mean, **TOL)
        for got, want in zip(fast_grads, ref_grads):
            torch.testing.assert_close(got, want, **TOL)


def test_diagonal_stays_bounded_under_large_updates():
    """The updates that blow a free A up leave every eigenvalue of a diagonal A in (0, 1)."""
    torch.manual_seed(0)
    model = WARP(WarpConfig(in_channels=2, transition="diagonal"))
    growth_steps(model.requires_grad_(True), steps=20)
    a = model.transition_operator().a.detach()
    assert torch.all((a > 0) & (a <= 1))
    out = model(torch.randn(2, 784, 2), mode="scan")
    assert torch.isfinite(out.mean).all() and torch.isfinite(out.theta).all()


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(transition="block:0"), r"transition: expected 'dense', 'diagonal', 'block:K' or 'lowrank:R'.*'block:0'"),
        (dict(transition="diag"), r"transition: expected .*'diag'"),
        (dict(transition="lowrank"), r"transition: expected .*'lowrank'"),
        (dict(transition=4), r"transition: expected a string"),
        (dict(transition="diagonal", transition_norm="spectral"), r"transition_norm: 'spectral' bounds a dense A"),
        (dict(transition_init="decay:0.5"), r"transition_init: expected 'identity' or 'decay:H' \(H >= 1 steps\)"),
        (dict(transition_init="decay"), r"transition_init: expected .*'decay'"),
        (dict(transition="lowrank:2", transition_init="decay:10"), r"transition_init: 'lowrank' is I \+ U V\^T"),
        (
            dict(in_channels=2, root="msd-moments", hypernet_depth=0, transition_init="decay:9"),
            r"transition_init: root='msd-moments' declares its own A",
        ),
        (
            dict(in_channels=2, root="msd-moments", hypernet_depth=0, transition="lowrank:2"),
            r"transition: root='msd-moments' declares its own dense A",
        ),
    ],
)
def test_transition_config_errors_name_the_option(options, match):
    with pytest.raises(ConfigError, match=match):
        WarpConfig(**options)


def test_lr_A_reaches_a_structured_transition():
    config = load_experiment("msd-small", ["warp.transition=lowrank:2", "optim.lr_A=1e-5", "warp.root_width=8"])
    model = WARP(WarpConfig(in_channels=2, root_width=8, transition="lowrank:2"))
    optimizer, _ = build.build_optimizer(config, model)
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, 1e-5]
    assert optimizer.param_groups[1]["params"] == [model.transition.U, model.transition.V]
    keys = list(model.state_dict())
    assert {"transition.U", "transition.V"} <= set(keys) and "A" not in keys


def test_auto_knows_each_transition():
    recurrence.fastest.cache_clear()
    assert recurrence.fastest(128, 784, 1298, 2) == "conv"  # dense: the FFTs cost less than D^2 per value
    assert recurrence.fastest(128, 784, 1298, 2, "diagonal") == "scan"  # D per step: nothing beats the scan
    assert recurrence.fastest(128, 784, 1298, 2, "lowrank:8") == "scan"
    assert recurrence.fastest(128, 784, 1298, 2, "block:1024") == "conv"  # blocks as costly as the FFTs
    assert recurrence.fastest(128, 784, 1298, None, "block:1024") == "scan"  # autoregressive


def test_a_baseline_matches_a_structured_warps_size():
    """Parameter matching counts the structured A's parameters (D for a diagonal one, not D^2)."""
    config = WarpConfig(in_channels=2, root_width=24, root_depth=1, transition="diagonal")
    warp, dense = (
        build_model("warp", config, device="meta"),
        WARP(WarpConfig(in_channels=2, root_width=24, root_depth=1)),
    )
    D = warp.d_theta
    assert count_parameters(warp) == count_parameters(dense) - D * D + D
    assert abs(relative_size(build_model("gru", config, device="meta"), config) - 1) < 0.05
