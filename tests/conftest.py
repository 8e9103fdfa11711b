import pytest
import torch

from warprnn import WARP, WarpConfig

TINY = [  # msd-small cut to seconds: 3 batches an epoch, a root of width 8
    "data.num_train=48",
    "data.num_val=16",
    "data.num_test=16",
    "data.seq_len=16",
    "data.context=4",
    "warp.root_width=8",
    "train.batch_size=16",
]


def perturb_transition(model: WARP, a_scale: float) -> None:
    """Moves A off its initialisation with a gain of about ``a_scale``: a dense A by ``a_scale / sqrt(D)``
    per entry; a diagonal one to eigenvalues in (0.37, 0.95); blocks by ``a_scale / sqrt(K)`` per entry;
    a low-rank correction to U of ``a_scale / sqrt(D)`` per entry."""
    D = model.d_theta
    with torch.no_grad():
        if model.transition is None:
            model.A.add_(a_scale / D**0.5 * torch.randn(D, D, dtype=model.A.dtype))
            return
        for name, p in model.transition.named_parameters():
            if name == "nu":
                p.copy_(torch.log(0.05 + 0.95 * torch.rand_like(p)))  # exp(-exp(nu)) in (0.37, 0.95)
            elif name == "blocks":
                p.add_(a_scale / p.shape[1] ** 0.5 * torch.randn_like(p))
            elif name == "U":
                p.normal_(std=a_scale / D**0.5)


def perturbed_model(seed: int = 0, b_scale: float = 0.1, a_scale: float = 0.3, **options) -> WARP:
    """A float64 WARP whose A is a random non-identity matrix (or structured transition, ``transition``)
    and B is non-zero, with moderate gain so that sequences stay well conditioned."""
    torch.manual_seed(seed)
    model = WARP(WarpConfig(**options), dtype=torch.float64)
    perturb_transition(model, a_scale)
    with torch.no_grad():
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
