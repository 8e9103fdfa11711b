r"""The linear recurrence of WARP and every exact way of running it (paper Eq. 1-3): tensors only.

Notation (batch-first; D = D_theta, C' = channels of the driving difference):

    theta_0 = phi(x_0)                                      hypernetwork or learned vector
    dx_0    = 0,   dx_t = x_t - x_{t-1}                      (B, T, C')
    theta_t = A theta_{t-1} + B dx_t            (t >= 1)     (B, T, D)      Eq. 1
            = A^t theta_0 + sum_{k<=t} A^(t-k) B dx_k                       Eq. 3, convolution

Each fast path sits after the slow, obviously correct reference it is tested against (float64, values
and gradients):

* ``recurrence_ref``: Eq. 1 as written, one sequence, one step, one matrix-vector product at a time.
  The specification.
* ``scan``: Eq. 1 over the whole batch, with ``B dx`` computed for all steps at once, as one autograd
  node (``LinearRecurrence``): the backward is the same recurrence with A transposed, and A's gradient
  is one large matrix product over all steps. A dense A's products run on the fastest CPU kernel
  (``warprnn.gemm``).
* ``kernel`` (reference ``kernel_ref``): the convolution kernel ``K_j = A^j M``, built by Eq. 1 run on
  the few columns of M.
* ``causal_conv`` (reference ``causal_conv_ref``): ``y_t = sum_{k<=t} K_{t-k} u_k`` by FFT
  (``CausalConvolution``).
* ``convolve``: Eq. 3, the kernel ``K_j = A^j [B | M0]`` applied by ``causal_conv``. The theta_0 term
  is part of the same kernel: with ``theta_0 = W h + b`` (h the hypernetwork's last hidden features, or
  empty for a learned vector), ``A^t theta_0 = (A^t W) h + A^t b`` (M0 = [W | b]), or M0 = theta_0
  itself when the batch is narrower than h; it enters as an impulse at step 0. The result is exact and
  causal, and no step runs the batch through A.
* ``fastest``: ``mode="auto"``, ``conv`` when it needs fewer multiply-adds than ``scan``, else ``scan``.

A is a ``(D, D)`` tensor (the paper's dense transition) or a ``warprnn.transition.Operator``
(``WarpConfig.transition``; a dense one is ``Dense``): the recurrence and its adjoint run through the
operator's products, and the kernel is the operator's closed form where it has one (diagonal:
``K_j = lambda^j M``), else Eq. 1 run on M's columns.
The references read a structured A as its dense matrix.

Running the recurrence with the model's predictions fed back (autoregressive mode) needs the root
network, so it lives in ``warprnn.rollout``.
"""

from __future__ import annotations

import functools
import logging
import math

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .transition import Dense, Operator, multiply_adds

Transition = Tensor | Operator
"""A of Eq. 1: a dense ``(D, D)`` tensor or a structured ``Operator``."""

logger = logging.getLogger(__name__)


def differences(x: Tensor) -> Tensor:
    """dx with ``dx_0 = 0`` and ``dx_t = x_t - x_{t-1}``. x: ``(B, T, C)`` -> ``(B, T, C)``."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)


def dense(A: Transition) -> Tensor:
    """A as a ``(D, D)`` tensor: itself, or a structured operator's matrix."""
    return A if isinstance(A, Tensor) else A.matrix()


def recurrence_ref(
    A: Transition, B: Tensor, theta0: Tensor, dx: Tensor, valid: Tensor | None = None, clip: float | None = None
) -> Tensor:
    """Eq. 1 as written: ``theta_t = A theta_{t-1} + B dx_t``, one sequence and one step at a time.

    Same arguments and result as ``scan``: A ``(D, D)`` (a structured one read as its matrix), B ``(D, C')``,
    theta0 ``(batch, D)``, dx ``(batch, T, C')`` (``dx[:, 0]`` unused), valid ``(batch, T)`` or None, clip
    c or None. Returns theta ``(batch, T, D)``, zero where not valid.
    """
    A, sequences = dense(A), []
    for b in range(dx.shape[0]):
        theta, states = theta0[b], [theta0[b]]
        for t in range(1, dx.shape[1]):
            theta = A @ theta + B @ dx[b, t]
            if clip is not None:
                theta = theta.clamp(-clip, clip)
            states.append(theta)
        sequences.append(torch.stack(states))
    theta = torch.stack(sequences)
    return theta if valid is None else theta * valid.unsqueeze(-1)


