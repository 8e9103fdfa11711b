"""Instance normalisation (``warp.instance_norm``) and context-fed autoregressive training
(``train.feed_context``): every model against the plain model run on the normalised data by hand."""

import dataclasses

import pytest
import torch

from conftest import TINY
from warprnn import WARP, WarpConfig
from warprnn.baselines import MODELS, build_model
from warprnn.data import build_dataset
from warprnn.errors import ConfigError, InputError
from warprnn.instance_norm import EPS, statistics
from warprnn.training import build, load_experiment, train

K = 5  # norm_steps


def pair(name, kind, head="point"):
    """A float64 model with instance normalisation and the same model without it (the same weights)."""
    config = WarpConfig(in_channels=2, root_width=6, head=head, instance_norm=kind, norm_steps=K)
    torch.manual_seed(0)
    normed = build_model(name, config, dtype=torch.float64)
    if name == "warp":
        with torch.no_grad():
            normed.B.normal_(std=0.1)
    plain = build_model(name, dataclasses.replace(config, instance_norm="none"), dtype=torch.float64)
    plain.load_state_dict(normed.state_dict())
    return normed, plain


def reference_statistics(x, lengths, kind):
    """Mean and population std of each sequence's first min(K, length) steps, one sequence at a time."""
    loc, scale = (
        torch.zeros(x.shape[0], 1, x.shape[2], dtype=x.dtype),
        torch.ones(x.shape[0], 1, x.shape[2], dtype=x.dtype),
    )
    for i, n in enumerate(lengths.tolist()):
        part = x[i, : min(K, n)]
        loc[i, 0] = part.mean(0)
        if kind == "scale":
            scale[i, 0] = (part.var(0, unbiased=False) + EPS).sqrt()
    return loc, scale


@pytest.mark.parametrize("kind", ["shift", "scale"])
def test_statistics_read_the_first_steps_of_each_sequence(kind):
    x = torch.randn(3, 9, 2, dtype=torch.float64) * 4 + 7
    lengths = torch.tensor([9, 3, 6])
    x[1, 3:] = 0.0
    x[2, 6:] = 0.0
    for got, expected in zip(statistics(x, lengths, K, kind), reference_statistics(x, lengths, kind)):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("kind", ["shift", "scale"])
@pytest.mark.parametrize("head", ["point", "gaussian"])
def test_every_model_forecasts_the_normalised_sequence_and_maps_it_back(name, kind, head):
    normed, plain = pair(name, kind, head)
    x = torch.randn(3, 12, 2, dtype=torch.float64) * 3 + 5  # far from the scale the models start at
    lengths = torch.tensor([12, 12, 9])
    x[2, 9:] = 0.0
    loc, scale = reference_statistics(x, lengths, kind)
    valid = (torch.arange(12) < lengths[:, None]).unsqueeze(-1)
    for kwargs in ({}, {"context": K}):  # teacher-forced, and autoregressive after the context
        got = normed(x, lengths, **kwargs)
        inner = plain(((x - loc) / scale).masked_fill(~valid, 0.0), lengths, **kwargs)
        expected_mean = (inner.mean * scale + loc).masked_fill(~valid, 0.0)
        torch.testing.assert_close(got.mean, expected_mean, rtol=0, atol=1e-10)
        if head == "gaussian":
            torch.testing.assert_close(got.std, inner.std * scale, rtol=0, atol=1e-10)
        torch.testing.assert_close(got.theta, inner.theta, rtol=0, atol=1e-10)


def test_a_shifted_and_scaled_input_gives_the_same_forecast_shifted_and_scaled():
    normed, _ = pair("warp", "shift")
    x = torch.randn(2, 10, 2, dtype=torch.float64)
    torch.testing.assert_close(normed(x + 3.0, context=K).mean, normed(x, context=K).mean + 3.0, rtol=0, atol=1e-10)


def test_the_options_refuse_what_they_cannot_do():
    with pytest.raises(ConfigError, match="instance_norm: rescales forecasts"):
        WarpConfig(head="classification", num_classes=3, instance_norm="scale")
    with pytest.raises(ConfigError, match="instance_norm: rescales forecasts"):
        WarpConfig(root="sine", instance_norm="shift")
    with pytest.raises(ConfigError, match="norm_steps: instance_norm needs"):
        WARP(WarpConfig(instance_norm="shift"))
    with pytest.raises(ConfigError, match="instance_norm"):
        WarpConfig(instance_norm="robust")
    for name in MODELS:
        normed, _ = pair(name, "scale")
        with pytest.raises(InputError, match="init_state: instance_norm"):
            normed.init_state(2, 10)


def test_the_harness_normalises_by_the_data_context(tmp_path):
    config = load_experiment("configs/msd-small.yaml", TINY + [f"train.out_dir={tmp_path}", "warp.instance_norm=scale"])
    data = build_dataset(config.data)
    assert build.build_model(config, data, torch.device("cpu")).norm_steps == data.context == 4
    assert train(config, data=data).status == "finished"


@pytest.mark.parametrize("feed, expected", [(True, 4), (False, None)])
def test_feed_context_feeds_the_data_context_in_autoregressive_training(tmp_path, monkeypatch, feed, expected):
    contexts = []
    real = WARP.forward

    def recording(self, x, lengths=None, **kwargs):
        if self.training:
            contexts.append(kwargs.get("context"))
        return real(self, x, lengths, **kwargs)

    monkeypatch.setattr(WARP, "forward", recording)
    extra = ["train.autoregressive=true", "train.teacher_forcing=0.2", f"train.feed_context={str(feed).lower()}"]
    train(load_experiment("configs/msd-small.yaml", TINY + [f"train.out_dir={tmp_path}", "train.epochs=1", *extra]))
    assert contexts and set(contexts) == {expected}
    with pytest.raises(ConfigError, match="train.feed_context: only for autoregressive training"):
        load_experiment("configs/msd-small.yaml", ["train.feed_context=true", "train.autoregressive=false"])
