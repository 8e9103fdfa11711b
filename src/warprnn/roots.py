"""Root networks: the functions whose parameters are WARP's hidden state theta.

A root maps the root input (tau, optionally the time step, tau's positional encoding and the latest
observation) to an output, with its parameters read from a flat vector ``theta`` of size ``num_params`` (D_theta). Roots
hold no trainable parameters of their own: every call is given a theta, and any leading dimensions of
``theta`` and of the input broadcast, so one batched call decodes a different theta for every
(batch, time) pair.

- ``Root``: the interface.
- ``MLPRoot``: the paper's root MLP, evaluated by ``PerSampleMLP`` (reference: ``mlp_ref``), whose forward and
  hand-written backward (``mlp_forward``, ``mlp_vjp``) an autoregressive rollout also calls step by step.

The WARP-Phys roots (paper Sec. 3.3), physical forms whose parameters are the state, are in
``warprnn.physics``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from .config import Activation


def activation(name: Activation):
    """Returns the elementwise function called ``name`` (``config.Activation``)."""
    return {
        "relu": torch.relu,
        "tanh": torch.tanh,
        "swish": F.silu,
        "softplus": F.softplus,
        "sin": torch.sin,
        "identity": lambda h: h,
    }[name]


class Root(nn.Module):
    """Interface of a root: ``forward(theta, inputs)`` with ``theta`` of size ``num_params``."""

    in_features: int
    out_features: int
    num_params: int
    reads_step: bool = False
    """Whether the root input holds the time step ``tau_{t+1} - tau_t`` after tau (``WARP.root_input``): a
    root that integrates over one step reads it."""

    def initial_theta(self, dtype: torch.dtype | None = None, device=None) -> Tensor:
        """A freshly initialised parameter vector, shape ``(num_params,)``."""
        raise NotImplementedError

    def forward(self, theta: Tensor, inputs: Tensor) -> Tensor:
        """Evaluates the root. theta: ``(..., num_params)``; inputs: ``(..., in_features)``.

        Returns: ``(..., out_features)``.
        """
        raise NotImplementedError

    def initial_recurrence(
        self, drive_channels: int, dtype: torch.dtype | None = None, device=None
    ) -> tuple[Tensor, Tensor, Tensor] | None:
        """The A ``(D, D)``, B ``(D, drive_channels)`` and linear phi ``(D, C)`` that maintain this root's
        state, for a root whose state has a fixed meaning; None (the default): A = I, B = 0."""
        return None


class MLPRoot(Root):
    """An MLP ``in_features -> width (x depth) -> out_features`` read from theta.

    Layout of theta: for each layer in order, its weight ``(out, in)`` flattened row-major, then its
    bias ``(out,)``; the same order as ``nn.Linear``'s ``weight`` and ``bias``.
    """

    def __init__(self, in_features: int, out_features: int, width: int, depth: int, act: Activation = "relu"):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        sizes = [in_features] + [width] * depth + [out_features]
        self.layer_shapes = list(zip(sizes[1:], sizes[:-1]))  # (out, in) per layer
        self.num_params = sum(o * i + o for o, i in self.layer_shapes)
        self.act_name, self.act = act, activation(act)

    def unflatten(self, theta: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Splits theta ``(..., D)`` into per-layer weights ``(..., out, in)`` and biases ``(..., out)``.

        One ``split`` makes views of theta, so the backward assembles dL/dtheta with a single concatenation.
        """
        sizes = [n for out_f, in_f in self.layer_shapes for n in (out_f * in_f, out_f)]
        parts = theta.split(sizes, dim=-1)
        return [(parts[2 * i].unflatten(-1, shape), parts[2 * i + 1]) for i, shape in enumerate(self.layer_shapes)]

    def initial_theta(self, dtype=None, device=None) -> Tensor:
        """nn.Linear's default initialisation of every layer, flattened as theta ``(D,)``."""
        # nn.Linear's default initialisation: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)).
        parts = []
        for out_f, in_f in self.layer_shapes:
            bound = 1.0 / math.sqrt(in_f)
            parts.append(torch.empty(out_f * in_f + out_f, dtype=dtype, device=device).uniform_(-bound, bound))
        return torch.cat(parts)

    def forward(self, theta: Tensor, inputs: Tensor) -> Tensor:
        """The MLP of each theta ``(..., D)`` at its inputs ``(..., in_features)``: ``(..., out_features)``."""
        lead = torch.broadcast_shapes(theta.shape[:-1], inputs.shape[:-1])
        theta = theta.expand(*lead, -1).reshape(-1, theta.shape[-1])  # (N, D), a view for (T, batch, D) storage
        h = inputs.expand(*lead, -1).reshape(-1, inputs.shape[-1])  # (N, in_features)
        with torch.autocast(theta.device.type, enabled=False):  # the custom node runs in theta's type
            return PerSampleMLP.apply(theta, h.to(theta.dtype), self).unflatten(0, lead)


