"""Estimators in the style of scikit-learn and aeon: ``WARPClassifier`` and ``WARPForecaster``.

Each ``fit`` is one run of the training harness (``warprnn.training.train``, on the arrays given, through
its ``data`` argument), so the estimators train exactly as ``warprnn train`` does: the same defaults,
device, seed, epochs and checkpoints. They follow scikit-learn's conventions (``get_params`` /
``set_params``, ``clone``, ``Pipeline``, ``cross_val_score``) and pass its ``check_estimator`` but for the
checks listed in ``tests/test_estimators.py``. They need scikit-learn: ``pip install "warprnn[sklearn]"``
(aeon itself is not needed: its layouts are plain NumPy arrays and lists).

Layouts:
    WARPClassifier: X of shape ``(n_cases, n_channels, n_timepoints)`` (aeon's), ``(n_cases,
        n_timepoints)`` (univariate), or a list of ``(n_channels, n_timepoints_i)`` arrays of unequal
        lengths (aeon's); NaN marks a missing value (filled as in the UEA sets). y: one label per case.
    WARPForecaster: X of shape ``(n_timepoints, n_channels)``: one series, rows in time order (a CSV's
        layout; a univariate series is ``series.reshape(-1, 1)``).

Options (both): ``config``, a shipped experiment's name or a YAML file (None: the harness defaults), and
``overrides``, ``SECTION.KEY=VALUE`` words as on the command line (``["train.epochs=5"]``). The estimator
sets ``data.name`` to ``array`` (arrays in memory) and, for the classifier, the classification head, loss
and metric before the overrides. The best checkpoint is picked on the training data (nothing is held out;
a run folder's test metrics are those of its validation cases, the training cases again).

Run folders: with ``out_dir`` None (default) each fit runs in a temporary folder, deleted once the best
model is loaded (it stays in memory, ``model_``); with ``out_dir`` the run folders are kept there and
``run_dir_`` names the latest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile

import numpy as np
import torch

from .data import DataCard, SequenceData
from .data.benchmarks import case_data, fit_scaler, subsample, windows
from .training import ExperimentConfig, load_experiment, train
from .training.build import resolve_device
from .training.runs import best_model, classify, forecast_after

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d, validate_data
except ImportError:
    raise ImportError("warprnn.estimators needs scikit-learn: pip install 'warprnn[sklearn]'") from None

CLASSIFICATION = ("warp.head=classification", "train.loss=ce", "train.metric=val_accuracy")


class WARPEstimator(BaseEstimator):
    """What both estimators share: the experiment of their options, and one harness run on a data set."""

    def experiment(self, task_words: tuple[str, ...] = (), **data_fields) -> ExperimentConfig:
        """The experiment of ``config`` and ``overrides`` (after ``task_words``), its data section set to
        arrays in memory (``data_fields`` recorded there)."""
        config = load_experiment(self.config, [*task_words, *self.overrides])
        return dataclasses.replace(config, data=dataclasses.replace(config.data, name="array", **data_fields))

    def fit_data(self, config: ExperimentConfig, data: SequenceData) -> None:
        """Trains ``config`` on ``data`` with the harness; sets ``model_`` (its best checkpoint), ``card_``
        (``data``'s ``DataCard``: scaler, channels, classes, length, as a run folder keeps it), ``device_``
        and ``run_dir_``."""
        folder = tempfile.TemporaryDirectory(prefix="warprnn-") if self.out_dir is None else None
        with folder or contextlib.nullcontext():
            out_dir = folder.name if folder else str(self.out_dir)
            kept = dict(out_dir=out_dir, plots=config.train.plots and folder is None)
            config = dataclasses.replace(config, train=dataclasses.replace(config.train, **kept))
            result = train(config, data=data)
            if result.status != "finished":
                raise ValueError(f"{type(self).__name__}: training stopped, the loss became NaN or infinite")
            self.device_ = resolve_device(config.train.device)
            self.model_ = best_model(result.run_dir, config, data, self.device_)
        self.card_ = DataCard.of(data)
        self.run_dir_ = None if folder else result.run_dir


class WARPClassifier(ClassifierMixin, WARPEstimator):
    """WARP classifying time series (see the module for layouts, options and run folders).

    Attributes (after ``fit``): classes_ ``(n_classes,)``; n_features_in_ (channels for 3-D X, time
    points for 2-D X); model_, card_, device_, run_dir_ (``WARPEstimator.fit_data``).
    """

    def __init__(self, config=None, overrides=(), out_dir=None):
        self.config = config
        self.overrides = overrides
        self.out_dir = out_dir

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are filled, as in the UEA sets
        tags.input_tags.three_d_array = True
        return tags

    def fit(self, X, y) -> WARPClassifier:
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        cases = self.cases(X, reset=True)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if len(y) != len(cases):
            raise ValueError(f"y has {len(y)} labels, but X has {len(cases)} cases: give one label per case")
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y has 1 class ({self.classes_[0]!r}); a classifier needs cases of 2 classes or more")
        config = self.experiment(CLASSIFICATION)
        every = torch.arange(len(cases))
        names = tuple(str(c) for c in self.classes_)
        generator = torch.Generator().manual_seed(config.data.seed)
        self.fit_data(config, case_data(cases, torch.as_tensor(codes), names, [every] * 3, config.data, generator, "X"))
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_cases, n_classes)``, columns in the order of ``classes_``."""
        check_is_fitted(self)
        return classify(self.model_, self.card_, self.cases(X, reset=False), self.device_).double().numpy()

    def predict(self, X) -> np.ndarray:
        """The most probable class of each case ``(n_cases,)``."""
        check_is_fitted(self)
        return self.classes_[self.predict_proba(X).argmax(1)]

    def cases(self, X, reset: bool) -> list[np.ndarray]:
        """X as a list of cases ``(n_timepoints_i, n_channels)``, float64, NaN where missing."""
        if isinstance(X, (list, tuple)) and len(X) > 0 and np.ndim(X[0]) == 2:
            cases = [check_array(case, ensure_all_finite="allow-nan", dtype=np.float64).T for case in X]
        else:
            X = validate_data(self, X, reset=reset, allow_nd=True, ensure_all_finite="allow-nan", dtype=np.float64)
            if X.ndim > 3:
                raise ValueError(f"X: expected (n_cases, n_channels, n_timepoints), got shape {X.shape}")
            cases = list((X[:, None, :] if X.ndim == 2 else X).transpose(0, 2, 1))
        shortest = min(len(case) for case in cases)
        if shortest < 2:
            raise ValueError(
                f"X has a case of {shortest} time point(s), {shortest} feature(s) of a 2-D X; WARP needs 2"
            )
        return cases


class WARPForecaster(WARPEstimator):
    """WARP forecasting a series ``horizon`` steps ahead (see the module for layout, options, run folders).

    ``fit`` trains on every window of ``context`` + ``horizon`` steps of the series (sliding by one step;
    the scaler, ``data.scaling``, fitted on the whole series; ``data.num_train`` etc. keep a random
    subset, as for the data sets); ``predict`` forecasts the ``horizon`` steps
    after the last ``context`` steps of the series it is given.

    Attributes (after ``fit``): n_features_in_ (channels); model_, card_, device_, run_dir_
    (``WARPEstimator.fit_data``).
    """

    def __init__(self, context=96, horizon=96, config=None, overrides=(), out_dir=None):
        self.context = context
        self.horizon = horizon
        self.config = config
        self.overrides = overrides
        self.out_dir = out_dir

    def fit(self, X, y=None) -> WARPForecaster:
        """Fits on the series X ``(n_timepoints, n_channels)``; y is ignored."""
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=self.context + self.horizon)
        config = self.experiment(context=self.context, horizon=self.horizon)
        scaler = fit_scaler(X, config.data.scaling, "X")
        split = windows(scaler.transform(torch.tensor(X, dtype=torch.float32)), self.context + self.horizon)
        channels = tuple(f"dim{c}" for c in range(X.shape[1]))
        train, val = subsample([split, split], config.data, torch.Generator().manual_seed(config.data.seed))
        data = SequenceData(
            train, val, val, task="forecast", context=self.context, scaler=scaler, channel_names=channels
        )
        self.fit_data(config, data)
        return self

    def predict(self, X) -> np.ndarray:
        """The ``(horizon, n_channels)`` steps after the series X ``(n_timepoints >= context, n_channels)``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64, ensure_min_samples=self.context)
        context = torch.tensor(X[-self.context :], dtype=torch.float32)
        return forecast_after(self.model_, self.card_, context, self.horizon, self.device_)[0].double().numpy()
