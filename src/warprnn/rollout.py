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

    def feedback(self, raw: Tensor, noise: Tensor | None, x: Tensor) -> Tensor: ...


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
                    fed = model.feedback(raws[-1].unsqueeze(0), eps, x[b : b + 1, t])[0]
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


def tail(
    model: Decoder, steps: Tensor, raw: Tensor, fed: Tensor, x_next: Tensor, truth_next: Tensor, noise, lengths
) -> tuple[Tensor, Tensor]:
    """From the root's output at steps t to the input of Eq. 1 at t + 1, for n steps at once.

    Args:
        steps: ``(n,)`` the steps t. raw: ``(batch, n, out_features)`` the root's output at t.
        fed: ``(batch, n, C)`` the value fed at t. x_next: ``(batch, n, C)`` the data at t + 1.
        truth_next: ``(batch, n)`` whether t + 1 is fed the data. noise: ``(batch, n, C)`` draws for a
        sampled prediction, or None. lengths: ``(batch,)``.

    Returns:
        the value fed at t + 1 ``(batch, n, C)`` and its driving difference dx_{t+1} ``(batch, n, C')``.
    """
    fed_next = torch.where(truth_next[..., None], x_next, model.feedback(raw, noise, x_next))
    return fed_next, model.drive(fed_next - fed, steps + 1, lengths)


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
    step = torch.tensor([t], device=theta.device)
    raw = model.decode(theta.unsqueeze(1), step, lengths, fed.unsqueeze(1))
    eps = None if noise is None else noise.unsqueeze(1)
    fed_next, dx = tail(model, step, raw, fed.unsqueeze(1), x_next.unsqueeze(1), truth_next.unsqueeze(1), eps, lengths)
    return raw[:, 0], fed_next[:, 0], dx[:, 0]


def rows(y: Tensor, inputs: list[Tensor], k: int) -> list[Tensor]:
    """Row k of the Jacobians of y ``(..., K)`` with respect to each of ``inputs`` (zeros where unused):
    ``d y[..., k] / d input``, batched over the leading dimensions (every output entry depends only on
    the inputs of its own leading index)."""
    onehot = torch.zeros_like(y)
    onehot[..., k] = 1.0
    grads = torch.autograd.grad(y, inputs, onehot, retain_graph=True, allow_unused=True)
    return [torch.zeros_like(i) if g is None else g for i, g in zip(inputs, grads)]


