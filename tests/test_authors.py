"""The authors' semantics (``warprnn.authors``) against straightforward references, in float64: with every
choice ours it computes what the default path computes; its modes agree with each other; its loss is the
authors' formula. Conformance with their own numbers is ``test_conformance.py``."""

import dataclasses
import math

import pytest
import torch

from warprnn import WARP, WarpConfig, authors, rollout
from warprnn.data import Split
from warprnn.errors import ConfigError, InputError
from warprnn.heads import WarpOutput
from warprnn.training.evaluation import authors_steps, compute_loss, forecast

B, T, C = 3, 17, 2


def model_of(choices=None, **options) -> WARP:
    config = WarpConfig(in_channels=C, root_width=6, root_depth=2, head="gaussian", hypernet_depth=2, **options)
    torch.manual_seed(0)
    model = WARP(config, dtype=torch.float64, choices=choices)
    D = model.d_theta
    with torch.no_grad():  # A and B off their initialisation, so that every term of Eq. 1 matters
        model.A.copy_(0.9 * torch.eye(D, dtype=torch.float64) + 0.1 / D**0.5 * torch.randn(D, D, dtype=torch.float64))
        model.B.normal_(0.0, 0.3)
    return model


@pytest.fixture
def x():
    torch.manual_seed(1)
    return 0.5 * torch.randn(B, T, C, dtype=torch.float64)


def test_every_choice_ours_is_the_default_path(x):
    """With ``OURS`` the authors' functions are our model: teacher-forced in every mode, and autoregressive
    against the naive reference rollout, with a random feeding pattern."""
    model = model_of(choices=authors.OURS)
    lengths, valid = torch.full((B,), T), torch.ones(B, T, dtype=torch.bool)
    default = model(x)
    for mode in ("scan", "conv", "reference"):
        theta, raw = authors.teacher_forced(model, x, lengths, valid, mode)
        out = authors.output(model, raw, theta, valid, lengths)
        torch.testing.assert_close(out.mean, default.mean, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(out.std, default.std, rtol=1e-12, atol=1e-12)
    feed = torch.rand(B, T, generator=torch.Generator().manual_seed(2)) < 0.4
    feed[:, 0] = True
    expected = rollout.reference(model, x, lengths, feed, None)
    for got, want in zip(authors.rollout(model, x, lengths, feed, None), expected):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("clip", [None, 0.3])
def test_authors_modes_agree(x, clip):
    """Teacher-forced scan, conv (no clip) and reference give the same values and gradients; autoregressive
    with every step fed the data is ``step()`` step by step."""
    model = model_of(semantics="authors", theta_clip=clip)
    outs = {}
    for mode in ("scan", "reference") + (("conv",) if clip is None else ()):
        model.zero_grad()
        out = model(x, mode=mode)
        (out.mean.square().sum() + out.std.sum()).backward()
        outs[mode] = (out.mean, out.std, *(p.grad.clone() for p in model.parameters()))
    for mode, got in outs.items():
        for a, b in zip(got, outs["scan"]):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=mode)
    if clip is not None:
        with pytest.raises(InputError, match="theta_clip"):
            model(x, mode="conv")
    fed = model(x, teacher_forcing=1.0)
    state, means = model.init_state(B, T), []
    for t in range(T):
        out, state = model.step(x[:, t], state)
        means.append(out.mean)
    torch.testing.assert_close(torch.stack(means, 1), fed.mean, rtol=1e-12, atol=1e-12)


def test_authors_autoregressive_by_hand(x):
    """The autoregressive mode against the recurrence written out for one sequence: the difference subtracts
    the prediction made two steps earlier, A acts before the first decode, the root reads 0 at step 0."""
    model = model_of(semantics="authors", theta_clip=0.8)
    feed = torch.tensor([[True, True, False] + [False, True] * 7], dtype=torch.bool).expand(B, T)
    theta, raw = authors.rollout(model, x, torch.full((B,), T), feed, None)
    A, Bm, root = model.A, model.B, model.root
    th, hat, prev, raws = model.theta0(x[:1, 0])[0], x[0, 0], x[0, 0], []
    for t in range(T):
        if t > 0:
            hat = raws[-1][:C]  # the mean (final activation none)
        fed = x[0, t] if feed[0, t] else hat
        th = (A @ th + Bm @ (fed - prev)).clamp(-0.8, 0.8)
        tau = 0.0 if t == 0 else (t + 1) / (T - 1)
        raws.append(root(th[None], torch.tensor([[tau]], dtype=torch.float64))[0])
        prev = hat
    torch.testing.assert_close(raw[0], torch.stack(raws), rtol=1e-12, atol=1e-12)


def test_authors_teacher_forced_by_hand(x):
    """Teacher-forced: theta_t = clip(A theta_{t-1} + B dx_t) from theta_{-1} = phi(x_0), decoded at tau_t."""
    model = model_of(semantics="authors", theta_clip=0.8)
    out = model(x)
    th, means = model.theta0(x[:1, 0])[0], []
    for t in range(T):
        dx = x[0, t] - x[0, max(t - 1, 0)]
        th = (model.A @ th + model.B @ dx).clamp(-0.8, 0.8)
        means.append(model.root(th[None], torch.tensor([[t / (T - 1)]], dtype=torch.float64))[0, :C])
    torch.testing.assert_close(out.mean[0], torch.stack(means), rtol=1e-12, atol=1e-12)


