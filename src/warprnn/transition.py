"""How the transition A of Eq. 1 is parametrised (``WarpConfig.transition_norm``).

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

import torch
from torch import Tensor, nn


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