class LinearRecurrence(torch.autograd.Function):
    """Eq. 1 as one autograd node, time-major: ``theta_t = theta_{t-1} A^T + u_t`` for ``t >= 1``.

    A is an ``Operator`` (``op``; a dense A is ``Dense``), whose factors are the node's tensor inputs. The
    forward writes every step (``op.step``) into one preallocated ``(T, batch, D)`` tensor, the only thing
    saved. The backward is itself a linear recurrence, with A transposed: the adjoint
    ``lam_t = dL/dtheta_t`` obeys ``lam_{t-1} = g_{t-1} + lam_t A`` (``op.step_T``; g the incoming
    gradient); then ``dL/du_t = lam_t``, ``dL/dtheta_0 = lam_0`` and A's gradient from
    ``sum_t lam_t^T theta_{t-1}`` (``op.grads``: for a dense A one ``(D, T batch) @ (T batch, D)`` product)
    instead of T per-step graph nodes.

    With ``keep`` ``(T, batch, 1)``, the states of padding steps (a suffix of each sequence) are zeroed in
    place, so that no masked copy of the output is needed; they are constants, so the adjoint is zero
    there, and A's gradient never reads them.

    With ``clip`` c, each step's state is clipped to [-c, c] in place (``WarpConfig.theta_clip``); the
    adjoint then passes only through the entries that were not clipped, ``|theta_t| < c`` (an entry that
    lands exactly on c is read as clipped, where autograd's clamp would pass it: a set of measure zero).
    """

    @staticmethod
    def forward(
        ctx, op: Operator, theta0: Tensor, u: Tensor, keep: Tensor | None, clip: float | None, *factors: Tensor
    ) -> Tensor:
        """op: A, whose factors are ``factors``. theta0: ``(batch, D)``. u: ``(T, batch, D)``, ``u[0]`` unused.
        Returns ``(T, batch, D)``."""
        theta = torch.empty_like(u)
        theta[0] = theta0
        for t in range(1, u.shape[0]):
            op.step(theta[t - 1], u[t], out=theta[t])
            if clip is not None:
                theta[t].clamp_(-clip, clip)
        if keep is not None:
            theta.masked_fill_(~keep, 0.0)
        ctx.op, ctx.keep, ctx.clip = op, keep, clip
        ctx.save_for_backward(theta)
        return theta

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        (theta,), op, keep, clip = ctx.saved_tensors, ctx.op, ctx.keep, ctx.clip
        lam = torch.empty_like(theta)  # (T, batch, D)
        lam[-1] = grad[-1]
        for t in range(theta.shape[0] - 1, 0, -1):
            if keep is not None:
                lam[t].masked_fill_(~keep[t], 0.0)
            if clip is not None:  # from dL/dtheta_t to dL/d(theta_{t-1} A^T + u_t)
                lam[t].masked_fill_(theta[t].abs() >= clip, 0.0)
            lam[t - 1] = op.step_T(lam[t], grad[t - 1])
        grads = op.grads(lam[1:].flatten(0, 1), theta[:-1].flatten(0, 1))
        grad_theta0 = lam[0].clone()
        lam[0] = 0.0  # u_0 is unused
        return None, grad_theta0, lam, None, None, *grads


def recur(A: Transition, theta0: Tensor, u: Tensor, keep: Tensor | None = None, clip: float | None = None) -> Tensor:
    """``theta_t = theta_{t-1} A^T + u_t`` time-major (``LinearRecurrence``), each step clipped to [-clip,
    clip] when given; a tensor A is read as ``Dense``."""
    op = Dense(A) if isinstance(A, Tensor) else A
    return LinearRecurrence.apply(op, theta0, u, keep, clip, *op.factors)


def scan(
    A: Transition, B: Tensor, theta0: Tensor, dx: Tensor, valid: Tensor | None = None, clip: float | None = None
) -> Tensor:
    """Eq. 1 run step by step over the whole batch (``LinearRecurrence``).

    Args:
        A: ``(D, D)`` transition, or a structured ``Operator``. B: ``(D, C')`` input matrix. theta0: ``(batch, D)``.
        dx: ``(batch, T, C')`` driving differences, ``dx[:, 0]`` unused (zero by definition).
        valid: ``(batch, T)`` bool, the steps within each length; theta is zero elsewhere (None: all).
        clip: c, each step's state clipped to [-c, c] (``WarpConfig.theta_clip``), or None.

    Returns:
        theta: ``(batch, T, D)``, a view of time-major storage.
    """
    u = dx.transpose(0, 1) @ B.T  # (T, batch, D), every step's input in one product
    keep = None if valid is None else valid.T.unsqueeze(-1)  # (T, batch, 1)
    return recur(A, theta0, u, keep, clip).transpose(0, 1)


