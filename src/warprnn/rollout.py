r"""Autoregressive mode (paper Sec. 3.2): Eq. 1 with the model's own predictions fed back.

The first L steps are fed the truth, later steps the model's own prediction of that step (the mean, or
a reparameterised sample); during training each later step is fed the truth with a teacher-forcing
probability p instead. Which values are fed is given by ``feed_truth`` ``(B, T)`` (True: the data;
False: the prediction made at the previous step); step 0 is always the data, and teacher-forced runs
feed the data everywhere. The driving difference is always between consecutive *fed* values, and the
output at step t predicts x_{t+1}. (The authors' code differences a fed value against a prediction two
steps old and supervises a reconstruction of the value just fed; we do not.) Gradients flow through the
fed-back predictions, as in the authors' code.

* ``reference``: the naive loop, one sequence, one step at a time, for any ``feed_truth``: the
  specification, and the ``mode="reference"`` of ``WARP.forward``.
* ``autoregressive``: the same, vectorised over the batch as one autograd node
  (``AutoregressiveRollout``) that saves theta once and forms A's gradient from large products.

Both need the decoder of a model, not the model class: any object with the methods of ``Decoder``.
A structured transition (``WarpConfig.transition``) runs through its operator's products
(``warprnn.transition.Operator``); the reference reads it as its dense matrix.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .config import WarpConfig
from .transition import Operator


class Decoder(Protocol):
    """What a rollout needs of a model (``WARP`` is one): the parameters of Eq. 1 and the non-linear
    maps around it. Shapes as in ``WARP``'s methods of the same names."""

    config: WarpConfig
    B: Tensor  # (D, C')

    def transition_operator(self) -> Operator: ...  # A, read once per pass

    def theta0(self, x0: Tensor) -> Tensor: ...

    def drive(self, diff: Tensor, steps: Tensor, lengths: Tensor) -> Tensor: ...

    def decode(self, theta: Tensor, steps: Tensor, lengths: Tensor, fed: Tensor) -> Tensor: ...

    def feedback(self, raw: Tensor, noise: Tensor | None) -> Tensor: ...


def reference(model: Decoder, x: Tensor, lengths: Tensor, feed_truth: Tensor, noise: Tensor | None):
    """The naive loop: one sequence, one step, one matrix-vector product at a time.

    Each sequence b is run on its first ``lengths[b]`` steps only; outputs past them are zero.
    Same arguments and returns as ``autoregressive``; teacher forcing is ``feed_truth`` all True.
    """
    # A read once: a parametrised A is computed once per pass; a structured A as its dense matrix
    T, A, B, clip = x.shape[1], model.transition_operator().matrix(), model.B, model.config.theta_clip
    all_thetas, all_raws = [], []
    for b in range(x.shape[0]):
        length = lengths[b : b + 1]
        theta, fed = model.theta0(x[b : b + 1, 0])[0], x[b, 0]
        thetas, raws = [], []
        for t in range(int(lengths[b])):
            step = torch.tensor([t], device=x.device)
            if t > 0:
                fed_prev = fed
                if feed_truth[b, t]:
                    fed = x[b, t]
                else:
                    eps = None if noise is None else noise[b : b + 1, t - 1]
                    fed = model.feedback(raws[-1].unsqueeze(0), eps)[0]
                dx = model.drive((fed - fed_prev).view(1, 1, -1), step, length).view(-1)
                theta = A @ theta + B @ dx
                if clip is not None:
                    theta = theta.clamp(-clip, clip)
            thetas.append(theta)
            raws.append(model.decode(theta.view(1, 1, -1), step, length, fed.view(1, 1, -1)).view(-1))
        padding = T - len(thetas)
        all_thetas.append(torch.cat([torch.stack(thetas), theta.new_zeros(padding, theta.shape[0])]))
        all_raws.append(torch.cat([torch.stack(raws), theta.new_zeros(padding, raws[0].shape[0])]))
    return torch.stack(all_thetas), torch.stack(all_raws)


