"""Metrics against direct computations: masking, the forecast part only, original scale, BPD, macro-F1."""

import math

import pytest
import torch

from warprnn import WARP, WarpConfig
from warprnn.data import StandardScaler
from warprnn.data.types import Split
from warprnn.training import metrics
from warprnn.training.evaluation import forecast


def test_mape_masks_zero_targets():
    pred, target = torch.tensor([1.0, 2.0, 5.0]), torch.tensor([2.0, 0.0, 4.0])
    assert metrics.mape(pred, target).item() == pytest.approx(100 * (0.5 + 0.25) / 2)


def test_forecast_metrics_score_only_steps_after_context_and_inside_length():
    torch.manual_seed(0)
    target = torch.randn(2, 6, 1)
    pred = target.clone()
    pred[:, :3] += 100.0  # context part: ignored
    pred[0, 3:] += 1.0
    pred[1, 3:5] += 2.0
    pred[1, 5:] += 50.0  # past length 5: ignored
    out = metrics.forecast_metrics(pred, target, context=3, lengths=torch.tensor([6, 5]))
    errors = torch.tensor([1.0, 1.0, 1.0, 2.0, 2.0])  # 3 steps of sequence 0, 2 of sequence 1
    assert out["mse"] == pytest.approx((errors**2).mean().item())
    assert out["mae"] == pytest.approx(errors.mean().item())
    assert out["rmse"] == pytest.approx(math.sqrt(out["mse"]))


def test_forecast_metrics_on_original_scale():
    scaler = StandardScaler(mean=torch.tensor([10.0]), std=torch.tensor([3.0]))
    target = torch.zeros(1, 4, 1)
    pred = torch.ones(1, 4, 1)
    out = metrics.forecast_metrics(pred, target, context=1, scaler=scaler)
    assert out["mse"] == pytest.approx(1.0) and out["mse_orig"] == pytest.approx(9.0)
    assert out["mae_orig"] == pytest.approx(3.0)
    assert out["mape"] == pytest.approx(100 * 3 / 10)  # on the original scale, where the target is 10


def test_gaussian_nll_and_bits_per_dim():
    mean, std, y = torch.tensor([0.5]), torch.tensor([0.2]), torch.tensor([0.1])
    expected = -torch.distributions.Normal(mean, std).log_prob(y).item()
    assert metrics.gaussian_nll(mean, std, y).item() == pytest.approx(expected)
    # Pixels p / 127.5 - 1 are 2/255 apart: BPD is the NLL in bits plus log2(127.5).
    assert metrics.bits_per_dim(expected, 2 / 255) == pytest.approx(expected / math.log(2) + math.log2(127.5))
    out = metrics.forecast_metrics(
        mean.view(1, 1, 1).expand(1, 3, 1),
        y.view(1, 1, 1).expand(1, 3, 1),
        context=1,
        std=std.view(1, 1, 1).expand(1, 3, 1),
        bin_width=2 / 255,
    )
    assert out["nll"] == pytest.approx(expected)
    assert out["bpd"] == pytest.approx(expected / math.log(2) + math.log2(127.5))


def test_classification_metrics_match_hand_computed_macro_f1():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    pred = torch.tensor([0, 1, 1, 1, 2, 0])
    logits = torch.nn.functional.one_hot(pred, 4).float()  # class 3 never occurs: not averaged
    out = metrics.classification_metrics(logits, labels, num_classes=4)
    f1 = [2 * 1 / (2 + 2), 2 * 2 / (2 + 3), 2 * 1 / (2 + 1)]  # 2 tp / (support + predicted)
    assert out["accuracy"] == pytest.approx(4 / 6)
    assert out["f1"] == pytest.approx(sum(f1) / 3)


def test_the_authors_pixel_conventions_beside_ours():
    """Pixels in [-1, 1]: ``mse_01`` is the MSE of the values mapped to [0, 1] (a quarter of ours), and
    ``bpd_cont_01`` the continuous Gaussian NLL in bits of the mapped values with the std not rescaled."""
    pred = torch.tensor([[[-1.0], [0.0], [0.5]]])
    target = torch.tensor([[[-1.0], [1.0], [-0.5]]])
    std = torch.full_like(pred, 0.5)
    out = metrics.forecast_metrics(pred, target, context=1, std=std, value_range=(-1.0, 1.0), bin_width=2 / 255)
    assert out["mse_01"] == pytest.approx(out["mse"] / 4) and out["mse_01"] == pytest.approx((0.25 + 0.25) / 2)
    by_hand = [0.5 * math.log(2 * math.pi * 0.25) + 0.5**2 / (2 * 0.25) for _ in range(2)]  # |error| 0.5 on [0, 1]
    assert out["bpd_cont_01"] == pytest.approx(sum(by_hand) / 2 / math.log(2))
    assert "mse_01" not in metrics.forecast_metrics(pred, target, context=1)


def test_split_forecasts_keep_the_states_only_when_asked():
    torch.manual_seed(0)
    model = WARP(WarpConfig(in_channels=1, root_width=4, root_depth=1)).eval()
    x = torch.randn(5, 8, 1)
    split = Split(x, x, torch.full((5,), 8))
    plain, kept = forecast(model, split, 3, 2, "cpu"), forecast(model, split, 3, 2, "cpu", theta=True)
    assert plain["theta"] is None  # the evaluation of a whole split holds no states (6.5 GB on MNIST's test set)
    assert kept["theta"].shape == (5, 8, model.d_theta)
    torch.testing.assert_close(plain["mean"], kept["mean"], rtol=0, atol=0)
