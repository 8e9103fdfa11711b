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
  (``AutoregressiveRollout``) that saves theta once and forms A's gradient from large products. An MLP
  root runs on a ``RootTape`` (its activations kept, a hand-written VJP per step); any other root's
  Jacobians are formed for windows of steps (``RootJacobians``), the path an MLP root is tested against.

Both need the decoder of a model, not the model class: any object with the methods of ``Decoder``.
A structured transition (``WarpConfig.transition``) runs through its operator's products
(``warprnn.transition.Operator``); the reference reads it as its dense matrix.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import roots
from .config import WarpConfig
from .roots import Root
from .transition import Operator


class Decoder(Protocol):
    """What a rollout needs of a model (``WARP`` is one): the parameters of Eq. 1 and the non-linear
    maps around it. Shapes as in ``WARP``'s methods of the same names."""

    config: WarpConfig
    B: Tensor  # (D, C')
    root: Root  # an MLPRoot is run on a RootTape

    def root_input(self, steps: Tensor, lengths: Tensor, fed: Tensor) -> Tensor: ...  # linear in fed

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


def rows(y: Tensor, inputs: list[Tensor], k: int) -> list[Tensor]:
    """Row k of the Jacobians of y ``(..., K)`` with respect to each of ``inputs`` (zeros where unused):
    ``d y[..., k] / d input``, batched over the leading dimensions (every output entry depends only on
    the inputs of its own leading index)."""
    onehot = torch.zeros_like(y)
    onehot[..., k] = 1.0
    grads = torch.autograd.grad(y, inputs, onehot, retain_graph=True, allow_unused=True)
    return [torch.zeros_like(i) if g is None else g for i, g in zip(inputs, grads)]


