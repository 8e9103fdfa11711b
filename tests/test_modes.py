"""The forward modes agree with the naive reference loop (paper Eq. 1 and Eq. 3), in float64."""

import pytest
import torch

from warprnn import WARP, WarpConfig, recurrence, rollout, roots
from warprnn.data.synthetic import mass_spring_damper
from warprnn.errors import InputError

CONFIGS = {
    "hypernet2": dict(in_channels=2, hypernet_depth=2, root_width=8, root_depth=2),
    "hypernet0-swish": dict(in_channels=3, hypernet_depth=0, root_width=6, root_activation="swish"),
    "learned-gaussian-pe": dict(
        in_channels=2, theta0="learned", head="gaussian", positional_encoding=2, root_width=8, final_activation="tanh"
    ),
    "time-channel-prev": dict(
        in_channels=2, time_as_channel=True, input_prev_obs=True, root_width=8, final_activation="clip", final_clip=0.5
    ),
    "classification": dict(in_channels=2, head="classification", num_classes=3, root_width=8),
    "msd-oscillator": dict(in_channels=2, root="msd-oscillator", input_prev_obs=True),  # WARP-Phys, reads x_t
}
TOL = dict(rtol=0, atol=1e-10)


def parameters(model):
    return dict(model.named_parameters())


def run(model, x, mode, use_theta=True, **kwargs):
    out = model(x, mode=mode, **kwargs)
    target = out.logits if out.logits is not None else out.mean
    loss = (target**2).mean() + use_theta * (out.theta[:, -1] ** 2).mean()
    if out.std is not None:
        loss = loss + out.std.log().mean()
    grads = torch.autograd.grad(loss, [x, *model.parameters()])
    return out, grads


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("mode", ["scan", "conv", "auto"])
def test_teacher_forced_modes_match_reference(make_model, name, mode):
    model = make_model(**CONFIGS[name])
    assert not torch.allclose(model.A, torch.eye(model.d_theta, dtype=torch.float64))
    x = torch.randn(3, 9, model.config.in_channels, dtype=torch.float64, requires_grad=True)
    ref, ref_grads = run(model, x, "reference")
    fast, fast_grads = run(model, x, mode)
    torch.testing.assert_close(fast.theta, ref.theta, **TOL)
    for field in ("mean", "std", "logits"):
        if getattr(ref, field) is not None:
            torch.testing.assert_close(getattr(fast, field), getattr(ref, field), **TOL)
    names = ["x"] + list(parameters(model))
    for n, g_fast, g_ref in zip(names, fast_grads, ref_grads):
        torch.testing.assert_close(g_fast, g_ref, **TOL, msg=lambda m, n=n: f"gradient of {n}: {m}")
    grads = dict(zip(names, ref_grads))
    assert grads["A"].abs().max() > 1e-6 and grads["B"].abs().max() > 1e-6  # the check is not vacuous


@pytest.mark.parametrize("name", [n for n in CONFIGS if n != "classification"])
def test_autoregressive_matches_reference(make_model, name, monkeypatch):
    monkeypatch.setattr(rollout.AutoregressiveRollout, "CHUNK", 4)  # several chunks of A's gradient, one partial
    windows = staticmethod(lambda *args: 4)  # the steps' Jacobians in windows of 4 steps, the last one partial
    monkeypatch.setattr(rollout.AutoregressiveRollout, "jacobian_steps", windows)
    model = make_model(a_scale=0.1, b_scale=0.02, **CONFIGS[name])
    x = torch.randn(3, 10, model.config.in_channels, dtype=torch.float64, requires_grad=True)
    for kwargs in (
        dict(context=4),
        dict(context=2, teacher_forcing=0.5, use_theta=False),
        dict(context=1, mode="auto"),
    ):
        kwargs = dict(mode="scan") | kwargs
        mode = kwargs.pop("mode")
        ref, ref_grads = run(model, x, "reference", generator=torch.Generator().manual_seed(3), **kwargs)
        fast, fast_grads = run(model, x, mode, generator=torch.Generator().manual_seed(3), **kwargs)
        assert ref.mean.abs().max() < 100  # feedback stays bounded, so the tolerance means something
        torch.testing.assert_close(fast.mean, ref.mean, **TOL)
        torch.testing.assert_close(fast.theta, ref.theta, **TOL)
        for g_fast, g_ref in zip(fast_grads, ref_grads):
            torch.testing.assert_close(g_fast, g_ref, **TOL)


