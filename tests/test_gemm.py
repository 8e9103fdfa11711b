"""``warprnn.gemm``: the recurrence's products on oneDNN or BLAS give the same numbers, and the rule."""

import pytest
import torch

from warprnn import gemm
from warprnn.transition import Dense

needs_onednn = pytest.mark.skipif(not gemm.onednn_available(), reason="this torch has no oneDNN linear operators")
TOL = dict(rtol=1e-5, atol=1e-4)  # float32, sums of a few hundred terms in different orders


def operands(D=gemm.ONEDNN_MIN, rows=32):
    g = torch.Generator().manual_seed(0)
    A = torch.eye(D) + torch.randn(D, D, generator=g) / D**0.5
    return A, torch.randn(rows, D, generator=g), torch.randn(rows, D, generator=g)


@needs_onednn
@pytest.mark.parametrize("setting", ["auto", "onednn"])
def test_large_float32_products_run_on_onednn_and_agree_with_blas(monkeypatch, setting):
    monkeypatch.setenv(gemm.BACKEND_ENV, setting)
    A, theta, u = operands()
    op = Dense(A)
    assert op.forward.onednn and op.adjoint.onednn
    torch.testing.assert_close(op.step(theta, u), torch.addmm(u, theta, A.T), **TOL)
    out = torch.empty_like(u)
    op.step(theta, u, out=out)
    torch.testing.assert_close(out, torch.addmm(u, theta, A.T), **TOL)
    torch.testing.assert_close(op.step_T(theta, u), torch.addmm(u, theta, A), **TOL)
    assert op.forward.packed is not None  # A was reordered once, on the first product


@pytest.mark.parametrize(
    "setting, D, dtype, onednn",
    [
        ("auto", gemm.ONEDNN_MIN, torch.float32, True),
        ("auto", gemm.ONEDNN_MIN - 1, torch.float32, False),  # small: BLAS
        ("auto", gemm.ONEDNN_MIN, torch.float64, False),  # oneDNN has no float64: the references' type
        ("onednn", 8, torch.float32, True),
        ("blas", gemm.ONEDNN_MIN, torch.float32, False),
    ],
)
def test_the_rule(monkeypatch, setting, D, dtype, onednn):
    monkeypatch.setenv(gemm.BACKEND_ENV, setting)
    assert gemm.uses_onednn(torch.zeros(D, D, dtype=dtype)) == (onednn and gemm.onednn_available())


def test_blas_setting_is_exactly_addmm(monkeypatch):
    monkeypatch.setenv(gemm.BACKEND_ENV, "blas")
    A, theta, u = operands()
    assert torch.equal(Dense(A).step(theta, u), torch.addmm(u, theta, A.T))


def test_products_that_autograd_records_stay_differentiable(monkeypatch):
    """oneDNN's operators have no derivative: a product with a graph runs on BLAS, with its gradient."""
    monkeypatch.setenv(gemm.BACKEND_ENV, "onednn")
    A, theta, u = operands()
    A.requires_grad_()
    Dense(A).step(theta, u).sum().backward()
    torch.testing.assert_close(A.grad, theta.sum(0).expand_as(A), **TOL)


def test_unknown_setting_is_named(monkeypatch):
    monkeypatch.setenv(gemm.BACKEND_ENV, "cublas")
    with pytest.raises(ValueError, match="WARPRNN_GEMM='cublas'"):
        gemm.backend()


@needs_onednn
@pytest.mark.parametrize("teacher_forcing", [None, 0.5])
def test_a_model_trains_alike_on_either_kernel(monkeypatch, teacher_forcing):
    """WARP at the MNIST root size (D_theta 1,298), float32, teacher-forced scan and autoregressive: the
    outputs and gradients on oneDNN against BLAS, to float32 rounding."""
    from warprnn import WARP, WarpConfig

    def run(setting):
        monkeypatch.setenv(gemm.BACKEND_ENV, setting)
        torch.manual_seed(0)
        model = WARP(WarpConfig(in_channels=1, root_width=24, root_depth=3, head="gaussian", theta0="learned"))
        with torch.no_grad():
            model.A.mul_(0.99).add_(0.01 / model.d_theta**0.5 * torch.randn_like(model.A))
            model.B.normal_(std=0.01)
        kwargs = {} if teacher_forcing is None else dict(teacher_forcing=teacher_forcing)
        mean = model(torch.rand(4, 30, 1), mode="scan", **kwargs).mean
        mean.square().mean().backward()
        return mean.detach(), model.A.grad, model.B.grad

    for blas, onednn in zip(run("blas"), run("onednn")):
        assert ((blas - onednn).norm() / blas.norm()).item() < 1e-4