class FeedJacobians:
    """The Jacobians of ``tail`` at n consecutive steps t0 .. t0 + n - 1, for its vector-Jacobian products
    in the adjoint loop without an autograd call per step.

    ``tail``'s outputs are few (the fed value's C entries and the difference's C'), so its Jacobian is K =
    C + C' rows with respect to the root's output raw_t, x_t and x_{t+1}, formed for the n steps at once
    (one backward per row). Shapes are time-major: ``[i]`` is step t0 + i.
    """

    def __init__(self, model: Decoder, t0: int, raw, fed, x_next, truth_next, noise, lengths):
        """raw ``(n, batch, out)`` and fed ``(n, batch, C)`` time-major (as the rollout saves them); x_next
        ``(batch, n, C)``, truth_next ``(batch, n)`` and noise ``(batch, n, C)`` or None batch-first (as the
        data): the steps' inputs."""
        self.t0 = t0
        steps = torch.arange(t0, t0 + raw.shape[0], device=raw.device)
        with torch.enable_grad():
            raw, fed, x_next = (v.detach().requires_grad_() for v in (raw, fed, x_next))
            fed_next, dx = tail(
                model, steps, raw.transpose(0, 1), fed.transpose(0, 1), x_next, truth_next, noise, lengths
            )
            fed_dx = torch.cat([fed_next, dx], dim=-1)  # (batch, n, K)
            feeding = [rows(fed_dx, [raw, fed, x_next], k) for k in range(fed_dx.shape[-1])]
        self.raw, self.fed, to_x = (torch.stack(j, dim=2) for j in zip(*feeding))  # (n, batch, K, out | C)
        self.x = to_x.transpose(0, 1)  # (n, batch, K, C), from (batch, n, K, C)

    def vjp(self, t: int, g_fed: Tensor, g_dx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """From the cotangents of step t's outputs, g_fed ``(batch, C)`` and g_dx ``(batch, C')``, those of its
        inputs raw_t ``(batch, out)``, x_t and x_{t+1} ``(batch, C)``."""
        i = t - self.t0
        g_tail = torch.cat([g_fed, g_dx], dim=-1).unsqueeze(1)  # (batch, 1, K)
        return tuple(torch.bmm(g_tail, j[i]).squeeze(1) for j in (self.raw, self.fed, self.x))


class RootJacobians:
    """The Jacobians of the decoder (any root) at n consecutive steps t0 .. t0 + n - 1: its out_features
    rows with respect to theta_t (``(n, batch, out_features, D)``, the large part) and to x_t, formed
    with one batched evaluation and a backward per output row, instead of one evaluation and backward per
    step. Time-major: ``[i]`` is step t0 + i."""

    def __init__(self, model: Decoder, t0: int, theta: Tensor, fed: Tensor, lengths: Tensor):
        """theta ``(n, batch, D)`` and fed ``(n, batch, C)``, time-major."""
        self.t0 = t0
        steps = torch.arange(t0, t0 + theta.shape[0], device=theta.device)
        with torch.enable_grad():
            theta, fed = (v.detach().requires_grad_() for v in (theta, fed))
            raw = model.decode(theta.transpose(0, 1), steps, lengths, fed.transpose(0, 1))  # (batch, n, out)
            root = [rows(raw, [theta, fed], k) for k in range(raw.shape[-1])]
        self.theta = [row_theta for row_theta, _ in root]  # out_features rows, each (n, batch, D)
        self.fed = torch.stack([row_fed for _, row_fed in root], dim=2)  # (n, batch, out, C)

    def vjp(self, t: int, g_raw: Tensor) -> tuple[Tensor, Tensor]:
        """The cotangents of theta_t ``(batch, D)`` and x_t ``(batch, C)`` from that of raw_t ``(batch, out)``."""
        i = t - self.t0
        a_theta = g_raw[:, :1] * self.theta[0][i]  # the rows are not stacked: a copy of their size
        for k in range(1, len(self.theta)):
            a_theta.addcmul_(g_raw[:, k : k + 1], self.theta[k][i])
        return a_theta, (g_raw.unsqueeze(1) @ self.fed[i]).squeeze(1)


class RootTape:
    """The MLP root (``roots.MLPRoot``) of a rollout, evaluated step by step without autograd and with
    each step's layer inputs and pre-activations kept, so that the adjoint's products with its Jacobian
    are ``roots.mlp_vjp`` on them: a few batched products a step, no re-evaluation, no Jacobian formed.

    The root input is linear in the fed value (``WARP.root_input``: tau and the positional encoding do not
    depend on it, x_t or its key channels are copied in), so it is formed once for every step with nothing
    fed (``base``, ``(T, batch, in_features)``) and a step adds ``fed_t @ select``, select
    ``(C, in_features)`` being d(root input)/d(fed) (None when the root does not read x_t).
    """

    def __init__(self, model: Decoder, x: Tensor, lengths: Tensor):
        """x: ``(batch, T, C)`` the data; lengths ``(batch,)``."""
        self.root, T = model.root, x.shape[1]
        steps = torch.arange(T, device=x.device)
        self.base = model.root_input(steps, lengths, torch.zeros_like(x)).transpose(0, 1).contiguous()
        with torch.enable_grad():
            fed = x.new_zeros(1, 1, x.shape[2], requires_grad=True)
            h = model.root_input(steps[:1], lengths[:1], fed).view(-1)  # (in_features,)
            reads = h.requires_grad
            select = torch.stack([rows(h, [fed], j)[0].view(-1) for j in range(h.shape[0])], 1) if reads else None
        self.select = select  # (C, in_features) or None
        self.saved: list[tuple[list[Tensor], list[Tensor]] | None] = [None] * T
        self.grad_theta: Tensor | None = None  # one buffer for every step's dL/dtheta_t

    def forward(self, t: int, theta: Tensor, fed: Tensor) -> Tensor:
        """The root's raw output at step t ``(batch, out_features)`` from theta_t ``(batch, D)`` and x_t
        ``(batch, C)``, its activations kept for ``vjp``."""
        h = self.base[t] if self.select is None else torch.addmm(self.base[t], fed, self.select)
        raw, inputs, pre = roots.mlp_forward(self.root, theta, h)
        self.saved[t] = (inputs, pre)
        return raw

    def vjp(self, t: int, theta: Tensor, g_raw: Tensor) -> tuple[Tensor, Tensor | None]:
        """The cotangents of theta_t ``(batch, D)`` (a buffer overwritten by the next call) and x_t ``(batch,
        C)`` (None: not read) from that of raw_t ``(batch, out_features)``; step t's activations are freed."""
        if self.grad_theta is None:
            self.grad_theta = theta.new_empty(theta.shape)
        inputs, pre = self.saved[t]
        self.saved[t] = None
        g_h = roots.mlp_vjp(self.root, theta, inputs, pre, g_raw, self.grad_theta)
        return self.grad_theta, None if self.select is None else g_h @ self.select.T


def root_tape(model: Decoder, x: Tensor, lengths: Tensor) -> RootTape | None:
    """A ``RootTape`` for a model whose root is an MLP, else None (the rollout then forms ``RootJacobians``)."""
    return RootTape(model, x, lengths) if isinstance(model.root, roots.MLPRoot) else None


class AutoregressiveRollout(torch.autograd.Function):
    """Eq. 1 with predictions fed back, as one autograd node over the batch, time-major.

    theta_{t+1} = theta_t A^T + dx_{t+1} B^T, where dx_{t+1} = ``tail``(decode(theta_t, x_t), x_t) depends
    on theta_t through the root, so the full gradient is not that of a linear recurrence. The forward
    runs without a graph and saves only theta ``(T, batch, D)``, the root's outputs and the small fed
    values and differences (and, for an MLP root, its activations: ``RootTape``). The backward runs the
    adjoint recurrence in reverse,

        lam_t = g_t + lam_{t+1} A + d step_t / d theta_t (cotangents: g_raw_t, nu_{t+1}, lam_{t+1} B)

    with no autograd call per step: the Jacobians of ``tail`` are formed for windows of steps at once
    (``FeedJacobians``), and the root's VJP is ``RootTape.vjp`` for an MLP root, else products with its
    Jacobians formed for windows of steps (``RootJacobians``). It forms
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
    """The memory for the Jacobians (``FeedJacobians``, ``RootJacobians``) held at once in the backward."""

    @staticmethod
    def jacobian_steps(theta: Tensor, C: int, out_features: int, root_rows: bool) -> int:
        """How many steps' Jacobians fit in ``JACOBIAN_BYTES``, for theta ``(T, batch, D)``; at least one. A
        step's are ``(batch, out_features, D + C)`` for the root's rows (``root_rows``) and about ``(batch, 2C
        + 1, out_features + 2C)`` for the feeding's (C' <= C + 1)."""
        per_step = (2 * C + 1) * (out_features + 2 * C) + root_rows * out_features * (theta.shape[2] + C)
        return max(1, AutoregressiveRollout.JACOBIAN_BYTES // (per_step * theta.shape[1] * theta.element_size()))

    @staticmethod
    def forward(ctx, model, lengths, feed_truth, noise, keep, op, theta0, B, x, *factors):
        """op: A, whose factors are ``factors``. theta0: ``(batch, D)``; x: ``(batch, T, C)``; keep: ``(T, batch,
        1)`` bool, the steps within each length. Returns theta ``(T, batch, D)``, zero where not kept, and raw
        ``(T, batch, out)``."""
        (batch, T, C), D, clip = x.shape, theta0.shape[1], model.config.theta_clip
        tape = root_tape(model, x, lengths)
        steps = torch.arange(T, device=x.device)
        theta = theta0.new_empty(T, batch, D)
        fed = x.new_empty(T, batch, C)
        dx = x.new_empty(T, batch, B.shape[1])
        raw = x.new_empty(T, batch, model.config.out_features)
        theta[0], fed[0], dx[0] = theta0, x[:, 0], 0.0
        for t in range(T):
            if tape is None:
                raw[t] = model.decode(theta[t].unsqueeze(1), steps[t : t + 1], lengths, fed[t].unsqueeze(1))[:, 0]
            else:
                raw[t] = tape.forward(t, theta[t], fed[t])
            if t == T - 1:
                break
            eps = None if noise is None else noise[:, t : t + 1]
            now, after = slice(t, t + 1), slice(t + 1, t + 2)
            fed_next, dx_next = tail(
                model, steps[now], raw[now].transpose(0, 1), fed[now].transpose(0, 1), x[:, after],
                feed_truth[:, after], eps, lengths,
            )  # fmt: skip
            fed[t + 1], dx[t + 1] = fed_next[:, 0], dx_next[:, 0]
            op.step(theta[t], dx[t + 1] @ B.T, out=theta[t + 1])
            if clip is not None:
                theta[t + 1].clamp_(-clip, clip)
        ctx.padding = ~keep
        theta.masked_fill_(ctx.padding, 0.0)
        ctx.model, ctx.lengths, ctx.feed_truth, ctx.noise, ctx.op, ctx.tape = (
            model,
            lengths,
            feed_truth,
            noise,
            op,
            tape,
        )
        ctx.save_for_backward(theta, fed, dx, raw, B, x)
        ctx.set_materialize_grads(False)
        return theta, raw

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_theta, grad_raw):
        theta, fed, dx, raw, B, x = ctx.saved_tensors
        model, lengths, feed_truth, noise, op, tape = (
            ctx.model, ctx.lengths, ctx.feed_truth, ctx.noise, ctx.op, ctx.tape
        )  # fmt: skip
        padding = ctx.padding  # (T, batch, 1)
        T, batch, D = theta.shape
        clip = model.config.theta_clip
        zeros_raw = theta.new_zeros(batch, model.config.out_features)
        g_raw = [zeros_raw] * T if grad_raw is None else grad_raw.unbind(0)
        grad_x = torch.zeros_like(x)
        grad_factors, grad_B = [torch.zeros_like(f) for f in op.factors], torch.zeros_like(B)
        lam_chunk = theta.new_empty(min(AutoregressiveRollout.CHUNK, T - 1), batch, D)  # lam_{t+1}, t in chunk
        window = AutoregressiveRollout.jacobian_steps(theta, x.shape[2], model.config.out_features, tape is None)

        def root_vjp(t: int, g: Tensor) -> tuple[Tensor, Tensor | None]:  # (dL/dtheta_t, dL/dx_t) from dL/draw_t
            return tape.vjp(t, theta[t], g) if tape is not None else root_jac.vjp(t, g)

        j0 = T - 1  # the steps [j0, j0 + n) whose Jacobians are in `feed_jac` and `root_jac`
        root_jac = None if tape is not None else RootJacobians(model, j0, theta[j0:], fed[j0:], lengths)
        lam, nu = root_vjp(T - 1, g_raw[T - 1])  # the last step only decodes
        nu = torch.zeros_like(fed[0]) if nu is None else nu.masked_fill(padding[T - 1], 0.0)
        if grad_theta is not None:
            lam = lam + grad_theta[T - 1]
        lam = lam.masked_fill(padding[T - 1], 0.0)  # a padding state is a constant; a fresh tensor
        for t in range(T - 2, -1, -1):
            if clip is not None:  # from dL/dtheta_{t+1} to dL/d(theta_t A^T + dx_{t+1} B^T)
                lam = lam.masked_fill(theta[t + 1].abs() >= clip, 0.0)
            slot = t % lam_chunk.shape[0]
            lam_chunk[slot] = lam  # lam_{t+1}
            if t < j0:
                j0 = max(0, t + 1 - window)
                span, span_next = slice(j0, t + 1), slice(j0 + 1, t + 2)
                eps = None if noise is None else noise[:, span]
                feed_jac = FeedJacobians(
                    model, j0, raw[span], fed[span], x[:, span_next], feed_truth[:, span_next], eps, lengths
                )
                if tape is None:
                    root_jac = RootJacobians(model, j0, theta[span], fed[span], lengths)
            g_raw_t, nu, grad_x[:, t + 1] = feed_jac.vjp(t, nu, lam @ B)
            a_theta, a_fed = root_vjp(t, g_raw_t + g_raw[t])
            if a_fed is not None:
                nu = nu + a_fed
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
