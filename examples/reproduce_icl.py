"""Reproduce a paper experiment at CPU scale: in-context regression

The paper's in-context learning task (Sec. 4): each sequence is 32 tokens `(x_i, w . x_i)` with a fresh
`w`; after the context, WARP's state theta *is* a regressor, which `extract_root` turns into an ordinary
`torch.nn` MLP and queries on new keys. This runs the shipped `icl-cpu` config for keys of dimension 1,
shortened to 6 epochs, and scores it as `warprnn reproduce icl` does (`icl_errors`): WARP on the query,
the extracted root on new keys, least squares and the context mean. The full experiment (D = 1, 2, 8,
3 seeds, about 8 minutes) is `warprnn reproduce icl --scale cpu --seeds 3`; its report is
`docs/results/icl-cpu.md`.
"""

import tempfile

import torch

from warprnn.data import synthetic
from warprnn.experiments.icl import extract_root, icl_errors
from warprnn.training import load_experiment, load_run, train

with tempfile.TemporaryDirectory() as runs:
    config = load_experiment("icl-cpu", ["data.dim=1", "train.epochs=6", f"train.out_dir={runs}"])
    print(
        f"icl-cpu: {config.data.num_train} training sequences, root {config.warp.root_width} x {config.warp.root_depth}"
    )
    result = train(config)  # a run folder, as `warprnn train icl-cpu` writes
    print(f"trained: {result.status}, stopped by {result.stopped_by}, {result.parameters} parameters")
    _, _, model, _ = load_run(result.run_dir)

tokens, weights = synthetic.icl_tokens(config.data)[2]  # the test split: (n, 32, 2) tokens, (n, 1) w
errors = icl_errors(model.cpu(), tokens, weights, torch.Generator().manual_seed(0))
print("\ntest mean squared errors, keys of dimension 1:")
for name, words in [
    ("warp", "WARP, on the query"),
    ("extracted", "the extracted root, on 64 new keys"),
    ("least_squares", "least squares on the context"),
    ("mean", "the context's mean value"),
]:
    print(f"  {words:38s} {errors[name]:.4f}")

inputs, _ = synthetic.icl_layout(tokens[:1])
root = extract_root(model.cpu(), inputs[0, :-1])  # theta after the first sequence's context, as an MLP
print(f"\nthe state as a network: {root}")
keys = torch.tensor([[-0.5], [0.0], [0.5]])
with torch.no_grad():
    predicted = model.mean(root(keys))[:, 1]  # the value channel, after the key's
print(f"that sequence's w = {weights[0, 0]:.3f}; at keys -0.5, 0, 0.5:")
print(f"  the network predicts {', '.join(f'{v:.3f}' for v in predicted)}")
print(f"  w . x is            {', '.join(f'{v:.3f}' for v in keys[:, 0] * weights[0, 0])}")