def test_sampled_feedback_matches_reference(make_model):
    model = make_model(a_scale=0.1, in_channels=2, head="gaussian", ar_feed="sample", root_width=8)
    x = torch.randn(2, 8, 2, dtype=torch.float64, requires_grad=True)
    ref, ref_grads = run(model, x, "reference", context=3, generator=torch.Generator().manual_seed(5))
    fast, fast_grads = run(model, x, "scan", context=3, generator=torch.Generator().manual_seed(5))
    mean_fed = model(x, context=3)  # a different run feeds different samples...
    torch.testing.assert_close(fast.mean, ref.mean, **TOL)
    for g_fast, g_ref in zip(fast_grads, ref_grads):  # gradients flow through the sampled feedback
        torch.testing.assert_close(g_fast, g_ref, **TOL)
    other = make_model(a_scale=0.1, in_channels=2, head="gaussian", ar_feed="mean", root_width=8)(x, context=3)
    assert not torch.allclose(other.mean[:, 3:], fast.mean[:, 3:])  # ...and sampling changes the result
    assert not torch.allclose(mean_fed.mean[:, 3:], fast.mean[:, 3:])


def test_autoregressive_feeds_own_predictions(make_model):
    """After the context, the input past it must not matter; inside it, it must."""
    model = make_model(in_channels=2, root_width=8)
    x = torch.randn(2, 10, 2, dtype=torch.float64)
    changed = x.clone()
    changed[:, 5:] += 1.0
    torch.testing.assert_close(model(x, context=5).mean, model(changed, context=5).mean, **TOL)
    assert not torch.allclose(model(x, context=6).mean, model(changed, context=6).mean)


def test_full_teacher_forcing_equals_non_autoregressive(make_model):
    model = make_model(**CONFIGS["time-channel-prev"])
    x = torch.randn(3, 9, 2, dtype=torch.float64)
    ar = model(x, teacher_forcing=1.0)
    tf = model(x)
    torch.testing.assert_close(ar.mean, tf.mean, **TOL)
    torch.testing.assert_close(ar.theta, tf.theta, **TOL)


@pytest.mark.parametrize("name", CONFIGS)
def test_step_matches_forward(make_model, name):
    model = make_model(**CONFIGS[name])
    x = torch.randn(3, 7, model.config.in_channels, dtype=torch.float64)
    full = model(x)
    state = model.init_state(3, seq_len=7)
    for t in range(7):
        out, state = model.step(x[:, t], state)
        torch.testing.assert_close(out.theta, full.theta[:, t], **TOL)
        if full.mean is not None:
            torch.testing.assert_close(out.mean, full.mean[:, t], **TOL)
    if full.logits is not None:
        torch.testing.assert_close(out.logits, full.logits, **TOL)
    with pytest.raises(ValueError, match="state"):
        model.step(x[:, 0], state)


@pytest.mark.parametrize("mode", ["reference", "scan", "conv"])
def test_identity_A_and_zero_B_keep_theta0(mode):
    torch.manual_seed(0)
    model = WARP(WarpConfig(in_channels=2, root_width=8), dtype=torch.float64)  # A = I, B = 0 at init
    x = torch.randn(4, 12, 2, dtype=torch.float64)
    theta = model(x, mode=mode).theta
    torch.testing.assert_close(theta, model.theta0(x[:, 0]).unsqueeze(1).expand_as(theta), **TOL)


@pytest.mark.parametrize(
    "name, mode",
    [
        (n, m)
        for n in CONFIGS
        for m in ("reference", "scan", "conv", "autoregressive")
        if (n, m) != ("classification", "autoregressive")
    ],
)
def test_padding_does_not_change_valid_part(make_model, name, mode):
    model = make_model(**CONFIGS[name])
    lengths = torch.tensor([9, 5, 3])
    x = torch.randn(3, 9, model.config.in_channels, dtype=torch.float64)
    padded = x.clone()
    padded[1, 5:] = float("nan")  # padding may hold anything, NaN included
    padded[2, 3:] = 1e6
    kwargs = dict(context=2) if mode == "autoregressive" else dict(mode=mode)
    batch = model(padded, lengths, **kwargs)
    for b, n in enumerate(lengths.tolist()):
        alone = model(x[b : b + 1, :n], **kwargs)
        torch.testing.assert_close(batch.theta[b, :n], alone.theta[0], **TOL)
        assert torch.all(batch.theta[b, n:] == 0)
        if alone.mean is not None:
            torch.testing.assert_close(batch.mean[b, :n], alone.mean[0], **TOL)
        else:
            torch.testing.assert_close(batch.logits[b], alone.logits[0], **TOL)


