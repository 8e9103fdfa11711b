"""Initialisation, parameter layout, dtype/device arguments and the command line."""

import pytest
import torch

from warprnn import WARP, WarpConfig
from warprnn.cli import main


def test_initialisation_follows_the_paper():
    torch.manual_seed(0)
    model = WARP(WarpConfig(in_channels=3, root_width=8, root_depth=2, time_as_channel=True), dtype=torch.float64)
    D = (1 * 8 + 8) + (8 * 8 + 8) + (8 * 3 + 3)
    assert model.d_theta == D
    assert model.A.dtype == torch.float64
    torch.testing.assert_close(model.A, torch.eye(D, dtype=torch.float64))
    assert model.B.shape == (D, 4) and torch.all(model.B == 0)
    widths = [layer.out_features for layer in model.hypernet.hidden]
    assert widths == [round(3 + (D - 3) / 2)]  # one hidden layer, halfway from C to D_theta
    with torch.no_grad():
        model.A.mul_(2)
        model.B.add_(1)
    model.reset_parameters()
    torch.testing.assert_close(model.A, torch.eye(D, dtype=torch.float64))
    assert torch.all(model.B == 0)


def test_learned_theta0_is_a_fresh_root_and_shared_by_the_batch():
    torch.manual_seed(0)
    model = WARP(WarpConfig(in_channels=1, theta0="learned", root_width=16, root_depth=1))
    theta0 = model.theta0(torch.randn(5, 1))
    assert torch.all(theta0 == model.theta_init)
    first_weights = model.theta_init[:16]  # fan-in 1: U(-1, 1)
    assert first_weights.abs().max() <= 1 and first_weights.std() > 0.3


def test_hypernetwork_depths():
    for depth, hidden in [(0, 0), (1, 1), (2, 2)]:
        model = WARP(WarpConfig(in_channels=2, hypernet_depth=depth, root_width=4))
        assert len(model.hypernet.hidden) == hidden
        x0 = torch.randn(3, 2)
        assert model.theta0(x0).shape == (3, model.d_theta)
        assert not torch.allclose(model.theta0(x0)[0], model.theta0(x0)[1])  # phi depends on x_0


def test_output_shapes():
    x = torch.randn(4, 10, 2)
    out = WARP(WarpConfig(in_channels=2, head="gaussian", root_width=4))(x)
    assert out.mean.shape == out.std.shape == (4, 10, 2) and out.logits is None
    assert (out.std >= 1e-4).all()
    out = WARP(WarpConfig(in_channels=2, head="classification", num_classes=5, root_width=4))(x)
    assert out.logits.shape == (4, 5) and out.mean is None and out.theta.shape[:2] == (4, 10)


def test_cli_describe_and_errors(capsys):
    assert main(["describe", "in_channels=2", "root_width=48", "root_depth=3"]) == 0
    assert "D_theta (state size): 4898" in capsys.readouterr().out  # the paper's MSD root
    assert main(["describe", "widht=3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown warp option(s) ['widht']" in err


def test_hypernet_width_sets_the_hidden_layers():
    stepped = WARP(WarpConfig(in_channels=1, root="sine", hypernet_depth=2))
    assert [layer.out_features for layer in stepped.hypernet.hidden] == [1, 1]  # C = D_theta = 1
    wide = WARP(WarpConfig(in_channels=1, root="sine", hypernet_depth=2, hypernet_width=32))
    assert [layer.out_features for layer in wide.hypernet.hidden] == [32, 32]
    assert wide.theta0(torch.zeros(3, 1)).shape == (3, 1)
    with pytest.raises(ValueError, match="hypernet_width"):
        WarpConfig(hypernet_width=0)


def test_the_version_is_written_once(capsys):
    import importlib.metadata

    import warprnn

    assert importlib.metadata.version("warprnn") == warprnn.__version__
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"warprnn {warprnn.__version__}"
