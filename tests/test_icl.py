"""In-context learning: the icl data layout, key_channels, the extracted root and the baselines."""

import pytest
import torch

from warprnn import WARP, WarpConfig
from warprnn.data import DataConfig, build_dataset
from warprnn.data.synthetic import icl_layout, linear_regression_tokens
from warprnn.experiments.icl import context_mean, extract_root, least_squares, run_icl
from warprnn.recurrence import differences


def tokens(n=3, num_tokens=6, dim=2, seed=0):
    return linear_regression_tokens(n, num_tokens, dim, torch.Generator().manual_seed(seed))


def randomised(config: WarpConfig) -> WARP:
    torch.manual_seed(0)
    model = WARP(config, dtype=torch.float64)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def test_icl_data_set_shapes_ranges_and_keys():
    data = build_dataset(DataConfig(name="icl", dim=2, seq_len=6, num_train=4, num_val=2, num_test=3))
    assert data.train.x.shape == (4, 6, 5) and data.test.y.shape == (3, 6, 5)
    assert data.task == "sequence" and data.key_channels == 2
    assert data.train.x[..., -2:].abs().max() <= 1  # the next keys, U(-1, 1)
    assert (data.train.y[..., [0, 1, 3, 4]] == 0).all()  # only the value channel is a target


def test_query_value_is_hidden_and_differences_recover_the_tokens():
    t, w = tokens()
    inputs, targets = icl_layout(t)
    changed = t.clone()
    changed[:, -1, -1] += 5.0
    changed_inputs, changed_targets = icl_layout(changed)
    assert torch.equal(inputs, changed_inputs)  # the query's value never reaches the input
    assert torch.equal(changed_targets[:, -1, 2], targets[:, -1, 2] + 5.0)
    recovered = torch.cat([inputs[:, :1, :3], differences(inputs)[:, 1:, :3]], dim=1)
    torch.testing.assert_close(recovered[:, :-1], t[:, :-1])
    torch.testing.assert_close(recovered[:, -1, :2], t[:, -1, :2])
    assert torch.equal(recovered[:, -1, 2], torch.zeros(3))
    assert torch.equal(inputs[:, :-1, 3:], t[:, 1:, :2]) and torch.equal(targets[:, :, 2], t[:, :, 2])
    torch.testing.assert_close(t[..., 2], torch.einsum("ntd,nd->nt", t[..., :2], w))


def test_extracted_root_is_the_root_at_theta_T():
    model = randomised(WarpConfig(in_channels=5, key_channels=2, root_width=8, root_depth=2, root_activation="tanh"))
    context = torch.randn(7, 5, dtype=torch.float64)
    theta_T = model(context.unsqueeze(0)).theta[0, -1]
    root = extract_root(model, context)
    queries = torch.randn(11, 2, dtype=torch.float64)
    assert isinstance(root, torch.nn.Module) and sum(p.numel() for p in root.parameters()) == model.d_theta
    # float64 to a relative 1e-12: the two paths sum in different orders
    torch.testing.assert_close(root(queries), model.root(theta_T, queries), rtol=1e-12, atol=1e-12)
    # the output at step t is that root, read at the key of step t
    torch.testing.assert_close(model(context.unsqueeze(0)).mean[0, -1], root(context[-1, -2:]), rtol=1e-12, atol=1e-12)


def test_key_channels_drive_nothing_and_every_mode_agrees():
    model = randomised(WarpConfig(in_channels=5, key_channels=2, root_width=6, root_depth=1))
    x = torch.randn(2, 6, 5, dtype=torch.float64)
    other_keys = x.clone()
    other_keys[..., -2:] = torch.randn(2, 6, 2, dtype=torch.float64)
    out = model(x)
    torch.testing.assert_close(model(other_keys).theta, out.theta, rtol=0, atol=0)
    torch.testing.assert_close(model(x, mode="reference").mean, out.mean)
    torch.testing.assert_close(model(x, mode="conv").mean, out.mean)
    state = model.init_state(2, 6)
    for t in range(6):
        step, state = model.step(x[:, t], state)
        torch.testing.assert_close(step.mean, out.mean[:, t])


def test_least_squares_recovers_w_and_is_min_norm_when_underdetermined():
    t, w = tokens(n=4, num_tokens=9, dim=8)
    keys, w = t[..., :8].double(), w.double()
    values = torch.einsum("ntd,nd->nt", keys, w)  # noise-free in float64
    queries = torch.rand(4, 5, 8, dtype=torch.float64) * 2 - 1
    exact = torch.einsum("nqd,nd->nq", queries, w)
    torch.testing.assert_close(least_squares(keys[:, :8], values[:, :8], queries), exact, rtol=0, atol=1e-10)
    keys, values = keys[:, :3], values[:, :3]  # 3 tokens < D = 8
    min_norm = torch.linalg.pinv(keys) @ values.unsqueeze(-1)
    torch.testing.assert_close(least_squares(keys, values, queries), (queries @ min_norm).squeeze(-1))
    assert torch.equal(context_mean(values, queries), values.mean(1, keepdim=True).expand(-1, 5))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: WarpConfig(in_channels=3, key_channels=3), r"key_channels: expected fewer than in_channels=3"),
        (lambda: WarpConfig(in_channels=3, key_channels=-1), r"key_channels: expected an integer >= 0, got -1"),
        (lambda: WarpConfig(in_channels=2, key_channels=1, root="sine"), r"root='sine' reads tau, not its positional"),
        (lambda: DataConfig(name="icl", dim=0), r"data.dim: expected an integer >= 1, got 0"),
        (
            lambda: extract_root(WARP(WarpConfig(in_channels=1, root="sine")), torch.zeros(3, 1)),
            r"extract_root needs an MLP root, got root='sine'",
        ),
        (
            lambda: extract_root(WARP(WarpConfig(in_channels=2, key_channels=1)), torch.zeros(1, 3, 2)),
            r"context: expected one sequence of shape \(T, C\), got shape \(1, 3, 2\)",
        ),
        (lambda: run_icl("gpu", 1, "unused"), r"scale: expected 'cpu' or 'paper', got 'gpu'"),
        (lambda: run_icl("cpu", 0, "unused"), r"seeds: expected an integer >= 1, got 0"),
    ],
)
def test_bad_options_name_themselves(make, match):
    with pytest.raises(ValueError, match=match):
        make()
