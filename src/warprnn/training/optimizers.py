"""The authors' optimiser in PyTorch: AdaBelief with element-wise gradient clipping, and reduce-on-plateau
stepped once per optimiser step.

The paper's authors train with (JAX)::

    optax.chain(optax.clip(gradients_lim), optax.adabelief(lr),
                optax.contrib.reduce_on_plateau(factor, patience, rtol, 0, cooldown, accum_size, min_scale))

calling ``update(grads, state, params, value=loss)`` once per step with that step's training loss. The
specification here is optax 0.2.3 (``optax.clip``, ``optax.adabelief`` / ``optax.scale_by_belief``,
``optax.contrib.reduce_on_plateau``); the code is written from its algebra, not copied, and
``tests/test_optim.py`` checks it against optax's own numbers (``benchmarks/optax_reference.py``) to 1e-12
in float64, every step.

- ``clip_values``: ``optax.clip(c)``, every gradient entry clamped to [-c, c] (``torch.nn.utils.clip_grad_value_``).
- ``AdaBelief``: ``optax.adabelief``, optionally after ``optax.clip`` (``clip_value``).
- ``StepPlateau``: ``optax.contrib.reduce_on_plateau`` as a learning-rate schedule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch


def clip_values(parameters: Iterable[torch.Tensor], clip_value: float | None) -> None:
    """Clamps every entry of the parameters' gradients to [-clip_value, clip_value], in place (None: nothing):
    ``optax.clip(clip_value)``, element-wise value clipping (not a norm). Parameters without a gradient are
    skipped."""
    if clip_value is not None:
        torch.nn.utils.clip_grad_value_(list(parameters), clip_value)


class AdaBelief(torch.optim.Optimizer):
    """``optax.adabelief`` (optax 0.2.3), with ``optax.clip(clip_value)`` before it when ``clip_value`` is set.

    For each parameter, with gradient g (clamped to [-c, c] when ``clip_value`` is c), step t from 1,
    first moment m and second moment s (both 0 at first)::

        d = g - m                                      # the prediction error, against the *previous* m
        m = b1 m + (1 - b1) g
        s = b2 s + (1 - b2) d^2 + eps_root             # eps_root is kept in s, and so accumulates
        p = p - lr (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps)

    This is optax's order, not that of the AdaBelief paper or of the ``adabelief-pytorch`` package: optax
    measures the prediction error against the mean before this step's gradient (the paper and the package
    against the updated one), and adds ``eps`` once outside the square root and ``eps_root`` once to s (the
    package adds its ``eps`` to s and again to the root). The defaults are optax's: eps = eps_root = 1e-16.
    There is no weight decay (optax's adabelief has none).

    Args:
        params: parameters or param groups; each group may set its own ``lr`` (and any other option).
        lr: learning rate.
        betas: (b1, b2), the decay rates of the two moments.
        eps: added to the root of the bias-corrected second moment.
        eps_root: added to the second moment at every step.
        clip_value: each gradient entry is clamped to [-clip_value, clip_value] before the moments (the
            gradient itself is left as it was); None: no clipping.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-16,
        eps_root: float = 1e-16,
        clip_value: float | None = None,
    ):
        if not lr >= 0:
            raise ValueError(f"AdaBelief: lr must be >= 0, got {lr!r}")
        if not all(0 <= b < 1 for b in betas) or len(betas) != 2:
            raise ValueError(f"AdaBelief: betas must be two numbers in [0, 1), got {betas!r}")
        if not (eps >= 0 and eps_root >= 0):
            raise ValueError(f"AdaBelief: eps and eps_root must be >= 0, got {eps!r} and {eps_root!r}")
        if clip_value is not None and not clip_value > 0:
            raise ValueError(f"AdaBelief: clip_value must be positive or None, got {clip_value!r}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, eps_root=eps_root, clip_value=clip_value)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        """One step of every parameter that has a gradient; returns ``closure()``'s loss when given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            lr, eps, eps_root, clip = group["lr"], group["eps"], group["eps_root"], group["clip_value"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdaBelief does not support sparse gradients")
                g = p.grad if clip is None else p.grad.clamp(-clip, clip)
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_var"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                m, s = state["exp_avg"], state["exp_avg_var"]
                error = g - m
                m.mul_(b1).add_(g, alpha=1 - b1)
                s.mul_(b2).addcmul_(error, error, value=1 - b2).add_(eps_root)
                state["step"] += 1
                t = state["step"]
                denominator = (s / (1 - b2**t)).sqrt_().add_(eps)
                p.addcdiv_(m / (1 - b1**t), denominator, value=-lr)
        return loss


def f32(x) -> np.float32:
    """``x`` rounded to float32, the precision of optax's reduce_on_plateau state."""
    return np.float32(x)


class StepPlateau:
    """``optax.contrib.reduce_on_plateau`` (optax 0.2.3) as a learning-rate schedule, stepped once per optimiser
    step, before it, with that step's loss (``step(loss)``; the ``optim.scheduler=plateau-steps`` of
    ``warprnn.training.config.OptimConfig``).

    optax multiplies the updates by its scale; for AdaBelief, Adam and AdamW, whose updates are proportional
    to the learning rate (decoupled weight decay included) and whose moments do not depend on it, that is
    the same as multiplying the learning rate, which is what this does: every group's ``lr`` is its base
    rate (its rate when the schedule was made) times the scale. As in optax, the scale a step computes
    applies to that step's update, so ``step(loss)`` comes before ``optimizer.step()``.

    The rule: the losses are averaged over ``accumulation_size`` steps; after each such window, its mean
    is an improvement when below ``(1 - rtol) best - atol`` (and then the new best); otherwise the windows
    without improvement are counted, and when the count reaches ``patience`` the scale is multiplied by
    ``factor`` (not below ``min_scale``), the count restarts and the next ``cooldown`` windows are not
    counted (their means can still be a new best). The scale, the best and the running mean are float32
    numbers, as in optax (its state is float32 even under ``jax_enable_x64``), so that the decisions, and the
    scale itself (0.3 x 0.09 is 0.027000003 in float32), are optax's exactly.

    ``state_dict`` and ``load_state_dict`` hold all of it (plain numbers), so that a resumed run continues
    exactly; ``base_lrs`` may be rescaled from outside (``build.scale_learning_rates``).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        factor: float = 0.1,
        patience: int = 10,
        rtol: float = 1e-4,
        atol: float = 0.0,
        cooldown: int = 0,
        accumulation_size: int = 1,
        min_scale: float = 0.0,
    ):
        if not 0 < factor < 1:
            raise ValueError(f"StepPlateau: factor must be in (0, 1), got {factor!r}")
        if not (rtol >= 0 and atol >= 0) or rtol == atol == 0 or rtol > 1:
            raise ValueError(f"StepPlateau: rtol in [0, 1] and atol >= 0, not both 0; got {rtol!r} and {atol!r}")
        if patience < 1 or cooldown < 0 or accumulation_size < 1 or not min_scale >= 0:
            raise ValueError(
                "StepPlateau: patience >= 1, cooldown >= 0, accumulation_size >= 1 and min_scale >= 0; got "
                f"{patience!r}, {cooldown!r}, {accumulation_size!r}, {min_scale!r}"
            )
        self.optimizer = optimizer
        self.factor, self.patience, self.rtol, self.atol = factor, patience, rtol, atol
        self.cooldown, self.accumulation_size, self.min_scale = cooldown, accumulation_size, min_scale
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.scale, self.best, self.average = f32(1.0), f32(math.inf), f32(0.0)
        self.count = self.plateau_count = self.cooldown_count = 0

    def step(self, loss: float) -> None:
        """Counts the loss of the optimiser step about to be taken and sets every group's rate for it."""
        count = self.count + 1
        self.average = (f32(self.count) * self.average + f32(loss)) / f32(count)
        self.count = count
        if count == self.accumulation_size:
            self._end_window()
        self.apply()

    def _end_window(self) -> None:
        improved = bool(self.average < f32(f32(1 - self.rtol) * self.best) - f32(self.atol))
        if improved:
            self.best = self.average
        stale = 0 if improved else self.plateau_count + 1
        if self.cooldown_count > 0:
            self.plateau_count, self.cooldown_count = 0, self.cooldown_count - 1
        elif stale == self.patience:
            self.plateau_count, self.cooldown_count = 0, self.cooldown
            self.scale = np.maximum(self.scale * f32(self.factor), f32(self.min_scale))
        else:
            self.plateau_count, self.cooldown_count = stale, 0
            self.scale = np.maximum(self.scale, f32(self.min_scale))
        self.count, self.average = 0, f32(0.0)

    def apply(self) -> None:
        """Sets every group's learning rate to its base rate times the scale."""
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * float(self.scale)

    def at_floor(self) -> bool:
        """Whether a reduction would leave the scale as it is (it is at ``min_scale``)."""
        return bool(np.maximum(self.scale * f32(self.factor), f32(self.min_scale)) >= self.scale)

    def state_dict(self) -> dict:
        return {
            "base_lrs": list(self.base_lrs),
            "scale": float(self.scale),
            "best": float(self.best),
            "average": float(self.average),
            "count": self.count,
            "plateau_count": self.plateau_count,
            "cooldown_count": self.cooldown_count,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restores ``state_dict()``'s state and sets every group's rate from it."""
        if len(state["base_lrs"]) != len(self.optimizer.param_groups):
            raise ValueError(
                f"StepPlateau: the state has {len(state['base_lrs'])} learning rates, the optimiser "
                f"{len(self.optimizer.param_groups)} param groups"
            )
        self.base_lrs = list(state["base_lrs"])
        self.scale, self.best, self.average = f32(state["scale"]), f32(state["best"]), f32(state["average"])
        self.count, self.plateau_count = int(state["count"]), int(state["plateau_count"])
        self.cooldown_count = int(state["cooldown_count"])
        self.apply()