def mlp_ref(root: MLPRoot, theta: Tensor, inputs: Tensor) -> Tensor:
    """``MLPRoot.forward`` in plain broadcast tensor operations under autograd: the reference of
    ``PerSampleMLP``. theta ``(..., D)``, inputs ``(..., in_features)`` -> ``(..., out_features)``."""
    layers = root.unflatten(theta)
    h = inputs
    for i, (weight, bias) in enumerate(layers):
        h = (weight @ h.unsqueeze(-1)).squeeze(-1) + bias
        if i < len(layers) - 1:
            h = root.act(h)
    return h


class PerSampleMLP(torch.autograd.Function):
    """The MLP root with a different theta for each of N samples, as one autograd node (``mlp_forward``,
    ``mlp_vjp``): each layer is one batched product over the samples, and the backward writes every
    gradient straight into one buffer laid out like theta."""

    @staticmethod
    def forward(ctx, theta: Tensor, h: Tensor, root: MLPRoot) -> Tensor:
        """theta: ``(N, D)``; h: ``(N, in_features)``. Returns ``(N, out_features)``."""
        out, inputs, pre = mlp_forward(root, theta, h)
        ctx.root = root
        ctx.save_for_backward(theta, *inputs, *pre)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        """dL/dtheta ``(N, D)`` and dL/dh ``(N, in_features)`` from dL/dout ``(N, out_features)`` (None for ``root``)."""
        theta, *saved = ctx.saved_tensors
        n = len(ctx.root.layer_shapes)
        grad_theta = theta.new_empty(theta.shape)
        grad_h = mlp_vjp(ctx.root, theta, saved[:n], saved[n:], grad, grad_theta)
        return grad_theta, grad_h, None


def mlp_forward(root: MLPRoot, theta: Tensor, h: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """The MLP root of N samples without autograd, one batched product per layer.

    Args:
        theta: ``(N, D)``, each row a sample's parameters. h: ``(N, in_features)``.

    Returns:
        the output ``(N, out_features)``, each layer's input (``[h, act(z_1), ...]``) and each hidden layer's
        pre-activation ``z_i`` ``(N, width)``: what ``mlp_vjp`` needs.
    """
    layers = root.unflatten(theta)
    inputs, pre = [h], []
    for i, (weight, bias) in enumerate(layers):
        z = torch.baddbmm(bias.unsqueeze(-1), weight, inputs[-1].unsqueeze(-1)).squeeze(-1)
        if i == len(layers) - 1:
            return z, inputs, pre
        pre.append(z)
        inputs.append(root.act(z))
    raise AssertionError("an MLP root has at least one layer")


def mlp_vjp(
    root: MLPRoot, theta: Tensor, inputs: list[Tensor], pre: list[Tensor], grad: Tensor, grad_theta: Tensor
) -> Tensor:
    """The vector-Jacobian product of ``mlp_forward``, by hand.

    Writes dL/dtheta ``(N, D)`` into ``grad_theta`` (every entry: each layer's weight gradient, an outer
    product per sample, and its bias gradient, in theta's layout) and returns dL/dh ``(N, in_features)``.
    ``inputs`` and ``pre`` are ``mlp_forward``'s; grad ``(N, out_features)`` is dL/d(output).
    """
    layers, grad_layers = root.unflatten(theta), root.unflatten(grad_theta)  # views: (weight, bias) per layer
    for i in range(len(layers) - 1, -1, -1):
        grad_weight, grad_bias = grad_layers[i]
        torch.mul(grad.unsqueeze(-1), inputs[i].unsqueeze(-2), out=grad_weight)
        grad_bias.copy_(grad)
        grad = torch.bmm(grad.unsqueeze(-2), layers[i][0]).squeeze(-2)  # dL/d(input of layer i)
        if i > 0:
            grad = activation_vjp(root.act_name, pre[i - 1], grad)
    return grad


def activation_vjp(name: Activation, z: Tensor, grad: Tensor) -> Tensor:
    """dL/dz from dL/d act(z) at the pre-activation z, by the activation's derivative (autograd's formulas)."""
    if name == "relu":
        return torch.ops.aten.threshold_backward(grad, z, 0)  # grad where z > 0, else 0: one operator
    if name == "identity":
        return grad
    if name == "tanh":
        return grad * (1 - torch.tanh(z) ** 2)
    if name == "sin":
        return grad * torch.cos(z)
    s = torch.sigmoid(z)
    if name == "swish":
        return grad * (s * (1 + z * (1 - s)))
    return grad * torch.where(z > 20, 1.0, s)  # softplus: the identity above its threshold, as F.softplus
