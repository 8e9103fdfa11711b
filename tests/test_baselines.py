"""The contract every model keeps (WARP with each transition, and each baseline), parameter matching, and
S4D's two views."""

import dataclasses

import pytest
import torch

from conftest import perturb_transition
from warprnn import WarpConfig
from warprnn.baselines import MODELS, build_model, count_parameters, relative_size
from warprnn.baselines.s4d import S4DLayer
from warprnn.baselines.transformer import TransformerBaseline, attention_heads, reference_forecast

TOL = dict(rtol=0, atol=1e-10)
HEADS = {
    "point": dict(in_channels=2, root_width=6, final_activation="tanh"),
    "gaussian": dict(in_channels=2, root_width=6, head="gaussian", ar_feed="sample"),
    "classification": dict(in_channels=2, root_width=6, head="classification", num_classes=3),
    "class-mean": dict(in_channels=2, root_width=6, head="classification", num_classes=3, class_pool="mean"),
}


STRUCTURED = ("warp:diagonal", "warp:block:3", "warp:lowrank:2")  # WARP with a structured transition
VARIANTS = MODELS + STRUCTURED


def make(name, head="point", seed=0):
    """A float64 model; WARP's B is made non-zero (it starts at zero) so that inputs after x_0 matter.
    ``warp:SPEC`` is WARP with ``transition=SPEC``, moved off its initialisation."""
    torch.manual_seed(seed)
    name, _, transition = name.partition(":")
    config = dataclasses.replace(WarpConfig(**HEADS[head]), transition=transition or "dense")
    model = build_model(name, config, dtype=torch.float64)
    if name == "warp":
        if transition:
            perturb_transition(model, 0.3)
        with torch.no_grad():
            model.B.normal_(std=0.1)
    return model


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("head", HEADS)
def test_shapes_and_padding(name, head):
    model = make(name, head)
    x = torch.randn(3, 8, 2, dtype=torch.float64)
    lengths = torch.tensor([8, 5, 3])
    padded = x.clone()
    padded[1, 5:] = float("nan")
    out = model(padded, lengths)
    if head.startswith("class"):
        assert out.logits.shape == (3, 3) and out.mean is None
    else:
        assert out.mean.shape == (3, 8, 2) and (out.std is not None) == (head == "gaussian")
        assert torch.all(out.mean[1, 5:] == 0)
    for b, n in enumerate(lengths.tolist()):
        alone = model(x[b : b + 1, :n])
        got, want = (out.logits[b], alone.logits[0]) if head.startswith("class") else (out.mean[b, :n], alone.mean[0])
        torch.testing.assert_close(got, want, **TOL)


@pytest.mark.parametrize("name", VARIANTS)
def test_autoregressive_protocol(name):
    model = make(name)
    x = torch.randn(2, 9, 2, dtype=torch.float64)
    changed = x.clone()
    changed[:, 4:] += 1.0
    torch.testing.assert_close(model(x, context=4).mean, model(changed, context=4).mean, **TOL)  # own predictions
    assert not torch.allclose(model(x, context=5).mean, model(changed, context=5).mean)
    torch.testing.assert_close(model(x, teacher_forcing=1.0).mean, model(x).mean, **TOL)  # p = 1: teacher-forced

    def gen():
        return torch.Generator().manual_seed(1)

    torch.testing.assert_close(
        model(x, context=2, teacher_forcing=0.5, generator=gen()).mean,
        model(x, context=2, teacher_forcing=0.5, generator=gen()).mean,
        **TOL,
    )


@pytest.mark.parametrize("name", VARIANTS)
def test_autoregressive_feeds_predictions_step_by_step(name):
    """The autoregressive run equals stepping by hand and feeding each prediction back."""
    model = make(name)
    x = torch.randn(2, 7, 2, dtype=torch.float64)
    auto = model(x, context=3).mean
    state, out = model.init_state(2, seq_len=7), None
    for t in range(7):
        fed = x[:, t] if t < 3 else out.mean
        out, state = model.step(fed, state)
        torch.testing.assert_close(out.mean, auto[:, t], **TOL)


@pytest.mark.parametrize("width", [None, 32])
def test_transformer_cache_equals_reencoding_the_prefix(width):
    """The Transformer's autoregressive run, with its key-value cache, equals the reference: re-encoding the
    whole fed sequence at every step. Values and gradients, float64; the matched width (one head) and
    width 32 (two heads)."""
    model = make("transformer")
    if width is not None:
        torch.manual_seed(0)
        model = TransformerBaseline(model.config, width, dtype=torch.float64)
        assert model.encoder.layers[0].self_attn.num_heads == 2
    x = torch.randn(2, 9, 2, dtype=torch.float64)
    want, got = reference_forecast(model, x, context=3), model(x, context=3).mean
    torch.testing.assert_close(got, want, **TOL)
    weights = torch.randn_like(want)
    grads = [torch.autograd.grad((out * weights).sum(), list(model.parameters())) for out in (got, want)]
    for g, w in zip(*grads):
        torch.testing.assert_close(g, w, **TOL)