def test_gradcheck_tiny_model(make_model):
    model = make_model(in_channels=1, root_width=3, root_depth=1, hypernet_depth=1, time_as_channel=True)
    x = torch.randn(2, 5, 1, dtype=torch.float64, requires_grad=True)

    names = [n for n, _ in model.named_parameters()]

    def run(mode):
        def fn(x, *values):
            out = torch.func.functional_call(model, dict(zip(names, values)), (x,), {"mode": mode})
            return out.mean, out.theta

        return fn

    values = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
    for mode in ("scan", "conv"):
        assert torch.autograd.gradcheck(run(mode), (x, *values))


def test_linear_recurrence_matches_per_step_autograd():
    """``LinearRecurrence``: values and gradients of A, theta_0 and u against a plain autograd loop."""
    torch.manual_seed(0)
    D, batch, T = 5, 3, 7
    A = (torch.eye(D) + 0.3 * torch.randn(D, D)).double().requires_grad_()
    theta0 = torch.randn(batch, D, dtype=torch.float64, requires_grad=True)
    u = torch.randn(T, batch, D, dtype=torch.float64, requires_grad=True)
    thetas = [theta0]
    for t in range(1, T):
        thetas.append((A @ thetas[-1].T).T + u[t])  # Eq. 1, column form
    loops = torch.stack(thetas)
    fast = recurrence.recur(A, theta0, u)
    weights = torch.randn_like(fast)
    torch.testing.assert_close(fast, loops, **TOL)
    for g_fast, g_loop in zip(
        torch.autograd.grad((fast * weights).sum(), [A, theta0, u]),
        torch.autograd.grad((loops * weights).sum(), [A, theta0, u]),
    ):
        torch.testing.assert_close(g_fast, g_loop, **TOL)


@pytest.mark.parametrize("batch", [2, 6])
def test_conv_propagates_theta0_either_way(make_model, batch):
    """hypernet_depth=0 on 3 channels: h has 3 features, so a batch of 2 propagates theta_0 itself and a
    batch of 6 propagates the hypernetwork's W and b through the kernel; both match the reference."""
    model = make_model(in_channels=3, hypernet_depth=0, root_width=6)
    coef, M0 = recurrence.initial_columns(model.theta0_parts(torch.randn(batch, 3, dtype=torch.float64)))
    assert M0.shape[1] == min(batch, 4)
    x = torch.randn(batch, 8, 3, dtype=torch.float64, requires_grad=True)
    ref, ref_grads = run(model, x, "reference")
    fast, fast_grads = run(model, x, "conv")
    torch.testing.assert_close(fast.theta, ref.theta, **TOL)
    torch.testing.assert_close(fast.mean, ref.mean, **TOL)
    for g_fast, g_ref in zip(fast_grads, ref_grads):
        torch.testing.assert_close(g_fast, g_ref, **TOL)


def test_auto_picks_by_cost_and_logs(caplog):
    recurrence.fastest.cache_clear()
    with caplog.at_level("INFO", logger="warprnn"):
        assert recurrence.fastest(128, 784, 1298, 2) == "conv"  # long teacher-forced sequences, few channels
        assert recurrence.fastest(4, 50, 1298, 2) == "scan"  # a short batch: building the kernel costs as much
        assert recurrence.fastest(32, 1024, 898, 38) == "scan"  # many theta_0 columns to propagate
        assert recurrence.fastest(128, 784, 1298, None) == "scan"  # autoregressive
    assert caplog.text.count("mode='auto' chose") == 4


