"""warprnn: Weight-space Adaptive Recurrent Prediction (WARP) in PyTorch.

Nzoyem et al., "Weight-Space Linear Recurrent Neural Networks", ICLR 2026 (arXiv 2506.01153).

The package is layered; a module imports only from its own layer and the layers below it (checked by
``lint-imports``, contracts in ``pyproject.toml``):

    cli                       the ``warprnn`` command
    experiments/              the paper's experiments and their reports
    training/                 the training loop, run folders, evaluation, metrics, figures
    data/                     data sets: synthetic, real benchmarks, files, cache
    baselines/                GRU, LSTM, Transformer, S4D with WARP's heads
    core (this folder)        the model, the recurrence and its modes, roots, heads, input checks
"""

from .baselines import build_model
from .config import WarpConfig
from .heads import WarpOutput
from .model import WARP, WarpState
from .physics import MSDMomentsRoot, MSDOscillatorRoot, MSDRoot, SineRoot
from .roots import MLPRoot, Root

__version__ = "0.2.0"

__all__ = [
    "WARP",
    "WarpConfig",
    "build_model",
    "WarpOutput",
    "WarpState",
    "Root",
    "MLPRoot",
    "SineRoot",
    "MSDRoot",
    "MSDMomentsRoot",
    "MSDOscillatorRoot",
    "__version__",
]
