"""The recurrence's large products on the fastest CPU kernel: oneDNN where it beats the default BLAS.

A dense A makes WARP's recurrence three large float32 products per step of every sequence batch: the
forward ``theta A^T``, the adjoint ``lam A`` and A's gradient ``lam^T theta`` (``recurrence``,
``rollout``). On x86 CPUs torch sends ``addmm`` to MKL; oneDNN, which torch also ships, ran the step
products (a few to a hundred rows against a large A) 1.1 to 3x faster on the AVX-512 machine this library
is benchmarked on, while a large square product ran at about the same speed on both
(``python benchmarks/gemm.py`` prints both kernels per shape).

``Factor`` is one right-hand factor W of products ``u + x @ W`` that stays fixed over a pass (A, or
A^T): it is reordered once into oneDNN's blocked layout, on its first product, and every product of the
pass (one per step, forward and adjoint) reads that copy. A's gradient, a few large products with
thousands of rows, stays on BLAS: oneDNN was no faster there (``benchmarks/gemm.py``, 0.7 to 1.0x at every
size, 2026-11-29). The rule for the step products, ``WARPRNN_GEMM``:

- ``auto`` (default): oneDNN for float32 CPU tensors when both sides of W have at least ``ONEDNN_MIN``
  entries and torch has the oneDNN operators, BLAS otherwise (float64, GPUs, small roots, a product
  that autograd must record).
- ``blas``: always ``torch.addmm``, as before this module existed.
- ``onednn``: oneDNN wherever it applies (float32 CPU), whatever the size.

The two kernels sum in different orders, so float32 results differ in the last bits; float64 always runs
on BLAS and the reference tests compare in float64. oneDNN's linear operators are torch's internal ones
(``torch.ops.mkldnn``, used by ``torch.compile`` on CPU): they are probed once, and a torch without them
falls back to BLAS.
"""

from __future__ import annotations

import functools
import os

import torch
from torch import Tensor

BACKEND_ENV = "WARPRNN_GEMM"
BACKENDS = ("auto", "blas", "onednn")
ONEDNN_MIN = 512
"""The smallest side of W for which ``auto`` uses oneDNN. ``benchmarks/gemm.py`` on 2 AMD EPYC cores
(2026-11-29, two runs), step products of 4 to 128 rows: oneDNN at 0.26 to 0.57x BLAS's speed at D = 128,
0.54 to 0.87x at 256, 1.06 to 1.51x at 512, 1.13 to 2.55x at 1,298 (MNIST) and 1.28 to 2.97x at 4,898
(MSD)."""


def backend() -> str:
    """The ``WARPRNN_GEMM`` setting, checked."""
    value = os.environ.get(BACKEND_ENV, "auto")
    if value not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV}={value!r}: expected one of {', '.join(BACKENDS)}")
    return value


@functools.cache
def onednn_available() -> bool:
    """Whether this torch has oneDNN's linear operators and they compute a small product correctly."""
    try:
        x, w, u = torch.randn(3, 4), torch.randn(5, 4), torch.randn(3, 5)
        packed = torch.ops.mkldnn._reorder_linear_weight(w, 3)
        y = torch.ops.mkldnn._linear_pointwise.binary(x, u, packed, None, "add")
        return bool(torch.allclose(y, u + x @ w.T, atol=1e-5))
    except (AttributeError, RuntimeError):
        return False


def uses_onednn(W: Tensor) -> bool:
    """Whether products with the right-hand factor W ``(K, N)`` run on oneDNN (the rule above)."""
    setting = backend()
    if setting == "blas" or W.device.type != "cpu" or W.dtype != torch.float32:
        return False
    return (setting == "onednn" or min(W.shape) >= ONEDNN_MIN) and onednn_available()


def recorded(*tensors: Tensor) -> bool:
    """Whether autograd would record a product of ``tensors`` (oneDNN's operators have no derivative)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


class Factor:
    """A right-hand factor W ``(K, N)`` of products ``u + x @ W``, prepared once for its kernel.

    The oneDNN copy (W^T reordered into the blocked layout, the operator's ``(N, K)`` weight) is made on
    the first product, from W's values then: W must not change while the ``Factor`` is in use. ``onednn``:
    the kernel, True or False (a benchmark's choice), or None for the rule above (``uses_onednn``).
    """

    def __init__(self, W: Tensor, onednn: bool | None = None):
        self.W = W
        self.onednn = uses_onednn(W) if onednn is None else onednn
        self.packed: Tensor | None = None

    def addmm(self, u: Tensor, x: Tensor, out: Tensor | None = None) -> Tensor:
        """``u + x @ W`` for x ``(rows, K)`` and u ``(rows, N)``, written into ``out`` when given."""
        if not self.onednn or recorded(u, x, self.W):
            return torch.addmm(u, x, self.W) if out is None else torch.addmm(u, x, self.W, out=out)
        if self.packed is None:
            self.packed = torch.ops.mkldnn._reorder_linear_weight(self.W.detach().T.contiguous(), x.shape[0])
        y = torch.ops.mkldnn._linear_pointwise.binary(x, u, self.packed, None, "add")
        return y if out is None else out.copy_(y)