class StepJacobians:
    """The Jacobians of ``feed_step`` at n consecutive steps t0 .. t0 + n - 1, for its vector-Jacobian
    products in the adjoint loop without an autograd call per step.

    A step's outputs are few (the root's out_features, the fed value's C, the difference's C'), so its
    full Jacobian is a few rows: the root's ``out_features`` rows with respect to theta_t (the large part,
    ``(n, batch, out_features, D)``) and to the fed value x_t, and the rows of the feeding ``tail`` with
    respect to the root's output, x_t and x_{t+1}. They are formed for the n steps at once, one batched
    root evaluation and one backward per output row, instead of one evaluation and backward per step.
    Shapes are time-major: ``[i]`` is step t0 + i.
    """

    def __init__(self, model: Decoder, t0: int, theta, fed, x_next, truth_next, noise, lengths):
        """theta ``(n, batch, D)`` and fed ``(n, batch, C)`` time-major (as the rollout saves them); x_next
        ``(batch, n, C)``, truth_next ``(batch, n)`` and noise ``(batch, n, C)`` or None batch-first (as the
        data): the steps' inputs."""
        steps = torch.arange(t0, t0 + theta.shape[0], device=theta.device)
        with torch.enable_grad():
            theta, fed, x_next = (v.detach().requires_grad_() for v in (theta, fed, x_next))
            raw = model.decode(theta.transpose(0, 1), steps, lengths, fed.transpose(0, 1))  # (batch, n, out)
            raw_in = raw.detach().requires_grad_()
            fed_next, dx = tail(model, steps, raw_in, fed.transpose(0, 1), x_next, truth_next, noise, lengths)
            fed_dx = torch.cat([fed_next, dx], dim=-1)  # (batch, n, K), K = C + C'
            root = [rows(raw, [theta, fed], k) for k in range(raw.shape[-1])]
            feeding = [rows(fed_dx, [raw_in, fed, x_next], k) for k in range(fed_dx.shape[-1])]
        self.root_theta = [row_theta for row_theta, _ in root]  # out_features rows, each (n, batch, D)
        self.root_fed = torch.stack([row_fed for _, row_fed in root], dim=2)  # (n, batch, out, C)
        tail_raw, self.tail_fed, tail_x = (torch.stack(j, dim=2) for j in zip(*feeding))
        self.tail_raw, self.tail_x = tail_raw.transpose(0, 1), tail_x.transpose(0, 1)  # (n, batch, K, out | C)
        # self.tail_fed: (n, batch, K, C), as fed is time-major

    def vjp(self, i: int, g_raw: Tensor, g_fed: Tensor, g_dx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The cotangents of step t0 + i's inputs (theta_t, x_t, x_{t+1}), each ``(batch, .)``, from those of
        its outputs: g_raw ``(batch, out_features)``, g_fed ``(batch, C)`` and g_dx ``(batch, C')``."""
        g_tail = torch.cat([g_fed, g_dx], dim=-1).unsqueeze(1)  # (batch, 1, K)
        g_root = g_raw.unsqueeze(1) + g_tail @ self.tail_raw[i]  # (batch, 1, out)
        a_theta = g_root[:, 0, :1] * self.root_theta[0][i]  # the rows are not stacked: a copy of their size
        for k in range(1, len(self.root_theta)):
            a_theta.addcmul_(g_root[:, 0, k : k + 1], self.root_theta[k][i])
        a_fed = (g_root @ self.root_fed[i] + g_tail @ self.tail_fed[i]).squeeze(1)
        return a_theta, a_fed, (g_tail @ self.tail_x[i]).squeeze(1)


class AutoregressiveRollout(torch.autograd.Function):
    """Eq. 1 with predictions fed back, as one autograd node over the batch, time-major.

    theta_{t+1} = theta_t A^T + dx_{t+1} B^T, where dx_{t+1} = ``feed_step`` (theta_t, fed_t) depends on
    theta_t through the root, so the full gradient is not that of a linear recurrence. The forward
    runs without a graph and saves only theta ``(T, batch, D)`` and the small fed values and
    differences. The backward runs the adjoint recurrence in reverse,

        lam_t = g_t + lam_{t+1} A + d feed_step_t / d theta_t (cotangents: g_raw_t, nu_{t+1}, lam_{t+1} B)

    recomputing only ``feed_step``: its Jacobians are formed for windows of steps at once
    (``StepJacobians``, one batched root evaluation and a backward per output row), so that each step of
    the adjoint is a few small products and no autograd call. It forms
    ``dL/dA = sum_t lam_{t+1}^T theta_t`` and ``dL/dB = sum_t lam_{t+1}^T dx_{t+1}`` as products over
    chunks of ``CHUNK`` steps rather than one D x D update per step. A is an ``Operator`` (``op``): the
    steps are ``op.step`` and ``op.step_T``, and the gradients of its factors ``op.accumulate`` (for a dense
    A, the products above). With ``WarpConfig.theta_clip`` c each new state is clipped to [-c, c], and the
    adjoint passes only through its entries below c in magnitude (as in ``recurrence.LinearRecurrence``).

    The states of padding steps (past each sequence's length, ``keep`` ``(T, batch, 1)`` False) are zeroed
    in place once the forward has run, sparing a masked copy of the largest tensor of the step; they are
    constants, so the adjoint is zero there, and so are the cotangents of the values fed there (the
    Jacobians at a zeroed state may hold NaN for a physical root: masking, not multiplying, keeps them out).
    """

    CHUNK = 64
    JACOBIAN_BYTES = 16 * 2**20
    """The memory for the Jacobians of ``feed_step`` (``StepJacobians``) held at once in the backward."""

    @staticmethod
    def jacobian_steps(theta: Tensor, C: int, out_features: int) -> int:
        """How many steps' Jacobians (mostly the root's rows, ``(batch, out_features, D + C)`` a step) fit
        in ``JACOBIAN_BYTES``, for theta ``(T, batch, D)``; at least one."""
        per_step = theta.shape[1] * out_features * (theta.shape[2] + C) * theta.element_size()
        return max(1, AutoregressiveRollout.JACOBIAN_BYTES // per_step)

    @staticmethod
    def forward(ctx, model, lengths, feed_truth, noise, keep, op, theta0, B, x, *factors):
        """op: A, whose factors are ``factors``. theta0: ``(batch, D)``; x: ``(batch, T, C)``; keep: ``(T, batch,
        1)`` bool, the steps within each length. Returns theta ``(T, batch, D)``, zero where not kept, and raw
        ``(T, batch, out)``."""
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
        ctx.padding = ~keep
        theta.masked_fill_(ctx.padding, 0.0)
        ctx.model, ctx.lengths, ctx.feed_truth, ctx.noise, ctx.op = model, lengths, feed_truth, noise, op
        ctx.save_for_backward(theta, fed, dx, B, x)
        ctx.set_materialize_grads(False)
        return theta, raw

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_theta, grad_raw):
        theta, fed, dx, B, x = ctx.saved_tensors
        model, lengths, feed_truth, noise, op = ctx.model, ctx.lengths, ctx.feed_truth, ctx.noise, ctx.op
        padding = ctx.padding  # (T, batch, 1)
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
        nu = torch.zeros_like(fed_t) if nu is None else nu.masked_fill(padding[T - 1], 0.0)
        if grad_theta is not None:
            lam = lam + grad_theta[T - 1]
        lam = lam.masked_fill(padding[T - 1], 0.0)  # a padding state is a constant

        window = AutoregressiveRollout.jacobian_steps(theta, x.shape[2], model.config.out_features)
        j0 = T - 1  # the steps [j0, j0 + n) whose Jacobians are in `jac`
        for t in range(T - 2, -1, -1):
            if clip is not None:  # from dL/dtheta_{t+1} to dL/d(theta_t A^T + dx_{t+1} B^T)
                lam = lam.masked_fill(theta[t + 1].abs() >= clip, 0.0)
            slot = t % lam_chunk.shape[0]
            lam_chunk[slot] = lam  # lam_{t+1}
            if t < j0:
                j0 = max(0, t + 1 - window)
                span, span_next = slice(j0, t + 1), slice(j0 + 1, t + 2)
                eps = None if noise is None else noise[:, span]
                jac = StepJacobians(
                    model, j0, theta[span], fed[span], x[:, span_next], feed_truth[:, span_next], eps, lengths
                )
            a_theta, nu, grad_x[:, t + 1] = jac.vjp(t - j0, g_raw[t], nu, lam @ B)
            nu.masked_fill_(padding[t], 0.0)
            lam = op.step_T(lam, a_theta)
            if grad_theta is not None:
                lam = lam + grad_theta[t]
            lam.masked_fill_(padding[t], 0.0)  # a fresh tensor
            if slot == 0:  # the chunk [t, t + n) is complete: A's and B's gradients in two products
                n = min(lam_chunk.shape[0], T - 1 - t)
                lams = lam_chunk[:n].flatten(0, 1)
                op.accumulate(grad_factors, lams, theta[t : t + n].flatten(0, 1))
                grad_B.addmm_(lams.T, dx[t + 1 : t + 1 + n].flatten(0, 1))
        grad_x[:, 0] = nu
        return None, None, None, None, None, None, lam, grad_B, grad_x, *grad_factors


def autoregressive(model: Decoder, x: Tensor, lengths: Tensor, feed_truth: Tensor, noise: Tensor | None):
    """Eq. 1 with predictions fed back, vectorised over the batch (``AutoregressiveRollout``).

    Args:
        model: the WARP module (for theta_0, A, B, the root and the head).
        x: ``(batch, T, C)`` data. lengths: ``(batch,)`` valid lengths.
        feed_truth: ``(batch, T)`` bool, which steps are fed the data.
        noise: ``(batch, T, C)`` standard normal draws when sampled predictions are fed, else None.

    Returns:
        theta ``(batch, T, D)``, zero past each length, and the root's raw output ``(batch, T, out_features)``.
    """
    theta0 = model.theta0(x[:, 0])
    op = model.transition_operator()
    keep = (torch.arange(x.shape[1], device=x.device) < lengths[:, None]).T.unsqueeze(-1)  # (T, batch, 1)
    theta, raw = AutoregressiveRollout.apply(
        model, lengths, feed_truth, noise, keep, op, theta0, model.B, x, *op.factors
    )
    return theta.transpose(0, 1), raw.transpose(0, 1)
