"""The transition A of Eq. 1: its structure (``WarpConfig.transition``) and, for a dense A, its
parametrisation (``WarpConfig.transition_norm``).

Structures. Each is an ``Operator``, the few tensors ("factors") that define A and the products the
recurrence needs, and a module that holds its parameters and builds the operator once per pass:

- ``dense`` (the paper's): A ``(D, D)``, the parameter ``WARP.A`` itself (state key ``A``), initialised to
  the identity. Applying it costs D^2 multiply-adds per state vector.
- ``diagonal``: A = diag(lambda), lambda_i = exp(-exp(nu_i)), so ``0 < lambda_i < 1`` for any nu: A^t never
  overflows, whatever the learning rate. Real, not complex-conjugate pairs: theta is the flat weight
  vector of the root, and pairing two arbitrary weights into a rotation has no meaning there, while a
  real lambda_i is a per-weight memory (how much of its accumulated updates weight i keeps per step);
  rotations between neighbouring coordinates are ``block:2``. Initialised near the identity, as the
  paper's A = I: ``1 - lambda = EPS = 1e-4`` (``lambda^784 = 0.92``). Exactly 1 would need a
  parametrisation whose gradient vanishes or that saturates at the bound; this one (the LRU's, Orvieto et
  al. 2023) moves ``log(1 - lambda)`` by about the learning rate per Adam step. Its convolution kernel is
  a Vandermonde product, ``K_j = lambda^j * M``, with no D x D work; a step costs D multiply-adds.
- ``block:K``: block-diagonal with free ``K x K`` blocks (the last one cut to D), initialised to the
  identity and unbounded, as the dense A: ``K D`` multiply-adds a step. ``block:2`` holds rotations.
- ``lowrank:R``: ``A = I + U V^T``, U and V ``(D, R)``; U starts at 0 (A = I), V at N(0, 1/D), so that
  U's first gradient ``lam^T (theta V)`` is not zero (as LoRA's). Identity plus rank R, not diagonal plus
  rank R: WARP keeps A near the identity (its A = I holds theta's memory of every input), and the
  correction is what training adds; a learned diagonal is ``diagonal``'s, and combining both would make
  the bound on lambda no bound on A. ``2 R D`` multiply-adds a step.

Initialisation (``transition_init``). ``identity`` is the paper's: each structure starts at (or, diagonal,
just below) I. Then Eq. 1 telescopes to ``theta_t = theta_0 + B (x_t - x_0)``: the state holds the latest
input and nothing of the path, and all memory is what training adds to A. ``decay:H`` starts every
structure but ``lowrank`` at A = diag(lambda), ``lambda_i = exp(-1 / tau_i)`` with timescales tau_i drawn
log-uniformly in [1, H] steps (``initial_eigenvalues``), as the LRU and S4D start from a spread of decays:
weight i then holds the increments ``B dx`` smoothed over its own horizon, and theta_0's share of it fades
over the same horizon. A dense or block A stays free to leave the diagonal; ``diagonal`` keeps it.

Parametrisations of a dense A (``transition_norm``):

- ``none`` (the paper's): A is a free ``(D, D)`` matrix, initialised to the identity. Adam moves each of
  its D^2 entries by about the learning rate per step, so its spectral radius can grow by up to
  ``lr D`` per step, and on long sequences A^t overflows (T = 784, lr 1e-3: within the first epoch).
- ``spectral``: A = W / max(1, sigma(W)), sigma the largest singular value of the free matrix W. Then
  ``||A||_2 <= 1``, so ``||A^t|| <= 1`` for every t: the recurrence cannot overflow, whatever the learning
  rate, while any non-expansive A (the identity included) stays reachable. sigma is estimated by power
  iteration from a vector kept between calls (as ``torch.nn.utils.spectral_norm`` does); its gradient is
  that of ``u^T W v`` with the singular vectors held fixed. The estimate is a lower bound that must keep up
  with W: 3 iterations per step lagged behind Adam at lr 1e-3 on MNIST (||A|| reached 1.047 after one step
  and theta 3e7 after two), 30 kept ||A|| at 1.00000 (60 matrix-vector products per step: about 1% of a
  step at D_theta = 1,298).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import gemm
from .config import parse_transition, parse_transition_init


class SpectralBound(nn.Module):
    """The ``spectral`` parametrisation, for ``torch.nn.utils.parametrize``: ``W -> W / max(1, sigma(W))``.

    Args:
        D: the size of the square matrix. iterations: power iterations per call in training mode (in
            evaluation mode the kept vector is used as it is, so evaluation does not change the model).
    """

    def __init__(self, D: int, iterations: int = 30, *, device=None, dtype=None):
        super().__init__()
        self.iterations = iterations
        u = torch.randn(D, generator=torch.Generator().manual_seed(0), dtype=dtype or torch.get_default_dtype())
        self.register_buffer("u", nn.functional.normalize(u, dim=0).to(device))  # left singular vector estimate

    def forward(self, W: Tensor) -> Tensor:
        """W ``(D, D)`` -> A ``(D, D)`` with ``||A||_2 <= 1`` (up to the estimate's accuracy)."""
        with torch.no_grad():
            u = self.u
            for _ in range(self.iterations if self.training else 0):
                u = nn.functional.normalize(W @ nn.functional.normalize(W.T @ u, dim=0), dim=0)
            if self.training:
                self.u.copy_(u)
            v = nn.functional.normalize(W.T @ u, dim=0)
        sigma = u @ W @ v
        rounding = 16 * torch.finfo(W.dtype).eps  # the estimate of a norm-1 W (the identity) may round above 1
        return W / torch.where(sigma > 1 + rounding, sigma, torch.ones_like(sigma))

    def right_inverse(self, A: Tensor) -> Tensor:
        """The W that gives A, for an A of norm at most 1 (such as the identity): A itself."""
        return A


def spectral_norm_ref(A: Tensor) -> Tensor:
    """The largest singular value of A, by SVD: the reference for ``SpectralBound``'s estimate."""
    return torch.linalg.matrix_norm(A, ord=2)


def initial_eigenvalues(spec: str, D: int, *, device=None, dtype=None) -> Tensor | None:
    """The diagonal that ``transition_init`` ``spec`` starts A at: None for ``identity``; for ``decay:H``,
    lambda ``(D,)`` = exp(-1 / tau), log tau uniform in [0, log H] (drawn from torch's global generator)."""
    horizon = parse_transition_init(spec)
    if horizon is None:
        return None
    tau = torch.exp(torch.rand(D, device=device, dtype=dtype) * math.log(horizon))  # (D,) in [1, H]
    return torch.exp(-1.0 / tau)


# ----- structures: the operators (tensors only) ----------------------------------------------------
#
# Rows: theta and lam are ``(..., D)``; ``grads`` reads ``(N, D)`` rows (steps x batch, flattened).


class Operator:
    """A transition A of Eq. 1 as its factors (the tensors that define it, computed once per pass) and
    the products that the recurrence (``warprnn.recurrence``) and the rollout (``warprnn.rollout``) need."""

    factors: tuple[Tensor, ...]

    def matrix(self) -> Tensor:
        """A as a dense ``(D, D)`` matrix, differentiable in the factors: for the reference loops."""
        raise NotImplementedError

    def apply(self, theta: Tensor) -> Tensor:
        """``theta A^T`` (row form of ``A theta``)."""
        raise NotImplementedError

    def step(self, theta: Tensor, u: Tensor, out: Tensor | None = None) -> Tensor:
        """Eq. 1 for rows: ``theta A^T + u``, written into ``out`` when given."""
        result = self.apply(theta) + u
        return result if out is None else out.copy_(result)

    def step_T(self, lam: Tensor, g: Tensor) -> Tensor:
        """The adjoint step: ``g + lam A``."""
        raise NotImplementedError

    def grads(self, lam: Tensor, theta: Tensor) -> tuple[Tensor, ...]:
        """The gradients of ``sum_z lam_z . (A theta_z)`` with respect to each factor. lam, theta: ``(N, D)``."""
        raise NotImplementedError

    def accumulate(self, grads: list[Tensor], lam: Tensor, theta: Tensor) -> None:
        """Adds ``grads(lam, theta)`` to ``grads`` in place."""
        for total, g in zip(grads, self.grads(lam, theta)):
            total.add_(g)

    def kernel(self, M: Tensor, length: int) -> Tensor | None:
        """``K_j = A^j M`` ``(length, D, m)`` in closed form, or None: then Eq. 1 is run on M's columns."""
        return None


class Dense(Operator):
    """The paper's A ``(D, D)``: the step products of a pass on the fastest kernel for their size and type
    (``warprnn.gemm``: oneDNN for large float32 CPU products, BLAS otherwise), A prepared for it once."""

    def __init__(self, A: Tensor):
        self.A, self.factors = A, (A,)
        self.forward, self.adjoint = gemm.Factor(A.T), gemm.Factor(A)  # theta A^T and lam A

    def matrix(self) -> Tensor:
        return self.A

    def apply(self, theta: Tensor) -> Tensor:
        return theta @ self.A.T

    def step(self, theta: Tensor, u: Tensor, out: Tensor | None = None) -> Tensor:
        return self.forward.addmm(u, theta, out=out)

    def step_T(self, lam: Tensor, g: Tensor) -> Tensor:
        return self.adjoint.addmm(g, lam)

    def grads(self, lam: Tensor, theta: Tensor) -> tuple[Tensor, ...]:
        return (lam.T @ theta,)

    def accumulate(self, grads: list[Tensor], lam: Tensor, theta: Tensor) -> None:
        grads[0].addmm_(lam.T, theta)


class Diagonal(Operator):
    """A = diag(a), a ``(D,)``: every product elementwise; the kernel a Vandermonde product."""

    def __init__(self, a: Tensor):
        self.a, self.factors = a, (a,)

    def matrix(self) -> Tensor:
        return torch.diag(self.a)

    def apply(self, theta: Tensor) -> Tensor:
        return theta * self.a

    def step(self, theta: Tensor, u: Tensor, out: Tensor | None = None) -> Tensor:
        return torch.addcmul(u, theta, self.a) if out is None else torch.addcmul(u, theta, self.a, out=out)

    def step_T(self, lam: Tensor, g: Tensor) -> Tensor:
        return torch.addcmul(g, lam, self.a)

    def grads(self, lam: Tensor, theta: Tensor) -> tuple[Tensor, ...]:
        return ((lam * theta).sum(0),)

    def kernel(self, M: Tensor, length: int) -> Tensor:
        """``K_j = diag(a^j) M``: the powers ``a_i^j`` ``(length, D)`` (a Vandermonde matrix) times M's rows."""
        j = torch.arange(length, dtype=self.a.dtype, device=self.a.device)
        return (self.a ** j.unsqueeze(1)).unsqueeze(-1) * M  # (length, D, m)


class BlockDiagonal(Operator):
    """A = blockdiag(W_1, ..., W_n) cut to ``(D, D)``, W ``(n, K, K)``, ``n = ceil(D / K)``: theta is
    zero-padded to ``n K`` and read as n blocks of K."""

    def __init__(self, W: Tensor, D: int):
        self.W, self.D, self.factors = W, D, (W,)

    def blocks(self, theta: Tensor) -> Tensor:
        """``(..., D)`` -> ``(..., n, K)``, zero-padded."""
        n, K, _ = self.W.shape
        return F.pad(theta, (0, n * K - self.D)).unflatten(-1, (n, K))

    def matrix(self) -> Tensor:
        return torch.block_diag(*self.W)[: self.D, : self.D]

    def apply(self, theta: Tensor) -> Tensor:
        return torch.einsum("...nk,njk->...nj", self.blocks(theta), self.W).flatten(-2)[..., : self.D]

    def step_T(self, lam: Tensor, g: Tensor) -> Tensor:
        return g + torch.einsum("...nj,njk->...nk", self.blocks(lam), self.W).flatten(-2)[..., : self.D]

    def grads(self, lam: Tensor, theta: Tensor) -> tuple[Tensor, ...]:
        return (torch.einsum("znj,znk->njk", self.blocks(lam), self.blocks(theta)),)


class LowRank(Operator):
    """A = I + U V^T, U and V ``(D, R)``: ``theta A^T = theta + (theta V) U^T``, never a D x D matrix."""

    def __init__(self, U: Tensor, V: Tensor):
        self.U, self.V, self.factors = U, V, (U, V)

    def matrix(self) -> Tensor:
        return torch.eye(self.U.shape[0], dtype=self.U.dtype, device=self.U.device) + self.U @ self.V.T

    def apply(self, theta: Tensor) -> Tensor:
        return theta + (theta @ self.V) @ self.U.T

    def step_T(self, lam: Tensor, g: Tensor) -> Tensor:
        return g + lam + (lam @ self.U) @ self.V.T

    def grads(self, lam: Tensor, theta: Tensor) -> tuple[Tensor, ...]:
        return lam.T @ (theta @ self.V), theta.T @ (lam @ self.U)  # (D, R) each: lam^T theta V, theta^T lam U


# ----- structures: the parameters ------------------------------------------------------------------


class DiagonalTransition(nn.Module):
    """``diagonal``: lambda = exp(-exp(nu)), nu ``(D,)``, initialised to ``lambda = exp(-EPS)`` or to
    ``eigenvalues`` (``reset_parameters``)."""

    EPS = 1e-4

    def __init__(self, D: int, *, device=None, dtype=None):
        super().__init__()
        self.nu = nn.Parameter(torch.empty(D, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self, eigenvalues: Tensor | None = None) -> None:
        with torch.no_grad():
            if eigenvalues is None:
                self.nu.fill_(math.log(self.EPS))
            else:
                self.nu.copy_(torch.log(-torch.log(eigenvalues)))

    def operator(self) -> Diagonal:
        return Diagonal(torch.exp(-torch.exp(self.nu)))


class BlockTransition(nn.Module):
    """``block:K``: the blocks W ``(ceil(D / K), K, K)``, each initialised to the identity (or to the
    diagonal ``eigenvalues``, ``reset_parameters``)."""

    def __init__(self, D: int, K: int, *, device=None, dtype=None):
        super().__init__()
        self.D = D
        self.blocks = nn.Parameter(torch.empty(math.ceil(D / K), K, K, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self, eigenvalues: Tensor | None = None) -> None:
        with torch.no_grad():
            n, K = self.blocks.shape[:2]
            diagonal = torch.ones(n * K, dtype=self.blocks.dtype, device=self.blocks.device)  # (n K,)
            if eigenvalues is not None:
                diagonal[: self.D] = eigenvalues  # the cut rows of the last block stay 1: they are unused
            self.blocks.copy_(torch.diag_embed(diagonal.view(n, K)))

    def operator(self) -> BlockDiagonal:
        return BlockDiagonal(self.blocks, self.D)


class LowRankTransition(nn.Module):
    """``lowrank:R``: A = I + U V^T, U ``(D, R)`` initialised to 0, V ``(D, R)`` to N(0, 1/D)."""

    def __init__(self, D: int, R: int, *, device=None, dtype=None):
        super().__init__()
        self.U = nn.Parameter(torch.empty(D, R, device=device, dtype=dtype))
        self.V = nn.Parameter(torch.empty(D, R, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self, eigenvalues: Tensor | None = None) -> None:
        if eigenvalues is not None:
            raise ValueError("lowrank: A = I + U V^T starts at I; transition_init must be 'identity'")
        with torch.no_grad():
            nn.init.zeros_(self.U)
            nn.init.normal_(self.V, std=self.V.shape[0] ** -0.5)

    def operator(self) -> LowRank:
        return LowRank(self.U, self.V)


def build_transition(spec: str, D: int, *, device=None, dtype=None) -> nn.Module | None:
    """The module holding a structured transition's parameters; None for ``dense`` (``WARP.A`` itself)."""
    kind, size = parse_transition(spec)
    factory = {"device": device, "dtype": dtype}
    if kind == "diagonal":
        return DiagonalTransition(D, **factory)
    if kind == "block":
        return BlockTransition(D, size, **factory)
    if kind == "lowrank":
        return LowRankTransition(D, size, **factory)
    return None


def transition_size(spec: str, D: int) -> int:
    """The number of values that define A (its parameters), for memory checks."""
    kind, size = parse_transition(spec)
    return {"dense": D * D, "diagonal": D, "block": math.ceil(D / max(size, 1)) * size * size, "lowrank": 2 * D * size}[
        kind
    ]


def multiply_adds(spec: str, D: int) -> int:
    """Multiply-adds of one application of A to one state vector (``theta A^T``): for the cost model."""
    kind, size = parse_transition(spec)
    return {"dense": D * D, "diagonal": D, "block": size * D, "lowrank": 2 * size * D}[kind]
