"""Synthetic data sets: sizes, shapes, parameter ranges, and the dynamics against independent solves."""

import math

import pytest
import torch

from test_roots import rk4_damped_oscillator
from warprnn.data import DataConfig, build_dataset, synthetic


def test_msd_matches_high_accuracy_ode_solve():
    gen = torch.Generator().manual_seed(1)
    states, params = synthetic.mass_spring_damper(
        8, 256, m=(0.01, 0.05), k=(2, 18), c=(0.01, 0.3), generator=gen, x0_jitter=0.5
    )
    m, k, c = params.T
    x0, v0 = states[:, 0, 0].double(), states[:, 0, 1].double()
    truth = rk4_damped_oscillator(m, k, c, x0, v0, torch.linspace(0, 1, 256, dtype=torch.float64), substeps=100)
    torch.testing.assert_close(states.double(), truth.permute(1, 2, 0), rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_lotka_volterra_converged():
    """20 RK4 substeps per saved step agree with 100 to float32 resolution."""
    runs = [
        synthetic.lotka_volterra(
            16, 256, ad=(10, 60), bc=(70, 130), generator=torch.Generator().manual_seed(0), substeps=s
        )[0]
        for s in (20, 100)
    ]
    torch.testing.assert_close(runs[0], runs[1], rtol=1e-6, atol=1e-6)
    x, y = runs[1][..., 0], runs[1][..., 1]
    assert (x > 0).all() and (y > 0).all() and (x[:, 0] == 1).all()


def test_repeat_copy_by_hand():
    trajectory = torch.arange(1.0, 11.0).view(1, 10, 1)  # 1, 2, ..., 10
    inputs, targets = synthetic.repeat_copy(trajectory, torch.tensor([3]), gap=2)
    assert inputs.flatten().tolist() == [1, 2, 3, 0, 0, 0, 0, 0, 0, 0]
    assert targets.flatten().tolist() == [1, 2, 3, 0, 0, 1, 2, 3, 0, 0]


@pytest.mark.parametrize(
    "name, sizes, shape, task",
    [
        ("msd", (20480, 2048, 4096), (256, 2), "forecast"),
        ("msd-zero", (8192, 1024, 2048), (256, 2), "forecast"),
        ("sine", (10000, 1000, 1000), (16, 1), "forecast"),
        ("spirals", (1024, 256, 256), (64, 2), "classification"),
    ],
)
def test_default_sizes_and_shapes(name, sizes, shape, task):
    data = build_dataset(DataConfig(name=name))
    assert (len(data.train), len(data.val), len(data.test)) == sizes
    assert data.train.x.shape[1:] == shape and data.task == task
    assert all(torch.isfinite(s.x).all() for s in (data.train, data.val, data.test))


def test_msd_ranges_and_out_of_distribution_test():
    gen = torch.Generator().manual_seed(0)
    _, train = synthetic.mass_spring_damper(4000, 8, m=(0.02, 0.04), k=(4, 16), c=(0.01, 0.2), generator=gen)
    _, test = synthetic.mass_spring_damper(4000, 8, m=(0.01, 0.05), k=(2, 18), c=(0.01, 0.3), generator=gen)
    for params, ranges in ((train, [(0.02, 0.04), (4, 16), (0.01, 0.2)]), (test, [(0.01, 0.05), (2, 18), (0.01, 0.3)])):
        for column, (low, high) in zip(params.T, ranges):
            assert low <= column.min() and column.max() <= high
            assert column.min() < low + 0.01 * (high - low) and column.max() > high - 0.01 * (high - low)
    data = build_dataset(DataConfig(name="msd", num_train=64, num_val=16, num_test=16))
    assert data.context == 100 and data.scaler is None
    assert torch.all(data.train.x[:, 0] == torch.tensor([1.0, 0.0]))  # x0 = 1, v0 = 0
    zero = build_dataset(DataConfig(name="msd-zero", num_train=256, num_val=16, num_test=16))
    start = zero.train.x[:, 0]
    assert ((start - torch.tensor([1.0, 0.0])).abs() <= 0.5).all() and start.std(0).min() > 0.2


def test_lv_copy_task():
    data = build_dataset(DataConfig(name="lv-copy", num_train=200, num_val=20, num_test=40))
    assert data.task == "sequence" and data.train.x.shape == (200, 256, 2)
    assert data.train.y.abs().max() <= 1 + 1e-6 and data.train.x.min() >= -1 - 1e-6
    for split in (data.train, data.test):
        zero_from = (split.x.abs().sum(-1) == 0).int().argmax(1)  # the cut r: inputs are zero from it on
        assert zero_from.min() >= 32 and zero_from.max() <= 63
        for i in range(3):
            r = int(zero_from[i])
            torch.testing.assert_close(split.y[i, :r], split.x[i, :r])  # the first copy
            assert torch.all(split.y[i, r : r + 50] == 0)  # the gap
            torch.testing.assert_close(split.y[i, r + 50 : 2 * r + 50], split.x[i, :r])  # the second copy


def test_sine_nested_training_sets_and_phase_range():
    small, large = (build_dataset(DataConfig(name="sine", num_train=n)) for n in (10, 100))
    torch.testing.assert_close(large.train.x[:10], small.train.x)  # nested
    torch.testing.assert_close(small.test.x, large.test.x)  # the same test set
    t = torch.linspace(0, 1, 16)
    phase = torch.asin(large.train.x[:, 0, 0])
    assert phase.abs().max() <= math.pi / 6 + 1e-5
    torch.testing.assert_close(large.train.x[..., 0], torch.sin(2 * math.pi * t + phase[:, None]), atol=1e-5, rtol=0)


def test_spirals_labels_are_the_turning_direction():
    points, labels = synthetic.spiral_points(200, 64, torch.Generator().manual_seed(0), noise=0.0)
    cross = points[:, :-1, 0] * points[:, 1:, 1] - points[:, :-1, 1] * points[:, 1:, 0]  # z of p_t x p_{t+1}
    assert torch.equal((cross.mean(1) < 0).long(), labels) and 0.3 < labels.float().mean() < 0.7


def test_generators_are_seeded():
    a, b, c = (build_dataset(DataConfig(name="msd", num_train=8, num_val=8, num_test=8, seed=s)) for s in (0, 0, 1))
    assert torch.equal(a.train.x, b.train.x) and not torch.equal(a.train.x, c.train.x)