def test_causal_conv_matches_double_sum(monkeypatch):
    monkeypatch.setattr(
        recurrence.CausalConvolution, "chunk_size", staticmethod(lambda T, D: 2)
    )  # 5 sequences: 2, 2, 1
    T, batch, D, m = 9, 5, 4, 3
    K = torch.randn(T, D, m, dtype=torch.float64, requires_grad=True)
    u = torch.randn(T, batch, m, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(recurrence.causal_conv(K, u), recurrence.causal_conv_ref(K, u), **TOL)
    assert torch.autograd.gradcheck(recurrence.causal_conv, (K, u))


@pytest.mark.parametrize(
    "name, mode",
    [("learned-gaussian-pe", m) for m in ("scan", "conv", "autoregressive")] + [("msd-oscillator", "autoregressive")],
)
def test_padded_gradients_match_reference(make_model, name, mode, monkeypatch):
    """The fast modes zero the padding's theta in place: a loss on every step's theta and mean of a
    padded batch has the reference loop's gradients (conv in chunks of 2 sequences: 2 and 1). The
    oscillator root divides by a mass read from theta, which is zero on the padding: NaN must stay there."""
    monkeypatch.setattr(recurrence.CausalConvolution, "chunk_size", staticmethod(lambda T, D: 2))
    model = make_model(**CONFIGS[name])
    lengths = torch.tensor([7, 4, 2])
    x = torch.randn(3, 7, model.config.in_channels, dtype=torch.float64, requires_grad=True)

    weights = torch.randn(3, 7, model.d_theta, dtype=torch.float64)  # non-zero on the padding too
    feeding = dict(context=3, teacher_forcing=0.5) if mode == "autoregressive" else {}

    def grads(mode):
        out = model(x, lengths, mode=mode, generator=torch.Generator().manual_seed(0), **feeding)
        loss = (out.theta * weights).sum() + (out.mean**2).sum() + (0 if out.std is None else out.std.sum())
        return torch.autograd.grad(loss, [x, *model.parameters()])

    for fast, ref in zip(grads("scan" if mode == "autoregressive" else mode), grads("reference")):
        assert torch.isfinite(fast).all()
        torch.testing.assert_close(fast, ref, **TOL)


class NaNAtZero(torch.nn.Module):
    """A root whose derivatives are NaN at theta = 0 (``0 * log|theta|``) and finite elsewhere."""

    def __init__(self, root):
        super().__init__()
        self.inner = root
        self.in_features, self.out_features, self.reads_step = root.in_features, root.out_features, root.reads_step
        self.num_params = root.num_params

    def forward(self, theta, inputs):
        return self.inner(theta, inputs) + 0 * theta[..., :1].abs().log()


def test_autoregressive_padding_keeps_nan_out_of_the_gradients(make_model):
    """The autoregressive backward reads the padding's zeroed states: a root that is not differentiable at
    zero must leave the valid steps' gradients finite and equal to the reference loop's."""
    model = make_model(**CONFIGS["learned-gaussian-pe"])
    model.root = NaNAtZero(model.root)
    lengths = torch.tensor([7, 4, 2])
    x = torch.randn(3, 7, model.config.in_channels, dtype=torch.float64, requires_grad=True)

    def grads(mode):
        out = model(x, lengths, mode=mode, context=3, teacher_forcing=0.5, generator=torch.Generator().manual_seed(0))
        return torch.autograd.grad((out.mean**2).sum() + out.std.sum(), [x, *model.parameters()])

    for fast, ref in zip(grads("scan"), grads("reference")):
        assert torch.isfinite(ref).all()
        torch.testing.assert_close(fast, ref, **TOL)


def test_msd_moments_root_runs_alike_in_every_mode():
    """The WARP-Phys moments root (its own A, B and phi; no random perturbation, which would break the
    moments it reads): every mode matches the reference loop, values and gradients. The root's 2 x 2
    least-squares solve is ill-conditioned (its moments are nearly dependent over a few steps) and
    amplifies rounding, hence relative tolerances of 1e-7 (values) and 1e-6 (gradients)."""
    x, _ = mass_spring_damper(
        3, 12, m=(0.02, 0.04), k=(4, 16), c=(0.01, 0.2), generator=torch.Generator().manual_seed(0)
    )
    x = x.double().requires_grad_()
    model = WARP(WarpConfig(in_channels=2, root="msd-moments", hypernet_depth=0), dtype=torch.float64)
    for kwargs, modes_ in ((dict(), ("scan", "conv")), (dict(context=5), ("scan",))):
        ref, ref_grads = run(model, x, "reference", **kwargs)
        for mode in modes_:
            fast, fast_grads = run(model, x, mode, **kwargs)
            torch.testing.assert_close(fast.mean, ref.mean, rtol=1e-7, atol=1e-9)
            for g_fast, g_ref in zip(fast_grads, ref_grads):
                torch.testing.assert_close(g_fast, g_ref, rtol=1e-6, atol=1e-9)
        assert all(torch.isfinite(g).all() for g in ref_grads) and ref_grads[1].abs().max() > 0


@pytest.mark.parametrize("transition", ["dense", "lowrank:2"])
def test_clipped_theta_matches_reference_in_every_sequential_mode(make_model, transition, monkeypatch):
    """``theta_clip`` (the authors' ``weights_lim``): scan, autoregressive and ``step`` against the reference
    loops, values and gradients; some entries clipped and some not, so that neither side is vacuous."""
    monkeypatch.setattr(rollout.AutoregressiveRollout, "CHUNK", 4)
    model = make_model(a_scale=0.3, b_scale=0.5, in_channels=2, root_width=6, theta_clip=0.15, transition=transition)
    x = torch.randn(3, 10, 2, dtype=torch.float64, requires_grad=True)
    for kwargs in (dict(), dict(context=3), dict(context=2, teacher_forcing=0.5, use_theta=False)):
        ref, ref_grads = run(model, x, "reference", generator=torch.Generator().manual_seed(3), **kwargs)
        fast, fast_grads = run(model, x, "scan", generator=torch.Generator().manual_seed(3), **kwargs)
        clipped = ref.theta[:, 1:].abs() >= 0.15
        assert 0.05 < clipped.double().mean() < 0.95 and ref.theta.abs().max() <= ref.theta[:, 0].abs().max().clamp(
            0.15
        )
        torch.testing.assert_close(fast.theta, ref.theta, **TOL)
        torch.testing.assert_close(fast.mean, ref.mean, **TOL)
        for g_fast, g_ref in zip(fast_grads, ref_grads):
            torch.testing.assert_close(g_fast, g_ref, **TOL)
    state, means = model.init_state(3, 10), []
    for t in range(10):
        out, state = model.step(x[:, t], state)
        means.append(out.mean)
    torch.testing.assert_close(torch.stack(means, 1), model(x, mode="reference").mean, **TOL)
    with pytest.raises(InputError, match="theta_clip=0.15 makes the recurrence non-linear"):
        model(x, mode="conv")
    assert torch.equal(model(x, mode="auto").theta, model(x, mode="scan").theta)


def test_recurrence_ref_clips_every_step_but_theta0():
    theta0 = torch.full((1, 2), 3.0, dtype=torch.float64)
    dx = torch.ones(1, 3, 1, dtype=torch.float64)
    theta = recurrence.recurrence_ref(
        torch.eye(2, dtype=torch.float64), torch.ones(2, 1, dtype=torch.float64), theta0, dx, clip=1.0
    )
    assert theta[0, 0].tolist() == [3.0, 3.0] and theta[0, 1:].eq(1.0).all()


ROOT_OPTIONS = {  # every root activation and final activation, and the root inputs that read x_t
    **{act: dict(root_activation=act) for act in ("relu", "tanh", "swish", "softplus", "sin", "identity")},
    "final-tanh-gaussian": dict(final_activation="tanh", head="gaussian"),
    "final-clip-theta-clip": dict(final_activation="clip", final_clip=0.4, theta_clip=0.3),
    "prev-obs-pe-sampled": dict(input_prev_obs=True, positional_encoding=2, head="gaussian", ar_feed="sample"),
    "key-channels": dict(key_channels=1, root_depth=2),
    "covariates": dict(covariate_channels=1, input_prev_obs=True),
}


@pytest.mark.parametrize("name", ROOT_OPTIONS)
def test_root_tape_matches_the_jacobian_path_and_the_reference(make_model, name, monkeypatch):
    """The MLP root's rollout on a ``RootTape`` (activations kept, hand-written VJP) against the reference
    loop with the root in plain autograd (``roots.mlp_ref``), and against the path every other root takes
    (``RootJacobians``), values and gradients, float64."""
    monkeypatch.setattr(rollout.AutoregressiveRollout, "jacobian_steps", staticmethod(lambda *args: 3))
    model = make_model(a_scale=0.1, b_scale=0.05, in_channels=3, root_width=6, **ROOT_OPTIONS[name])
    x = torch.randn(3, 9, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([9, 6, 8])

    def runs(mode):
        out = model(x, lengths, mode=mode, context=2, teacher_forcing=0.4, generator=torch.Generator().manual_seed(1))
        loss = (out.mean**2).sum() + (out.theta[:, 4] ** 2).sum() + (0 if out.std is None else out.std.log().sum())
        return [out.mean, out.theta, *torch.autograd.grad(loss, [x, *model.parameters()])]

    tape = runs("scan")
    monkeypatch.setattr(rollout, "root_tape", lambda *args: None)
    jacobians = runs("scan")
    monkeypatch.setattr(roots.MLPRoot, "forward", roots.mlp_ref)  # plain autograd, no hand-written backward
    ref = runs("reference")
    assert ref[2].abs().max() > 1e-6 and all(g.abs().max() > 0 for g in ref[3:5])  # not vacuous
    for a, b, c in zip(tape, ref, jacobians):
        torch.testing.assert_close(a, b, **TOL)
        torch.testing.assert_close(a, c, **TOL)
