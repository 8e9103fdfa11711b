"""warprnn: Weight-space Adaptive Recurrent Prediction (WARP) in PyTorch.

Nzoyem et al., "Weight-Space Linear Recurrent Neural Networks", ICLR 2026 (arXiv 2506.01153).
"""

from .baselines import build_model
from .config import WarpConfig
from .model import WARP, WarpOutput, WarpState
from .roots import MLPRoot, MSDMomentsRoot, MSDRoot, Root, SineRoot

__version__ = "0.1.0"

__all__ = ["WARP", "WarpConfig", "build_model", "WarpOutput", "WarpState", "Root", "MLPRoot", "SineRoot", "MSDRoot", "MSDMomentsRoot",
           "__version__"]
