"""Training: the loop and its run folders, evaluation, metrics and figures.

- ``config.py``: ``OptimConfig``, ``TrainConfig`` and ``ExperimentConfig`` (every section composed),
  YAML files and overrides.
- ``build.py``: the device, model and optimiser an experiment builds.
- ``optimizers.py``: the authors' optimiser (AdaBelief, element-wise clipping, optax's reduce-on-plateau).
- ``loop.py``: ``train``, the training loop.
- ``rundir.py``: a run folder's files, written atomically.
- ``runs.py``: a finished run: test metrics, figures, loading it back, forecasting from it.
- ``evaluation.py``: losses and evaluation; ``metrics.py``: the metrics; ``plots.py``: the figures.
"""

from .config import ExperimentConfig, OptimConfig, TrainConfig, load_experiment
from .loop import RunResult, train
from .runs import RunEnding, evaluate_run, load_run, predict_run, run_ending

__all__ = [
    "ExperimentConfig",
    "OptimConfig",
    "TrainConfig",
    "load_experiment",
    "RunResult",
    "train",
    "evaluate_run",
    "load_run",
    "RunEnding",
    "run_ending",
    "predict_run",
]
