"""In-context learning: WARP's state after a context, read out as a standalone regressor.

The ``icl`` data set (``datasets.icl``) holds sequences of tokens (x_i, w . x_i) with a fresh w per
sequence; the last token is the query, its value hidden. The root reads a key (``WarpConfig.key_channels``)
and theta is driven by the tokens alone, so after the context the state theta_T *is* a regressor:
``extract_root`` turns it into an ordinary MLP, queried on new keys of the same w. It is compared with
least squares on the same context tokens and with the context mean.

``run_icl`` trains WARP for D in {1, 2, 8} and writes the table; ``warprnn reproduce icl`` runs it.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from ..atomic import write_text
from ..data import synthetic
from ..model import WARP
from ..roots import MLPRoot, activation
from ..training import load_experiment, load_run, train
from ..training.config import CONFIG_DIR
from .report import mean_std

logger = logging.getLogger(__name__)

DIMS = (1, 2, 8)
NEW_KEYS = 64  # fresh keys per test sequence for the extracted root


class StandaloneRoot(nn.Module):
    """An ordinary MLP: ``nn.Linear`` layers with the root's activation between them.

    Args:
        layers: ``(weight (out, in), bias (out,))`` per layer, as ``MLPRoot.unflatten`` gives them.
        act: the hidden activation's name (``config.Activation``).
    """

    def __init__(self, layers: list[tuple[Tensor, Tensor]], act: str):
        super().__init__()
        self.layers = nn.ModuleList()
        for weight, bias in layers:
            linear = nn.Linear(weight.shape[1], weight.shape[0], dtype=weight.dtype, device=weight.device)
            with torch.no_grad():
                linear.weight.copy_(weight)
                linear.bias.copy_(bias)
            self.layers.append(linear)
        self.act = activation(act)

    def forward(self, inputs: Tensor) -> Tensor:
        """inputs: ``(..., in_features)`` -> ``(..., out_features)``."""
        h = inputs
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = self.act(h)
        return h


@torch.no_grad()
def extract_root(model: WARP, context: Tensor) -> StandaloneRoot:
    """The root network with the weights theta_T that WARP reaches at the end of ``context``.

    Args:
        model: a WARP with an MLP root. context: ``(T, C)`` one input sequence.

    Returns:
        a standalone MLP equal to ``model.root(theta_T, .)`` (raw outputs, before the head).
    """
    if not isinstance(model.root, MLPRoot):
        raise ValueError(f"model: extract_root needs an MLP root, got root={model.config.root!r}")
    if context.dim() != 2:
        raise ValueError(f"context: expected one sequence of shape (T, C), got shape {tuple(context.shape)}")
    theta = model(context.unsqueeze(0)).theta[0, -1]  # (D_theta,)
    return StandaloneRoot(model.root.unflatten(theta), model.config.root_activation)


def least_squares(keys: Tensor, values: Tensor, queries: Tensor) -> Tensor:
    """Ordinary least squares fitted per sequence, evaluated at the queries.

    The minimum-norm solution (LAPACK ``gelsd``), so that fewer tokens than D still give one answer.

    Args:
        keys: ``(n, M, D)``. values: ``(n, M)``. queries: ``(n, Q, D)``.

    Returns:
        predictions ``(n, Q)``.
    """
    w = torch.linalg.lstsq(keys.double(), values.double().unsqueeze(-1), driver="gelsd").solution  # (n, D, 1)
    return (queries.double() @ w).squeeze(-1).to(values.dtype)


def context_mean(values: Tensor, queries: Tensor) -> Tensor:
    """The mean predictor: the mean of the context values, for every query. values ``(n, M)`` -> ``(n, Q)``."""
    return values.mean(dim=1, keepdim=True).expand(-1, queries.shape[1])


@torch.no_grad()
def icl_errors(model: WARP, tokens: Tensor, weights: Tensor, generator: torch.Generator) -> dict[str, float]:
    """Mean squared errors on the query (and, for the extracted root, on new keys) of test sequences.

    Args:
        model: a trained WARP (``key_channels`` = D). tokens: ``(n, N, D + 1)``, the last one the query.
        weights: ``(n, D)`` each sequence's w. generator: draws ``NEW_KEYS`` new keys per sequence.

    Returns:
        ``warp``: WARP's own prediction of the query's value; ``extracted``: the root extracted after
        the context, on new keys of the same w; ``least_squares`` and ``mean``: on the query.
    """
    model.eval()
    inputs, _ = synthetic.icl_layout(tokens)
    D = weights.shape[1]
    keys, values = tokens[..., :D], tokens[..., D]
    context, query = (keys[:, :-1], values[:, :-1]), (keys[:, -1:], values[:, -1:])
    predicted = model(inputs).mean[:, -2, D : D + 1]  # the output at step N-2 predicts the query's value
    new_keys = torch.rand(len(tokens), NEW_KEYS, D, generator=generator) * 2 - 1
    new_values = torch.einsum("nqd,nd->nq", new_keys, weights)
    extracted = torch.stack(
        [model.mean(extract_root(model, inputs[i, :-1])(new_keys[i]))[:, D] for i in range(len(tokens))]
    )

    def mse(pred, truth):
        return ((pred - truth) ** 2).mean().item()

    return {
        "warp": mse(predicted, query[1]),
        "extracted": mse(extracted, new_values),
        "least_squares": mse(least_squares(*context, query[0]), query[1]),
        "mean": mse(context_mean(context[1], query[0]), query[1]),
    }


def train_and_score(scale: str, dim: int, seed: int, run_root: Path) -> dict[str, float]:
    """Trains ``configs/icl-SCALE.yaml`` for keys of dimension ``dim`` (data and training seeded by
    ``seed``) and scores its best checkpoint on the test split (``icl_errors``)."""
    overrides = [f"data.dim={dim}", f"data.seed={seed}", f"train.seed={seed}", f"train.out_dir={run_root}"]
    config = load_experiment(f"icl-{scale}", overrides)
    result = train(config)
    if result.status != "finished":
        raise RuntimeError(f"icl D={dim} seed={seed}: training stopped ({result.status}) in {result.run_dir}")
    _, _, model, _ = load_run(result.run_dir)
    tokens, weights = synthetic.icl_tokens(config.data)[2]
    return icl_errors(model.cpu(), tokens, weights, torch.Generator().manual_seed(seed))


def table(results: dict[int, list[dict[str, float]]]) -> list[str]:
    """Markdown rows: mean ± std over seeds of each error (``report.mean_std``), for each D."""
    rows = [
        "| D | WARP (query) | extracted root (new keys) | least squares (query) | context mean (query) |",
        "|---|---|---|---|---|",
    ]
    for dim, runs in results.items():
        cells = [mean_std([run[k] for run in runs]) for k in ("warp", "extracted", "least_squares", "mean")]
        rows.append(f"| {dim} | " + " | ".join(cells) + " |")
    return rows


def run_icl(scale: str, seeds: int, out: Path, overrides: list[str] = ()) -> Path:
    """The ICL experiment: trains WARP on ``icl`` for D in {1, 2, 8} and ``seeds`` seeds, writes
    ``out/icl-SCALE.md`` (test mean squared errors, mean ± std over seeds) and returns its path.

    Args:
        scale: ``cpu`` (minutes on one thread) or ``paper`` (the authors' sizes), i.e. ``configs/icl-SCALE.yaml``.
        seeds: runs per D, seeded 0, 1, ...; each seeds the data and the training. out: output folder.
        overrides: none are taken (the experiment sets its own).
    """
    if overrides:
        raise ValueError(f"reproduce icl: takes no overrides, got {list(overrides)}")
    if not (CONFIG_DIR / f"icl-{scale}.yaml").is_file():
        raise ValueError(f"scale: expected 'cpu' or 'paper', got {scale!r}")
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds: expected an integer >= 1, got {seeds!r}")
    began, results = time.time(), {}
    with tempfile.TemporaryDirectory() as run_root:
        for dim in DIMS:
            results[dim] = [train_and_score(scale, dim, seed, Path(run_root)) for seed in range(seeds)]
            logger.info("icl D=%d: %s", dim, results[dim])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"icl-{scale}.md"
    write_text(path, "\n".join(report(scale, seeds, out, results, time.time() - began)) + "\n")
    return path


def report(scale: str, seeds: int, out: Path, results: dict, seconds: float) -> list[str]:
    """The lines of ``icl-SCALE.md``."""
    return [
        f"# In-context linear regression ({scale} scale)",
        "",
        f"Command: `warprnn reproduce icl --scale {scale} --seeds {seeds} --out {out}` "
        f"({seconds / 60:.1f} min, {torch.get_num_threads()} thread(s)).",
        "",
        f"Config `src/warprnn/configs/icl-{scale}.yaml`, for each D with `data.dim=D`; seeds 0..{seeds - 1} seed "
        "both the data and the training. Sequences of 32 tokens (x_i, w . x_i), x_i and w ~ U(-1, 1)^D, a fresh w "
        "per sequence; the last token is the query, its value hidden from the input. Test-split mean squared "
        "errors (best validation checkpoint), mean ± std over seeds:",
        "",
        *table(results),
        "",
        "- WARP (query): the model's own prediction of the query's value, from the 31 context tokens.",
        f"- extracted root (new keys): theta after the 31 context tokens, extracted as a standalone MLP "
        f"(`warprnn.experiments.icl.extract_root`) and queried on {NEW_KEYS} fresh keys of the same w per sequence.",
        "- least squares (query): ordinary least squares fitted on the same 31 context tokens (minimum-norm "
        "solution, LAPACK gelsd; with 31 > D noise-free tokens it recovers w up to rounding).",
        "- context mean (query): the mean of the 31 context values.",
        "",
        "Tuning: none; WARP trains at its config's learning rates, the only trained model here (the references "
        "are computed in closed form), and no choice was made on a test figure.",
    ]
