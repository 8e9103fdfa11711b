r"""The WARP recurrence and every way of running it (paper Eq. 1-3).

Notation (batch-first; D = D_theta, C' = channels of the driving difference):

    theta_0 = phi(x_0)                                      hypernetwork or learned vector
    dx_0    = 0,   dx_t = x_t - x_{t-1}                      (B, T, C')
    theta_t = A theta_{t-1} + B dx_t            (t >= 1)     (B, T, D)      Eq. 1
            = A^t theta_0 + sum_{k<=t} A^(t-k) B dx_k                       Eq. 3, convolution
    y_t     = root_{theta_t}(tau_{t+1})                      predicts x_{t+1}

Modes, all computing the same theta and y:

* ``reference``: a naive loop over sequences and steps with matrix-vector products. Obviously
  correct and slow: the ground truth the others are tested against.
* ``scan``: the recurrence Eq. 1 over the whole batch, with ``B dx`` computed for all steps at once.
* ``conv``: Eq. 3 as a causal convolution: the kernel ``K_j = A^j [B | W | b]`` (built once, by
  repeated squaring of A) is applied to dx by FFT. The theta_0 term is part of the same kernel: with
  ``theta_0 = W h + b`` (h the hypernetwork's last hidden features, or empty for a learned vector),
  ``A^t theta_0 = (A^t W) h + A^t b``. The result is exact and causal, theta_0 term included.
* ``autoregressive``: the first L steps are fed the truth, later steps the model's own prediction of
  that step (the mean, or a reparameterised sample); during training each later step is fed the truth
  with a teacher-forcing probability p instead. The driving difference is always between consecutive
  *fed* values, and the output at step t predicts x_{t+1}. (The authors' code differences a fed value
  against a prediction two steps old and supervises a reconstruction of the value just fed; we do not.)
* streaming: ``WARP.init_state`` and ``WARP.step``, one step of Eq. 1 per call.

Which values are fed is given by ``feed_truth`` ``(B, T)`` (True: the data; False: the prediction made
at the previous step); step 0 is always the data. Teacher-forced modes feed the data everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from .model import WARP


def differences(x: Tensor) -> Tensor:
    """dx with ``dx_0 = 0`` and ``dx_t = x_t - x_{t-1}``. x: ``(B, T, C)`` -> ``(B, T, C)``."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)


def scan(A: Tensor, B: Tensor, theta0: Tensor, dx: Tensor) -> Tensor:
    """Eq. 1 run step by step over the batch.

    Args:
        A: ``(D, D)`` transition. B: ``(D, C')`` input matrix. theta0: ``(batch, D)``.
        dx: ``(batch, T, C')`` driving differences, ``dx[:, 0]`` unused (zero by definition).

    Returns:
        theta: ``(batch, T, D)``.
    """
    u = dx @ B.T  # (batch, T, D), every step's input in one product
    thetas = [theta0]
    for t in range(1, dx.shape[1]):
        thetas.append(thetas[-1] @ A.T + u[:, t])
    return torch.stack(thetas, dim=1)


def kernel(A: Tensor, M: Tensor, length: int) -> Tensor:
    """The convolution kernel ``K_j = A^j M`` for ``j < length`` (Eq. 3), by repeated squaring.

    Args:
        A: ``(D, D)``. M: ``(D, m)``, the columns to propagate (B, and the theta_0 terms).

    Returns:
        K: ``(length, D, m)``.
    """
    K, power = M.unsqueeze(0), A
    while K.shape[0] < length:
        K = torch.cat([K, torch.matmul(power, K)], dim=0)  # A^(n+j) M = A^n (A^j M)
        power = power @ power
    return K[:length]


def causal_conv(K: Tensor, u: Tensor) -> Tensor:
    """``y_t = sum_{k<=t} K_{t-k} u_k`` by FFT over time.

    Args:
        K: ``(T, D, m)`` kernel. u: ``(batch, T, m)`` input.

    Returns:
        y: ``(batch, T, D)``.
    """
    T = u.shape[1]
    n = 2 * T  # zero padding to 2T makes the circular convolution a linear one
    K_f = torch.fft.rfft(K, n=n, dim=0)  # (F, D, m)
    u_f = torch.fft.rfft(u, n=n, dim=1)  # (batch, F, m)
    y_f = torch.einsum("fdm,bfm->bfd", K_f, u_f)
    return torch.fft.irfft(y_f, n=n, dim=1)[:, :T]