def kernel(A: Transition, M: Tensor, length: int) -> Tensor:
    """The convolution kernel ``K_j = A^j M`` for ``j < length`` (Eq. 3).

    The kernel is Eq. 1 itself run on the m columns of M as a batch (``LinearRecurrence``):
    ``length m D^2`` multiply-adds, fewer than repeated squaring of A needs (``log2(length) D^3``, and
    as many again to fill the kernel), and a backward that forms A's gradient in one product.

    A structured A uses its closed form where it has one (a diagonal A's Vandermonde product), else the
    same recurrence through its products (``length m`` applications of A).

    Args:
        A: ``(D, D)`` or an ``Operator``. M: ``(D, m)``, the columns to propagate (B, and the theta_0 terms).

    Returns:
        K: ``(length, D, m)``.
    """
    if isinstance(A, Operator):  # a closed form (diagonal), or None
        K = A.kernel(M, length)
        if K is not None:
            return K
    D, m = M.shape
    K = recur(A, M.T, M.new_zeros(length, m, D))  # (length, m, D): row j is (A^j M)^T
    return K.transpose(1, 2)


def kernel_ref(A: Transition, M: Tensor, length: int) -> Tensor:
    """``kernel`` by matrix powers, ``K_j = A^j M`` (a structured A as its matrix). Same arguments and returns."""
    A = dense(A)
    return torch.stack([torch.linalg.matrix_power(A, j) @ M for j in range(length)])


def real_form(K_f: Tensor) -> Tensor:
    """The complex ``(F, m, D)`` spectrum as a real ``(F, 2m, 2D)`` matrix, so that for a complex row vector
    u = a + ib ``(.., m)``, ``[a | b] @ real_form(K)`` is ``u K`` with real and imaginary parts interleaved.

    Rows ``i < m`` hold ``(Re K_i, Im K_i)`` per column, rows ``m + i`` hold those of ``i K_i``. Complex
    products with a few rows are slow in BLAS (m is 2 to 4 here); real ones with 2m rows are not.
    """
    F, m, D = K_f.shape
    return torch.view_as_real(torch.cat([K_f, 1j * K_f], dim=1)).reshape(F, 2 * m, 2 * D)


