import pytest
import torch

from warprnn import WARP, WarpConfig


def perturbed_model(seed: int = 0, b_scale: float = 0.1, a_scale: float = 0.3, **options) -> WARP:
    """A float64 WARP whose A is a random non-identity matrix and B is non-zero, with moderate gain so
    that sequences stay well conditioned."""
    torch.manual_seed(seed)
    model = WARP(WarpConfig(**options), dtype=torch.float64)
    D = model.d_theta
    with torch.no_grad():
        model.A.add_(a_scale / D ** 0.5 * torch.randn(D, D, dtype=torch.float64))
        model.B.normal_(std=b_scale)
    return model


@pytest.fixture
def make_model():
    return perturbed_model
