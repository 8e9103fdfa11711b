"""The Transformer baseline's key-value cache against re-encoding the fed prefix at every step.

    python benchmarks/transformer_cache.py            # MSD's shapes (msd-cpu): 32 sequences, 100 + 156 steps
    python benchmarks/transformer_cache.py --quick    # tiny sizes, a smoke run

Times an autoregressive forecast (no gradients) and an autoregressive training batch (forward and
backward, teacher forcing 0.25) of the Transformer parameter-matched to msd-cpu's WARP, once with the
model's own path (``forward(x, context=...)``: the cache) and once with the reference (the fed sequence
re-encoded by ``forward`` at every step, the cost of streaming without a cache; ``test_baselines.py``
checks that both agree), on one thread. The reference's training batch is timed once: tens of seconds.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

from conv_floor import best_of  # noqa: E402
from warprnn.baselines.transformer import reference_forecast  # noqa: E402
from warprnn.data import build_dataset  # noqa: E402
from warprnn.training import load_experiment  # noqa: E402
from warprnn.training.build import build_model  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    small = ["data.num_train=8", "data.num_val=8", "data.num_test=8", "model=transformer"]
    config = load_experiment("msd-cpu", small + (["data.seq_len=12", "data.context=4"] if args.quick else []))
    data = build_dataset(config.data)
    model = build_model(config, data, "cpu")
    batch, T, context = 2 if args.quick else 32, data.train.x.shape[1], data.context
    x = torch.randn(batch, T, model.config.in_channels)
    repeats = 1 if args.quick else 3

    def train_batch(run):
        model.zero_grad()
        run().square().mean().backward()

    def cached_train():
        return model(x, context=context, teacher_forcing=0.25, generator=torch.Generator().manual_seed(0)).mean

    with torch.no_grad():
        forecast = [
            best_of(lambda: reference_forecast(model, x, context), repeats),
            best_of(lambda: model(x, context=context), repeats),
        ]
    reference = best_of(
        lambda: train_batch(lambda: reference_forecast(model, x, context)), 1
    )  # tens of seconds at full size
    training = [reference, best_of(lambda: train_batch(cached_train), repeats)]
    steps = batch * (T - context)
    print(
        f"Transformer, {sum(p.numel() for p in model.parameters()):,} parameters, batch {batch}, {context} + {T - context} steps, 1 thread"
    )
    print(f"{'':28}{'re-encoding':>12}{'cache':>10}{'ratio':>8}{'steps/s (cache)':>17}")
    for name, (slow, fast) in (("forecast", forecast), ("autoregressive training", training)):
        print(f"{name:28}{slow:>10.3f} s{fast:>8.3f} s{slow / fast:>7.1f}x{steps / fast:>17,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