def test_authors_std_floor_and_loss_constants():
    """std = max(softplus(s), floor); their NLL has no 0.5 log 2 pi, their MSE is halved; the loss scores
    output t against y_t, and counts a step drawn twice twice."""
    config = WarpConfig(in_channels=1, head="gaussian", std_floor=0.5, semantics="authors")
    raw = torch.tensor([[[0.0, -3.0], [1.0, 2.0]]], dtype=torch.float64)  # (1, 2, 2): mean, raw std
    sd = authors.std(config, authors.AUTHORS, raw)
    torch.testing.assert_close(sd[..., 0], torch.nn.functional.softplus(raw[..., 1]).clamp_min(0.5))
    assert sd[0, 0, 0] == 0.5
    y = torch.tensor([[[0.3], [-0.2]]], dtype=torch.float64)
    batch = Split(y, y, torch.tensor([2]))
    out = WarpOutput(mean=raw[..., :1], std=sd, logits=None, theta=raw)
    nll = (sd.log() + 0.5 * ((y - raw[..., :1]) / sd) ** 2).mean()
    torch.testing.assert_close(compute_loss(out, batch, "nll", choices=authors.AUTHORS), nll)
    mse = 0.5 * ((y - raw[..., :1]) ** 2).mean()
    torch.testing.assert_close(compute_loss(out, batch, "mse", choices=authors.AUTHORS), mse)
    counts = torch.tensor([[2.0, 1.0]], dtype=torch.float64)
    weighted = (0.5 * (y - raw[..., :1]) ** 2)[0, :, 0] @ counts[0] / 3
    torch.testing.assert_close(compute_loss(out, batch, "mse", counts, authors.AUTHORS), weighted)
    ours = ((y[:, 1:] - raw[:, :1, :1]) ** 2).mean()
    torch.testing.assert_close(compute_loss(out, batch, "mse"), ours)


def test_authors_steps_draw_with_replacement():
    counts = authors_steps(torch.tensor([10, 6]), 10, 40, torch.Generator().manual_seed(0))
    assert counts.shape == (2, 10) and counts[0].sum() == 40 and counts[1, 6:].sum() == 0
    assert counts.max() > 1  # with replacement
    assert authors_steps(torch.tensor([10]), 10, None) is None


def test_authors_forecast_is_not_shifted(x):
    """Under the authors' semantics, evaluation scores output t against y_t, as their code does."""
    model = model_of(semantics="authors", theta_clip=0.8)
    split = Split(x, x, torch.full((B,), T))
    pred = forecast(model, split, 5, B, "cpu")
    assert pred["mean"].isfinite().all()
    torch.testing.assert_close(pred["mean"], model(x, context=5).mean)


def test_hypernetwork_widths_are_theirs():
    """int(2/3 C + 1/3 D), int(1/3 C + 2/3 D): the msd-paper sizes the issue measured (C 2, D 4898)."""
    assert authors.hypernet_widths(2, 4898, 2) == [1633, 3265]
    assert authors.hypernet_widths(2, 4898, 1) == [2450]
    model = WARP(
        WarpConfig(
            in_channels=2,
            root_width=48,
            root_depth=3,
            semantics="authors",
            hypernet_depth=2,
            root_activation="swish",
            hypernet_activation="swish",
        ),
        device="meta",
    )
    assert model.d_theta == 4898
    assert [layer.out_features for layer in model.hypernet.hidden] == [1633, 3265]


@pytest.mark.parametrize(
    "option",
    [
        {"positional_encoding": 2},
        {"root": "sine", "head": "point"},
        {"hypernet_width": 16},
        {"hypernet_activation": "tanh"},
        {"instance_norm": "shift", "norm_steps": 4},
    ],
)
def test_authors_semantics_refuses_what_it_cannot_hold(option):
    with pytest.raises(ConfigError, match=next(iter(option))):
        WarpConfig(in_channels=1, semantics="authors", **option)


def test_dtanh_is_trained_and_theirs_only(x):
    with pytest.raises(ConfigError, match="dtanh"):
        WarpConfig(in_channels=1, final_activation="dtanh")
    model = model_of(semantics="authors", final_activation="dtanh", dtanh_init=(2.0, 0.1, 3.0, -0.5))
    assert model.dtanh.tolist() == [2.0, 0.1, 3.0, -0.5]
    out = model(x)
    raw = authors.teacher_forced(model, x, torch.full((B,), T), torch.ones(B, T, dtype=torch.bool), "scan")[1]
    torch.testing.assert_close(out.mean, 3.0 * torch.tanh((raw[..., :C] - 0.1) / 2.0) - 0.5)
    out.mean.sum().backward()
    assert model.dtanh.grad.abs().min() > 0
    assert math.isfinite(float(out.std.detach().sum()))


def test_default_semantics_has_no_authors_choice():
    model = WARP(WarpConfig(in_channels=1))
    assert model.choices == authors.OURS and not hasattr(model, "dtanh")
    assert WARP(WarpConfig(in_channels=1, semantics="authors")).choices == authors.AUTHORS
    assert dataclasses.fields(authors.Choices) and len(dataclasses.fields(authors.Choices)) == 7