def test_transformer_heads_by_dimension():
    """The most heads of at least 16 features that divide the width; one below 32."""
    assert [attention_heads(w) for w in (1, 16, 24, 31, 32, 33, 48, 64, 100)] == [1, 1, 1, 1, 2, 1, 3, 4, 5]
    config = WarpConfig(**HEADS["point"])
    model = TransformerBaseline(config, 64, device="meta")
    assert [layer.self_attn.num_heads for layer in model.encoder.layers] == [4, 4]


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("head", ["gaussian", "classification", "class-mean"])
def test_step_matches_forward(name, head):
    """step() gives each step's outputs: the last step's logits are ``last``-pooled logits, their mean over
    the steps the ``mean``-pooled ones."""
    model = make(name, head)
    x = torch.randn(3, 6, 2, dtype=torch.float64)
    full = model(x)
    state = model.init_state(3, seq_len=6)
    logits = []
    for t in range(6):
        out, state = model.step(x[:, t], state)
        logits.append(out.logits)
        if head == "gaussian":
            torch.testing.assert_close(out.mean, full.mean[:, t], **TOL)
            torch.testing.assert_close(out.std, full.std[:, t], **TOL)
    if head == "classification":
        torch.testing.assert_close(out.logits, full.logits, **TOL)
    if head == "class-mean":
        torch.testing.assert_close(torch.stack(logits).mean(0), full.logits, **TOL)
        assert not torch.allclose(out.logits, full.logits)  # not the last step's
    with pytest.raises(ValueError, match="state"):
        model.step(x[:, 0], state)


@pytest.mark.parametrize("name", VARIANTS)
def test_save_load_round_trip(name, tmp_path):
    model, other = make(name, "gaussian", seed=0), make(name, "gaussian", seed=1)
    x = torch.randn(2, 6, 2, dtype=torch.float64)
    assert not torch.allclose(model(x).mean, other(x).mean)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    other.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    torch.testing.assert_close(other(x).mean, model(x).mean, **TOL)

    def gen():
        return torch.Generator().manual_seed(0)  # the same sampled feedback for both

    torch.testing.assert_close(
        other(x, context=2, generator=gen()).mean, model(x, context=2, generator=gen()).mean, **TOL
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_overfits_a_tiny_set(name):
    torch.manual_seed(0)
    model = build_model(name, WarpConfig(in_channels=1, root_width=8, root_depth=1))
    t = torch.linspace(0, 1, 12)
    x = torch.stack([torch.sin(6 * t + p) for p in (0.0, 1.0, 2.0, 3.0)]).unsqueeze(-1)  # (4, 12, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(300):
        loss = ((model(x).mean[:, :-1] - x[:, 1:]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])


@pytest.mark.parametrize(
    "config",
    [
        dict(in_channels=2, root_width=24, root_depth=1, root_activation="tanh"),  # the default job: 11k
        dict(in_channels=1, head="gaussian", root_width=24, root_depth=3, theta0="learned"),  # MNIST: 1.7M
        dict(in_channels=2, root_width=48, root_depth=3, root_activation="swish"),  # MSD: 24M
    ],
    ids=["small", "mnist", "msd"],
)
@pytest.mark.parametrize("name", MODELS[1:])
def test_parameter_matching_within_5_percent(config, name):
    config = WarpConfig(**config)
    model = build_model(name, config, device="meta")
    assert abs(relative_size(model, config) - 1) < 0.05
    narrower = type(model)(config, model.width - 1, device="meta") if name in ("transformer", "s4d") else None
    if narrower is not None:
        assert count_parameters(narrower) < count_parameters(model)


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match=r"model: expected one of \['warp', 'gru', .*\], got 'mamba'"):
        build_model("mamba", WarpConfig())


def test_baseline_rejects_bad_input():
    model = make("gru")
    with pytest.raises(ValueError, match=r"x: expected 2 channels"):
        model(torch.zeros(2, 5, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="mode: expected one of"):
        model(torch.zeros(2, 5, 2, dtype=torch.float64), mode="fast")
    with pytest.raises(ValueError, match="classification head has no autoregressive mode"):
        make("lstm", "classification")(torch.zeros(2, 5, 2, dtype=torch.float64), context=2)


def test_s4d_convolution_equals_recurrence():
    torch.manual_seed(0)
    layer = S4DLayer(3, state_size=8, dtype=torch.float64)
    with torch.no_grad():
        layer.log_dt.fill_(-1.0)  # long memory, so that early inputs still matter at the end
    u = torch.randn(2, 40, 3, dtype=torch.float64, requires_grad=True)
    conv = layer.ssm(u)
    s, steps = layer.initial_state(2), []
    for t in range(40):
        y, s = layer.ssm_step(u[:, t], s)
        steps.append(y)
    rec = torch.stack(steps, dim=1)
    torch.testing.assert_close(conv, rec, **TOL)
    params = [u, *layer.parameters()]
    g_conv = torch.autograd.grad((conv**2).sum(), params, allow_unused=True)
    g_rec = torch.autograd.grad((rec**2).sum(), params, allow_unused=True)
    for a, b in zip(g_conv, g_rec):
        if a is not None or b is not None:
            torch.testing.assert_close(a, b, **TOL)
    assert g_conv[0][:, 0].abs().max() > 1e-6  # the first input reaches the end: the check is not vacuous
