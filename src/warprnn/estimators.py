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
        layout), or ``(n_timepoints,)`` for a univariate one (its forecasts are then 1-D too).

Options (both): ``config``, a shipped experiment's name or a YAML file (None: the harness defaults, made
small, ``SMALL_DEFAULTS``); the
settings users change most as parameters, each None to keep the config's: ``max_epochs``
(``train.epochs``), ``time_budget`` (minutes, ``train.time_budget``), ``batch_size``, ``lr``
(``optim.lr``), ``random_state`` (``train.seed`` and ``data.seed``); ``verbose`` (0: silent; 1: a line per
epoch on stderr); and ``overrides``, ``SECTION.KEY=VALUE`` words as on the command line
(``["warp.root_width=16"]``) for the rest, applied last. The estimator sets ``data.name`` to ``array``
(arrays in memory) and, for the classifier, the classification head, loss and metric, with the logits
averaged over the steps (``warp.class_pool=mean``: a class read from the whole series, not its last
step, which is what lets the defaults learn). The best checkpoint is picked on the training data (nothing is held out;
a run folder's test metrics are those of its validation cases, the training cases again).

Run folders: with ``out_dir`` None (default) each fit runs in a temporary folder, deleted once the best
model is loaded (it stays in memory, ``model_``); with ``out_dir`` the run folders are kept there and
``run_dir_`` names the latest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile

import numpy as np
import torch

from .data import DataCard, SequenceData
from .data.benchmarks import case_data, fit_scaler, subsample, windows
from .training import ExperimentConfig, load_experiment, train
from .training.build import resolve_device
from .training.runs import best_model, classify, forecast_distribution

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d, validate_data
except ImportError:
    raise ImportError("warprnn.estimators needs scikit-learn: pip install 'warprnn[sklearn]'") from None

CLASSIFICATION = ("warp.head=classification", "warp.class_pool=mean", "train.loss=ce", "train.metric=val_accuracy")
SMALL_DEFAULTS = ("warp.root_width=16", "warp.root_depth=1", "train.batch_size=16", "train.epochs=30")
"""With ``config`` None: the harness defaults made small enough to fit in seconds (a 16 x 1 root, D_theta
about 50 to 100 rather than the default 32 x 2's 1,100; batch 16; 30 epochs): ``WARPClassifier()`` fits
200 noisy ramps of 32 steps in about 25 CPU-seconds and classifies new ones without error."""
PARAMETERS = {  # a parameter of the estimators: the overrides it stands for
    "max_epochs": ("train.epochs",),
    "time_budget": ("train.time_budget",),
    "batch_size": ("train.batch_size",),
    "lr": ("optim.lr",),
    "random_state": ("train.seed", "data.seed"),
}


class WARPEstimator(BaseEstimator):
    """What both estimators share: the experiment of their options, and one harness run on a data set."""

    def __init__(
        self,
        config=None,
        overrides=(),
        out_dir=None,
        *,
        max_epochs=None,
        time_budget=None,
        batch_size=None,
        lr=None,
        random_state=None,
        verbose=0,
    ):
        self.config = config
        self.overrides = overrides
        self.out_dir = out_dir
        self.max_epochs = max_epochs
        self.time_budget = time_budget
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state
        self.verbose = verbose

    def experiment(self, task_words: tuple[str, ...] = (), **data_fields) -> ExperimentConfig:
        """The experiment of ``config``, ``task_words``, the parameters set (``PARAMETERS``) and
        ``overrides``, in that order, its data section set to arrays in memory (``data_fields`` recorded
        there)."""
        words = [
            f"{key}={value}"
            for name, keys in PARAMETERS.items()
            if (value := getattr(self, name)) is not None
            for key in keys
        ]
        small = SMALL_DEFAULTS if self.config is None else ()
        config = load_experiment(self.config, [*small, *task_words, *words, *self.overrides])
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
            with showing_epochs(self.verbose):
                result = train(config, data=data)
            if result.status != "finished":
                raise ValueError(f"{type(self).__name__}: training stopped, the loss became NaN or infinite")
            self.device_ = resolve_device(config.train.device)
            self.model_ = best_model(result.run_dir, config, data, self.device_)
        self.card_ = DataCard.of(data)
        self.run_dir_ = None if folder else result.run_dir


@contextlib.contextmanager
def showing_epochs(verbose: int):
    """While a fit trains: with ``verbose`` >= 1, the harness's line per epoch (loss, validation, ETA) on
    stderr; else nothing (its warnings too go through Python's logging as usual)."""
    if not verbose:
        yield
        return
    logger = logging.getLogger("warprnn")
    handler, level = logging.StreamHandler(), logger.level
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class WARPClassifier(ClassifierMixin, WARPEstimator):
    """WARP classifying time series (see the module for layouts, options and run folders).

    Attributes (after ``fit``): classes_ ``(n_classes,)``; n_features_in_ (channels for 3-D X, time
    points for 2-D X); model_, card_, device_, run_dir_ (``WARPEstimator.fit_data``).
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are filled, as in the UEA sets
        tags.input_tags.three_d_array = True
        return tags

    def fit(self, X, y) -> WARPClassifier:
        """Fits on X (see the module for its layouts) and one label per case, y ``(n_cases,)``."""
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
    subset, as for the data sets). ``predict`` forecasts the steps after a history by the rule of
    ``warprnn predict`` (``training.runs.forecast_distribution``): it reads the last ``context`` rows, and
    its first k steps are the same for every horizon >= k. ``predict_quantiles`` and ``predict_interval``
    (sktime's names) give the Gaussian head's quantiles (``warp.head=gaussian``). ``score`` is the negated
    mean squared error of the forecasts of a held-out stretch (higher is better, as scikit-learn expects),
    so that ``cross_val_score(forecaster, series, cv=TimeSeriesSplit(k))`` validates it over time:

    >>> import numpy as np
    >>> from sklearn.model_selection import TimeSeriesSplit, cross_val_score
    >>> series = np.sin(0.2 * np.arange(200))
    >>> forecaster = WARPForecaster(context=12, horizon=4, max_epochs=2, random_state=0)
    >>> scores = cross_val_score(forecaster, series, cv=TimeSeriesSplit(3))
    >>> scores.shape, bool(np.isfinite(scores).all() and (scores <= 0).all())
    ((3,), True)

    Attributes (after ``fit``): n_features_in_ (channels); model_, card_, device_, run_dir_
    (``WARPEstimator.fit_data``).
    """

    def __init__(
        self,
        context=96,
        horizon=96,
        config=None,
        overrides=(),
        out_dir=None,
        *,
        max_epochs=None,
        time_budget=None,
        batch_size=None,
        lr=None,
        random_state=None,
        verbose=0,
    ):
        self.context = context
        self.horizon = horizon
        super().__init__(
            config,
            overrides,
            out_dir,
            max_epochs=max_epochs,
            time_budget=time_budget,
            batch_size=batch_size,
            lr=lr,
            random_state=random_state,
            verbose=verbose,
        )

    def fit(self, X, y=None) -> WARPForecaster:
        """Fits on the series X ``(n_timepoints, n_channels)`` or ``(n_timepoints,)``; y is ignored."""
        self.univariate_ = np.ndim(X) == 1
        X = self.series(X, reset=True, rows=self.context + self.horizon)
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

    def predict(self, X, horizon=None) -> np.ndarray:
        """The ``(horizon, n_channels)`` steps after the series X (its last ``context`` rows are read);
        ``horizon`` None: the fitted one. 1-D for a forecaster fitted on a 1-D series."""
        return self.shaped(self.distribution(X, horizon).mean[0].double().numpy())

    def predict_quantiles(self, X, horizon=None, alpha=(0.05, 0.5, 0.95)) -> np.ndarray:
        """The forecast's quantiles at the levels ``alpha``, ``(horizon, n_channels, len(alpha))``
        (``(horizon, len(alpha))`` for a 1-D fit)."""
        quantiles = self.distribution(X, horizon).quantiles(list(alpha))[:, 0].double().numpy()  # (Q, H, C)
        return self.shaped(quantiles.transpose(1, 2, 0))

    def predict_interval(self, X, horizon=None, coverage=0.9) -> np.ndarray:
        """The central interval holding ``coverage`` of the forecast's distribution at each step, its lower
        and upper ends ``(horizon, n_channels, 2)`` (``(horizon, 2)`` for a 1-D fit)."""
        if not 0 < coverage < 1:
            raise ValueError(f"coverage: expected a share strictly between 0 and 1, got {coverage!r}")
        return self.predict_quantiles(X, horizon, ((1 - coverage) / 2, (1 + coverage) / 2))

    def score(self, X, y=None) -> float:
        """The negated mean squared error (on X's scale) of forecasting every window of ``context`` +
        ``horizon`` rows of the series X (stride ``horizon``) from its first ``context`` rows: higher is
        better. X needs at least ``context + horizon`` rows; y is ignored."""
        check_is_fitted(self)
        X = self.series(X, reset=False, rows=self.context + self.horizon)
        starts = range(0, len(X) - self.context - self.horizon + 1, self.horizon)
        cases = np.stack([X[s : s + self.context + self.horizon] for s in starts])  # (N, context + horizon, C)
        history = torch.tensor(cases[:, : self.context], dtype=torch.float32)
        forecast = forecast_distribution(self.model_, self.card_, history, self.horizon, self.device_).mean
        return -float(((forecast.double().numpy() - cases[:, self.context :]) ** 2).mean())

    def distribution(self, X, horizon):
        """The forecast after the series X (``training.runs.forecast_distribution``)."""
        check_is_fitted(self)
        X = self.series(X, reset=False, rows=1)
        history = torch.tensor(X, dtype=torch.float32)
        return forecast_distribution(self.model_, self.card_, history, horizon or self.horizon, self.device_)

    def series(self, X, reset: bool, rows: int) -> np.ndarray:
        """X as ``(n_timepoints, n_channels)`` float64, at least ``rows`` rows; a 1-D X is one channel, taken
        where the forecaster was fitted on a 1-D series (or is being fitted)."""
        if np.ndim(X) == 1 and not (reset or getattr(self, "univariate_", False)):
            raise ValueError(
                "Expected 2D array, got 1D array: the forecaster was fitted on a 2-D series. Reshape your data"
            )
        if np.ndim(X) == 1:
            X = np.asarray(X).reshape(-1, 1)
        return validate_data(self, X, reset=reset, dtype=np.float64, ensure_min_samples=rows)

    def shaped(self, values: np.ndarray) -> np.ndarray:
        """Forecast ``values`` ``(horizon, n_channels, ...)``, without the channel axis for a 1-D fit."""
        return values[:, 0] if getattr(self, "univariate_", False) else values
