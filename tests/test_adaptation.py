"""Gradient-free adaptation: ID vs OOD forecast errors of an MSD model, binned by distance outside the ranges."""

import math

import pytest
import torch

from warprnn import WARP, WarpConfig
from warprnn.data import DataConfig, build_dataset
from warprnn.data.synthetic import msd_draws
from warprnn.experiments.adaptation import BINS, id_vs_ood, markdown, outside_distance, sequence_errors


@pytest.fixture(scope="module")
def setup():
    config = DataConfig(name="msd", num_train=4, num_val=3, num_test=6, seq_len=20, context=8)
    torch.manual_seed(0)
    return WARP(WarpConfig(in_channels=2, root_width=4, root_depth=1)).eval(), build_dataset(config), config


def test_outside_distance_is_relative_to_the_range_width():
    params = torch.tensor([[0.03, 10.0, 0.1], [0.05, 10.0, 0.1], [0.03, 1.0, 0.39]], dtype=torch.float64)
    assert outside_distance(params).tolist() == pytest.approx([0.0, 0.5, 1.0])


def test_id_uses_the_validation_split_and_ood_the_test_split(setup):
    model, data, config = setup
    test_params = msd_draws(config)[2][1]
    result = id_vs_ood(model, data, test_params, batch_size=4)
    assert set(result) == {"id_mse", "id_mae", "ood_mse", "ood_mae", "bins"}
    id_se, _ = sequence_errors(model, data.val, data.context, 4, "cpu")
    ood_se, _ = sequence_errors(model, data.test, data.context, 4, "cpu")
    assert result["id_mse"] == pytest.approx(id_se.mean().item())
    assert result["ood_mse"] == pytest.approx(ood_se.mean().item())
    assert len(result["bins"]) == len(BINS) and sum(b["count"] for b in result["bins"]) == len(data.test)
    filled = [b for b in result["bins"] if b["count"]]
    assert sum(b["mse"] * b["count"] for b in filled) / len(data.test) == pytest.approx(result["ood_mse"])
    assert all(math.isnan(b["mse"]) for b in result["bins"] if not b["count"])
    table = markdown({"WARP": result, "GRU": result})
    assert table.count("\n") == 1 + 2 + len(BINS) and table.startswith("| split | WARP MSE | WARP MAE | GRU MSE |")


def test_parameters_must_match_the_test_split(setup):
    model, data, _ = setup
    with pytest.raises(ValueError, match="test_params"):
        id_vs_ood(model, data, torch.zeros(2, 3))
