"""The tensor-level fast paths of ``warprnn.recurrence`` against the references beside them, in float64:
values and gradients (Eq. 1 and Eq. 3)."""

import pytest
import torch

from warprnn import recurrence

TOL = dict(rtol=0, atol=1e-10)


def problem(batch=3, T=9, D=6, C=2, seed=0):
    """A non-trivial A, B, theta_0, the driving differences after step 0 ``(batch, T - 1, C)`` and a padding
    mask of lengths (T, T-3, 2, ...)."""
    generator = torch.Generator().manual_seed(seed)
    A = torch.eye(D, dtype=torch.float64) + 0.3 / D**0.5 * torch.randn(D, D, generator=generator, dtype=torch.float64)
    B = torch.randn(D, C, generator=generator, dtype=torch.float64)
    theta0 = torch.randn(batch, D, generator=generator, dtype=torch.float64)
    dx = torch.randn(batch, T - 1, C, generator=generator, dtype=torch.float64)
    lengths = torch.tensor([T, T - 3, 2][:batch] + [T] * max(0, batch - 3))
    valid = torch.arange(T) < lengths[:, None]
    return [t.requires_grad_() for t in (A, B, theta0, dx)], valid


def with_zero_first_step(dx):
    """dx ``(batch, T, C)`` from its steps after 0: ``dx_0 = 0`` by definition, a constant."""
    return torch.cat([torch.zeros_like(dx[:, :1]), dx], dim=1)


def assert_same(fast_fn, ref_fn, inputs):
    """Equal values, and equal gradients of a random projection of the output, for every input."""
    fast, ref = fast_fn(*inputs), ref_fn(*inputs)
    torch.testing.assert_close(fast, ref, **TOL)
    weights = torch.randn_like(ref)
    fast_grads = torch.autograd.grad((fast * weights).sum(), inputs)
    ref_grads = torch.autograd.grad((ref * weights).sum(), inputs)
    for g_fast, g_ref in zip(fast_grads, ref_grads):
        assert g_ref.abs().max() > 0  # the comparison is not vacuous
        torch.testing.assert_close(g_fast, g_ref, **TOL)


@pytest.mark.parametrize("padded", [False, True])
def test_scan_matches_the_reference_loop(padded):
    (A, B, theta0, dx), valid = problem()
    mask = valid if padded else None
    assert_same(
        lambda A, B, theta0, dx: recurrence.scan(A, B, theta0, with_zero_first_step(dx), mask),
        lambda A, B, theta0, dx: recurrence.recurrence_ref(A, B, theta0, with_zero_first_step(dx), mask),
        [A, B, theta0, dx],
    )


@pytest.mark.parametrize("batch", [2, 6])  # theta_0 propagated as itself (2 columns) or as [W | b] (4 columns)
def test_convolve_matches_the_reference_loop(batch):
    (A, B, _, dx), valid = problem(batch=batch)
    generator = torch.Generator().manual_seed(1)
    h = torch.randn(batch, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    W = torch.randn(A.shape[0], 3, generator=generator, dtype=torch.float64, requires_grad=True)
    b = torch.randn(A.shape[0], generator=generator, dtype=torch.float64, requires_grad=True)
    assert_same(
        lambda A, B, h, W, b, dx: recurrence.convolve(A, B, (h, W, b), with_zero_first_step(dx), valid),
        lambda A, B, h, W, b, dx: recurrence.recurrence_ref(A, B, h @ W.T + b, with_zero_first_step(dx), valid),
        [A, B, h, W, b, dx],
    )


def test_kernel_matches_matrix_powers():
    (A, B, _, _), _ = problem(D=12)
    assert_same(lambda A, M: recurrence.kernel(A, M, 11), lambda A, M: recurrence.kernel_ref(A, M, 11), [A, B])


def test_reference_loop_is_eq_1():
    """The specification itself, checked on a case worked by hand: A = 2I, B = I, theta_0 = 1."""
    A, B = 2 * torch.eye(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    dx = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]]], dtype=torch.float64)
    theta = recurrence.recurrence_ref(A, B, torch.ones(1, 2, dtype=torch.float64), dx)
    assert theta[0].tolist() == [[1.0, 1.0], [3.0, 2.0], [6.0, 7.0]]