def feed_step(
    model: Decoder,
    t: int,
    theta: Tensor,
    fed: Tensor,
    x_next: Tensor,
    truth_next: Tensor,
    noise: Tensor | None,
    lengths: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """The non-linear part of one autoregressive step: from theta_t to the input of Eq. 1 at t + 1.

    Args:
        t: the step. theta: ``(batch, D)`` theta_t. fed: ``(batch, C)`` the value fed at t.
        x_next: ``(batch, C)`` the data at t + 1. truth_next: ``(batch,)`` whether t + 1 is fed the data.
        noise: ``(batch, C)`` draws for a sampled prediction, or None. lengths: ``(batch,)``.

    Returns:
        raw ``(batch, out_features)`` the root's output at t, the value fed at t + 1 ``(batch, C)``, and
        its driving difference dx_{t+1} ``(batch, C')``.
    """
    steps = torch.arange(t, t + 2, device=theta.device)
    raw = model.decode(theta.unsqueeze(1), steps[:1], lengths, fed.unsqueeze(1))[:, 0]
    fed_next = torch.where(truth_next[:, None], x_next, model.feedback(raw, noise))
    dx = model.drive((fed_next - fed).unsqueeze(1), steps[1:], lengths)[:, 0]
    return raw, fed_next, dx


class AutoregressiveRollout(torch.autograd.Function):
    """Eq. 1 with predictions fed back, as one autograd node over the batch, time-major.

    theta_{t+1} = theta_t A^T + dx_{t+1} B^T, where dx_{t+1} = ``feed_step`` (theta_t, fed_t) depends on
    theta_t through the root, so the full gradient is not that of a linear recurrence. The forward
    runs without a graph and saves only theta ``(T, batch, D)`` and the small fed values and
    differences. The backward runs the adjoint recurrence in reverse,

        lam_t = g_t + lam_{t+1} A + d feed_step_t / d theta_t (cotangents: g_raw_t, nu_{t+1}, lam_{t+1} B)

    recomputing only ``feed_step`` (cheap: one root evaluation per sequence) under autograd, and forms
    ``dL/dA = sum_t lam_{t+1}^T theta_t`` and ``dL/dB = sum_t lam_{t+1}^T dx_{t+1}`` as products over
    chunks of ``CHUNK`` steps rather than one D x D update per step. A is an ``Operator`` (``op``): the
    steps are ``op.step`` and ``op.step_T``, and the gradients of its factors ``op.accumulate`` (for a dense
    A, the products above). With ``WarpConfig.theta_clip`` c each new state is clipped to [-c, c], and the
    adjoint passes only through its entries below c in magnitude (as in ``recurrence.LinearRecurrence``).
    """

    CHUNK = 64

    @staticmethod
    def forward(ctx, model, lengths, feed_truth, noise, op, theta0, B, x, *factors):
        """op: A, whose factors are ``factors``. theta0: ``(batch, D)``; x: ``(batch, T, C)``. Returns theta
        ``(T, batch, D)``, raw ``(T, batch, out)``."""
        (batch, T, C), D, clip = x.shape, theta0.shape[1], model.config.theta_clip
        theta = theta0.new_empty(T, batch, D)
        fed = x.new_empty(T, batch, C)
        dx = x.new_empty(T, batch, B.shape[1])
        raw = x.new_empty(T, batch, model.config.out_features)
        theta[0], fed[0], dx[0] = theta0, x[:, 0], 0.0
        for t in range(T - 1):
            eps = None if noise is None else noise[:, t]
            raw[t], fed[t + 1], dx[t + 1] = feed_step(
                model, t, theta[t], fed[t], x[:, t + 1], feed_truth[:, t + 1], eps, lengths
            )
            op.step(theta[t], dx[t + 1] @ B.T, out=theta[t + 1])
            if clip is not None:
                theta[t + 1].clamp_(-clip, clip)
        raw[T - 1] = model.decode(
            theta[T - 1].unsqueeze(1), torch.tensor([T - 1], device=x.device), lengths, fed[T - 1].unsqueeze(1)
        )[:, 0]
        ctx.model, ctx.lengths, ctx.feed_truth, ctx.noise, ctx.op = model, lengths, feed_truth, noise, op
        ctx.save_for_backward(theta, fed, dx, B, x)
        ctx.set_materialize_grads(False)
        return theta, raw

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_theta, grad_raw):
        theta, fed, dx, B, x = ctx.saved_tensors
        model, lengths, feed_truth, noise, op = ctx.model, ctx.lengths, ctx.feed_truth, ctx.noise, ctx.op
        T, batch, D = theta.shape
        clip = model.config.theta_clip
        zeros_raw = theta.new_zeros(batch, model.config.out_features)
        g_raw = [zeros_raw] * T if grad_raw is None else grad_raw.unbind(0)
        grad_x = torch.zeros_like(x)
        grad_factors, grad_B = [torch.zeros_like(f) for f in op.factors], torch.zeros_like(B)
        lam_chunk = theta.new_empty(min(AutoregressiveRollout.CHUNK, T - 1), batch, D)  # lam_{t+1}, t in chunk

        with torch.enable_grad():  # the last step only decodes
            theta_t = theta[T - 1].detach().requires_grad_()
            fed_t = fed[T - 1].detach().requires_grad_()
            raw = model.decode(
                theta_t.unsqueeze(1), torch.tensor([T - 1], device=x.device), lengths, fed_t.unsqueeze(1)
            )[:, 0]
            lam, nu = torch.autograd.grad(raw, [theta_t, fed_t], g_raw[T - 1], allow_unused=True)
        nu = torch.zeros_like(fed_t) if nu is None else nu
        if grad_theta is not None:
            lam = lam + grad_theta[T - 1]

        for t in range(T - 2, -1, -1):
            if clip is not None:  # from dL/dtheta_{t+1} to dL/d(theta_t A^T + dx_{t+1} B^T)
                lam = lam.masked_fill(theta[t + 1].abs() >= clip, 0.0)
            slot = t % lam_chunk.shape[0]
            lam_chunk[slot] = lam  # lam_{t+1}
            with torch.enable_grad():
                theta_t = theta[t].detach().requires_grad_()
                fed_t = fed[t].detach().requires_grad_()
                x_next = x[:, t + 1].detach().requires_grad_()
                eps = None if noise is None else noise[:, t]
                outputs = feed_step(model, t, theta_t, fed_t, x_next, feed_truth[:, t + 1], eps, lengths)
                a_theta, a_fed, a_x = torch.autograd.grad(
                    outputs, [theta_t, fed_t, x_next], [g_raw[t], nu, lam @ B], allow_unused=True
                )
            grad_x[:, t + 1] = a_x
            nu = a_fed
            lam = op.step_T(lam, a_theta)
            if grad_theta is not None:
                lam = lam + grad_theta[t]
            if slot == 0:  # the chunk [t, t + n) is complete: A's and B's gradients in two products
                n = min(lam_chunk.shape[0], T - 1 - t)
                lams = lam_chunk[:n].flatten(0, 1)
                op.accumulate(grad_factors, lams, theta[t : t + n].flatten(0, 1))
                grad_B.addmm_(lams.T, dx[t + 1 : t + 1 + n].flatten(0, 1))
        grad_x[:, 0] = nu
        return None, None, None, None, None, lam, grad_B, grad_x, *grad_factors


def autoregressive(model: Decoder, x: Tensor, lengths: Tensor, feed_truth: Tensor, noise: Tensor | None):
    """Eq. 1 with predictions fed back, vectorised over the batch (``AutoregressiveRollout``).

    Args:
        model: the WARP module (for theta_0, A, B, the root and the head).
        x: ``(batch, T, C)`` data. lengths: ``(batch,)`` valid lengths.
        feed_truth: ``(batch, T)`` bool, which steps are fed the data.
        noise: ``(batch, T, C)`` standard normal draws when sampled predictions are fed, else None.

    Returns:
        theta ``(batch, T, D)`` and the root's raw output ``(batch, T, out_features)``.
    """
    theta0 = model.theta0(x[:, 0])
    op = model.transition_operator()
    theta, raw = AutoregressiveRollout.apply(model, lengths, feed_truth, noise, op, theta0, model.B, x, *op.factors)
    return theta.transpose(0, 1), raw.transpose(0, 1)