class CausalConvolution(torch.autograd.Function):
    """``y_t = sum_{k<=t} K_{t-k} u_k`` (Eq. 3) by FFT over time, time-major, one batch chunk at a time.

    Both signals are zero-padded to 2T so that the circular convolution is the linear one. The
    forward keeps only the spectra of K and u, never the ``(T, batch, D)`` output; the backward is two
    cross-correlations by FFT, ``dL/dK_j = sum_t g_t u_{t-j}^T`` and ``dL/du_k = sum_t K_{t-k}^T g_t``,
    with the incoming gradient g transformed one chunk of sequences at a time (``chunk_size``), so that no
    full-size complex tensor is ever held. Every product per frequency is a real one (``real_form``).
    With ``keep`` ``(T, batch, 1)``, padding steps are zeroed in the output and are constants for the
    backward.
    """

    CHUNK_BYTES = 16 * 2**20  # one chunk's spectrum: its FFT buffers stay in cache and are reused by malloc

    @staticmethod
    def chunk_size(T: int, D: int) -> int:
        """Sequences per chunk: as many as fit one ``(T + 1, D)`` complex spectrum each in ``CHUNK_BYTES``.

        Measured on the MNIST case (T = 784, D = 1298): chunks of 2 sequences (16 MB) ran the node in
        0.95 s, chunks of 16 in 1.6 s, from page faults and cache misses on the larger buffers."""
        return max(1, CausalConvolution.CHUNK_BYTES // ((T + 1) * D * 8))

    @staticmethod
    def forward(ctx, K: Tensor, u: Tensor, keep: Tensor | None = None) -> Tensor:
        """K: ``(T, D, m)``. u: ``(T, batch, m)``. keep: ``(T, batch, 1)`` or None. Returns y ``(T, batch, D)``."""
        (T, batch, _), D = u.shape, K.shape[1]
        K_r = real_form(torch.fft.rfft(K.transpose(1, 2), n=2 * T, dim=0))  # (F, 2m, 2D), F = T + 1
        u_f = torch.fft.rfft(u, n=2 * T, dim=0)  # (F, batch, m)
        u_r = torch.cat([u_f.real, u_f.imag], dim=-1)  # (F, batch, 2m): [Re | Im]
        y = u.new_empty(T, batch, D)
        step = CausalConvolution.chunk_size(T, D)
        for s in range(0, batch, step):
            chunk = slice(s, s + step)
            y_f = torch.view_as_complex(torch.bmm(u_r[:, chunk], K_r).unflatten(-1, (D, 2)))  # (F, chunk, D)
            y[:, chunk] = torch.fft.irfft(y_f, n=2 * T, dim=0)[:T]
            if keep is not None:
                y[:, chunk].masked_fill_(~keep[:, chunk], 0.0)
        ctx.keep = keep
        ctx.save_for_backward(K_r, u_r)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        K_r, u_r = ctx.saved_tensors
        T, batch, D = grad.shape
        m = u_r.shape[-1] // 2
        P = K_r.new_zeros(K_r.shape)  # (F, 2m, 2D): [Re u | Im u]^T [Re g, Im g interleaved], summed over chunks
        grad_u_r = torch.empty_like(u_r)  # (F, batch, 2m)
        step = CausalConvolution.chunk_size(T, D)
        padded = grad.new_zeros(2 * T, min(step, batch), D)  # g, then T zeros: zeroed once
        for s in range(0, batch, step):
            chunk = slice(s, s + step)
            g = padded[:, : min(step, batch - s)]
            g[:T] = grad[:, chunk]
            if ctx.keep is not None:
                g[:T].masked_fill_(~ctx.keep[:, chunk], 0.0)
            # the FFT's output is time-innermost: made frequency-major as complex numbers (as real pairs
            # the copy's inner loop would run over 2 elements)
            g_r = torch.view_as_real(torch.fft.rfft(g, dim=0).contiguous()).flatten(-2)  # (F, chunk, 2D)
            P.baddbmm_(u_r[:, chunk].transpose(1, 2), g_r)
            grad_u_r[:, chunk] = torch.bmm(g_r, K_r.transpose(1, 2))  # conj(K)^T g, as [Re | Im]
        grad_K = grad_u = None
        if ctx.needs_input_grad[0]:  # sum_b conj(u_b) g_b: Re = Re u Re g + Im u Im g, Im = Re u Im g - Im u Re g
            P = P.unflatten(-1, (D, 2))
            grad_K_f = torch.complex(P[:, :m, :, 0] + P[:, m:, :, 1], P[:, :m, :, 1] - P[:, m:, :, 0])  # (F, m, D)
            grad_K = torch.fft.irfft(grad_K_f, n=2 * T, dim=0)[:T].transpose(1, 2)
        if ctx.needs_input_grad[1]:
            grad_u = torch.fft.irfft(torch.complex(grad_u_r[..., :m], grad_u_r[..., m:]), n=2 * T, dim=0)[:T]
        return grad_K, grad_u, None


def causal_conv(K: Tensor, u: Tensor, keep: Tensor | None = None) -> Tensor:
    """``y_t = sum_{k<=t} K_{t-k} u_k`` (``CausalConvolution``).

    Args:
        K: ``(T, D, m)`` kernel. u: ``(T, batch, m)`` input. keep: ``(T, batch, 1)``: zero y elsewhere.

    Returns:
        y: ``(T, batch, D)``.
    """
    return CausalConvolution.apply(K, u, keep)


def causal_conv_ref(K: Tensor, u: Tensor) -> Tensor:
    """``causal_conv`` as the plain double sum. Same arguments and returns (``keep`` aside)."""
    T = u.shape[0]
    return torch.stack([sum(K[t - k] @ u[k].T for k in range(t + 1)).T for t in range(T)])


def initial_columns(theta0_parts: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """theta_0 written as ``coef @ M0^T`` with the fewest columns M0 to propagate through the kernel.

    With ``theta_0 = h W^T + b`` (h ``(batch, H)``) either ``M0 = [W | b]``, ``coef = [h | 1]`` (H + 1
    columns: a learned theta_0 has H = 0), or ``M0 = theta_0^T``, ``coef = I`` (batch columns), whichever
    is narrower.

    Returns:
        coef ``(batch, m0)`` and M0 ``(D, m0)``.
    """
    h, W, b = theta0_parts
    if h.shape[1] + 1 <= h.shape[0]:
        return torch.cat([h, h.new_ones(h.shape[0], 1)], dim=1), torch.cat([W, b.unsqueeze(1)], dim=1)
    theta0 = h @ W.T + b
    return torch.eye(h.shape[0], dtype=h.dtype, device=h.device), theta0.T


def convolve(
    A: Transition, B: Tensor, theta0_parts: tuple[Tensor, Tensor, Tensor], dx: Tensor, valid: Tensor | None = None
) -> Tensor:
    """Eq. 3: theta for every step as one causal convolution, theta_0 term included.

    The theta_0 term ``A^t theta_0 = (A^t M0) coef^T`` is the response of the kernel columns M0 to an
    impulse ``coef`` at step 0, so it rides along as extra input channels: the input is
    ``[dx_t | coef delta_t0]`` and the kernel ``A^j [B | M0]``. No step runs the batch through A.

    Args:
        A: ``(D, D)`` or an ``Operator``. B: ``(D, C')``. dx: ``(batch, T, C')`` with ``dx[:, 0] = 0``.
        valid: ``(batch, T)`` bool, the steps within each length; theta is zero elsewhere (None: all).
        theta0_parts: ``(h, W, b)`` with ``theta_0 = h W^T + b``; h ``(batch, H)``, W ``(D, H)``, b ``(D,)``.

    Returns:
        theta: ``(batch, T, D)``, a view of time-major storage.
    """
    coef, M0 = initial_columns(theta0_parts)
    impulse = torch.cat([coef.unsqueeze(0), coef.new_zeros(dx.shape[1] - 1, *coef.shape)])  # (T, batch, m0)
    u = torch.cat([dx.transpose(0, 1), impulse], dim=-1)  # (T, batch, C' + m0)
    K = kernel(A, torch.cat([B, M0], dim=1), dx.shape[1])  # (T, D, C' + m0)
    keep = None if valid is None else valid.T.unsqueeze(-1)  # (T, batch, 1)
    return causal_conv(K, u, keep).transpose(0, 1)


SEQUENTIAL_ROWS = 16  # a sequential (rows, D) @ (D, D) product costs at least as much as 16 rows: it reads A
FFT_COST = 32  # multiply-adds' worth of time per output value and log2(2T) of the memory-bound FFTs


@functools.cache
def fastest(batch: int, T: int, D: int, kernel_columns: int | None, transition: str = "dense") -> str:
    """``mode="auto"``: the fastest valid mode, logged once per distinct problem size.

    Costs in units of D^2 multiply-adds, for a forward pass. Dense A: ``scan`` ``T max(batch,
    SEQUENTIAL_ROWS)``; ``conv`` ``T max(m, SEQUENTIAL_ROWS)`` to build the kernel of m columns plus, per
    output value, ``FFT_COST log2(2T)`` for the FFTs and ``4 m`` for the complex products. A structured A
    costs w multiply-adds per state vector (``transition.multiply_adds``: D diagonal, K D block, 2 R D
    low-rank) and has no D x D matrix to re-read at each step: ``scan`` ``T batch w / D^2``, ``conv``
    ``T m w / D^2`` (the kernel; a diagonal's closed form costs as much) plus the same FFTs and products;
    scan wins unless an application of A costs more than the FFTs per value. The constants were measured
    with ``benchmarks/run.py`` on the dense A; the structured costs reuse them (not measured apart).
    Autoregressive runs (``kernel_columns`` None) have only ``scan``.

    Args:
        kernel_columns: m, the columns that ``convolve`` propagates: C' plus theta_0's (``initial_columns``).
        transition: ``WarpConfig.transition``.
    """
    fft = batch * T * (FFT_COST * math.log2(2 * T) + 4 * (kernel_columns or 0)) / D
    if kernel_columns is None:
        choice = "scan"
    elif transition == "dense":
        m = kernel_columns
        conv = T * max(m, SEQUENTIAL_ROWS) + fft
        choice = "conv" if conv < T * max(batch, SEQUENTIAL_ROWS) else "scan"
    else:
        w = multiply_adds(transition, D) / D**2
        choice = "conv" if T * kernel_columns * w + fft < T * batch * w else "scan"
    logger.info(
        "mode='auto' chose %r for batch=%d, T=%d, D_theta=%d, kernel columns=%s, transition=%s",
        choice,
        batch,
        T,
        D,
        kernel_columns,
        transition,
    )
    return choice