def convolve(A: Tensor, B: Tensor, theta0_parts: tuple[Tensor, Tensor, Tensor], dx: Tensor) -> Tensor:
    """Eq. 3: theta for every step as a causal convolution, theta_0 term included.

    Args:
        A: ``(D, D)``. B: ``(D, C')``. dx: ``(batch, T, C')`` with ``dx[:, 0] = 0``.
        theta0_parts: ``(h, W, b)`` with ``theta_0 = h W^T + b``; h ``(batch, H)``, W ``(D, H)``, b ``(D,)``.

    Returns:
        theta: ``(batch, T, D)``.
    """
    h, W, b = theta0_parts
    C, H = B.shape[1], W.shape[1]
    K = kernel(A, torch.cat([B, W, b.unsqueeze(1)], dim=1), dx.shape[1])  # (T, D, C' + H + 1)
    free = torch.einsum("tdh,bh->btd", K[..., C:C + H], h) + K[..., -1]  # A^t theta_0
    return causal_conv(K[..., :C], dx) + free


def autoregressive(model: "WARP", x: Tensor, lengths: Tensor, feed_truth: Tensor, noise: Tensor | None):
    """Eq. 1 with predictions fed back, vectorised over the batch.

    Args:
        model: the WARP module (for theta_0, A, B, the root and the head).
        x: ``(batch, T, C)`` data. lengths: ``(batch,)`` valid lengths.
        feed_truth: ``(batch, T)`` bool, which steps are fed the data.
        noise: ``(batch, T, C)`` standard normal draws when sampled predictions are fed, else None.

    Returns:
        theta ``(batch, T, D)`` and the root's raw output ``(batch, T, out_features)``.
    """
    steps = torch.arange(x.shape[1], device=x.device)
    theta, fed = model.theta0(x[:, 0]), x[:, 0]
    thetas, raws = [], []
    for t in range(x.shape[1]):
        if t > 0:
            fed_prev, fed = fed, torch.where(feed_truth[:, t, None], x[:, t], prediction)
            dx = model.drive((fed - fed_prev).unsqueeze(1), steps[t:t + 1], lengths)[:, 0]
            theta = theta @ model.A.T + dx @ model.B.T
        raw = model.decode(theta.unsqueeze(1), steps[t:t + 1], lengths, fed.unsqueeze(1))[:, 0]
        prediction = model.feedback(raw, None if noise is None else noise[:, t])
        thetas.append(theta)
        raws.append(raw)
    return torch.stack(thetas, dim=1), torch.stack(raws, dim=1)


def reference(model: "WARP", x: Tensor, lengths: Tensor, feed_truth: Tensor, noise: Tensor | None):
    """The naive loop: one sequence, one step, one matrix-vector product at a time.

    Each sequence b is run on its first ``lengths[b]`` steps only; outputs past them are zero.
    Same arguments and returns as ``autoregressive``; teacher forcing is ``feed_truth`` all True.
    """
    T = x.shape[1]
    all_thetas, all_raws = [], []
    for b in range(x.shape[0]):
        length = lengths[b:b + 1]
        theta, fed = model.theta0(x[b:b + 1, 0])[0], x[b, 0]
        thetas, raws = [], []
        for t in range(int(lengths[b])):
            step = torch.tensor([t], device=x.device)
            if t > 0:
                fed_prev = fed
                if feed_truth[b, t]:
                    fed = x[b, t]
                else:
                    eps = None if noise is None else noise[b:b + 1, t - 1]
                    fed = model.feedback(raws[-1].unsqueeze(0), eps)[0]
                dx = model.drive((fed - fed_prev).view(1, 1, -1), step, length).view(-1)
                theta = model.A @ theta + model.B @ dx
            thetas.append(theta)
            raws.append(model.decode(theta.view(1, 1, -1), step, length, fed.view(1, 1, -1)).view(-1))
        padding = T - len(thetas)
        all_thetas.append(torch.cat([torch.stack(thetas), theta.new_zeros(padding, theta.shape[0])]))
        all_raws.append(torch.cat([torch.stack(raws), theta.new_zeros(padding, raws[0].shape[0])]))
    return torch.stack(all_thetas), torch.stack(all_raws)
