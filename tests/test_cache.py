"""The on-disk cache of generated synthetic data sets."""

import torch

from warprnn.data import DataConfig, build_dataset, cache


def tiny(**options) -> DataConfig:
    return DataConfig(**{"name": "lv-copy", "num_train": 4, "num_val": 2, "num_test": 2, "seq_len": 96} | options)


def test_a_cache_hit_returns_the_generated_tensors(tmp_path):
    config = tiny(root=str(tmp_path))
    first = build_dataset(config)
    path = cache.cache_path(config)
    assert path.is_file() and path.parent == tmp_path / "synthetic"
    again = build_dataset(config)
    for a, b in zip((first.train, first.val, first.test), (again.train, again.val, again.test)):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.lengths, b.lengths)
    assert (again.task, again.context, again.channel_names) == (first.task, first.context, first.channel_names)
    assert not list(path.parent.glob("*.tmp"))


def test_a_scaled_set_keeps_its_scaler(tmp_path):
    config = DataConfig(name="msd-small", num_train=4, num_val=2, num_test=2, root=str(tmp_path))
    first, again = build_dataset(config), build_dataset(config)
    assert torch.equal(first.scaler.mean, again.scaler.mean) and torch.equal(first.scaler.std, again.scaler.std)


def test_the_key_follows_the_generation_options(tmp_path, monkeypatch):
    monkeypatch.setenv("WARPRNN_DATA", str(tmp_path))
    build_dataset(tiny(seed=0))
    build_dataset(tiny(seed=1))
    assert cache.cache_path(tiny(seed=0)) != cache.cache_path(tiny(seed=1))
    assert len(list((tmp_path / "synthetic").glob("lv-copy-*.pt"))) == 2
    assert cache.cache_path(tiny(scaling="minmax")) == cache.cache_path(tiny())
    assert not torch.equal(build_dataset(tiny(seed=0)).train.x, build_dataset(tiny(seed=1)).train.x)
