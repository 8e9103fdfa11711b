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
        model.A.add_(a_scale / D**0.5 * torch.randn(D, D, dtype=torch.float64))
        model.B.normal_(std=b_scale)
    return model


@pytest.fixture
def make_model():
    return perturbed_model


@pytest.fixture(autouse=True, scope="session")
def synthetic_cache_in_tmp(tmp_path_factory):
    """Synthetic data sets cache themselves under ``$WARPRNN_DATA``: keep the tests' files out of the home cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv("WARPRNN_DATA", str(tmp_path_factory.mktemp("warprnn-data")))
    yield
    patch.undo()
