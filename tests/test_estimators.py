"""``warprnn.estimators``: scikit-learn's ``check_estimator`` checks, aeon's layouts, ``cross_val_score``,
``Pipeline``, ``clone``, run folders, and the doctest of the docs' estimators page."""

import doctest
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import check_classifiers_train, parametrize_with_checks  # noqa: E402

from warprnn.estimators import CLASSIFICATION, WARPClassifier, WARPForecaster  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TINY = ("train.epochs=2", "warp.root_width=4", "warp.root_depth=1", "train.batch_size=32")

EXPECTED_FAILURES = {
    "WARPClassifier": {
        "check_classifiers_train": "asks 0.83 accuracy on make_blobs' 2 features read as series of 2 steps; "
        "the 2 epochs of these checks do not train that far (test_classifier_passes_the_accuracy_check "
        "passes it with 10 epochs)",
        "check_methods_subset_invariance": "float32: a batch of 1 and a batch of 20 round differently "
        "(probabilities differ by about 3e-7, the check's tolerance is 1e-7)",
    },
    "WARPForecaster": {
        "check_methods_subset_invariance": "the rows of X are the time steps of one series, forecast as a "
        "whole: a single row is not a series of its own",
        "check_methods_sample_order_invariance": "the rows of X are time steps: their order is the series",
        "check_fit1d": "a 1-D X is a univariate series, accepted on purpose (its forecasts are 1-D)",
    },
}


@parametrize_with_checks(
    [WARPClassifier(overrides=TINY), WARPForecaster(context=3, horizon=2, overrides=TINY)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILURES[type(estimator).__name__],
)
def test_check_estimator(estimator, check):
    check(estimator)


def test_classifier_passes_the_accuracy_check():
    check_classifiers_train(
        "WARPClassifier",
        WARPClassifier(overrides=["train.epochs=10", "warp.root_width=8", "warp.root_depth=1", "train.batch_size=16"]),
    )


def waves(n: int = 24, channels: int = 2, T: int = 16, seed: int = 0):
    """aeon's layout ``(n_cases, n_channels, n_timepoints)``: rising and falling ramps with noise."""
    rng = np.random.default_rng(seed)
    y = np.array(["rise", "fall"] * (n // 2))
    ramp = np.linspace(-1, 1, T)
    X = np.where((y == "rise")[:, None, None], ramp, -ramp) + 0.1 * rng.normal(size=(n, channels, T))
    return X, y


def test_classifier_takes_aeon_layouts_and_unequal_lengths():
    X, y = waves()
    clf = WARPClassifier(overrides=TINY).fit(X, y)
    assert clf.n_features_in_ == 2 and list(clf.classes_) == ["fall", "rise"]
    proba = clf.predict_proba(X)
    assert proba.shape == (24, 2) and np.allclose(proba.sum(1), 1)
    cases = [x[:, : 10 + i % 6] for i, x in enumerate(X)]  # unequal lengths: (n_channels, n_timepoints_i)
    fitted = WARPClassifier(overrides=TINY).fit(cases, y)
    assert fitted.predict(cases[:5]).shape == (5,) and set(fitted.predict(cases)) <= {"fall", "rise"}
    with pytest.raises(ValueError, match="y has 23 labels, but X has 24 cases"):
        WARPClassifier(overrides=TINY).fit(X, y[:-1])
    with pytest.raises(ValueError, match="expected cases of shape"):
        clf.predict([x[:1] for x in X])  # one channel, not two


def test_classifier_in_cross_val_score_and_a_pipeline():
    X, y = waves()
    scores = cross_val_score(WARPClassifier(overrides=TINY), X, y, cv=3)
    assert scores.shape == (3,) and ((scores >= 0) & (scores <= 1)).all()
    flat = X[:, 0]  # univariate 2-D: (n_cases, n_timepoints)
    pipe = Pipeline([("scale", StandardScaler()), ("warp", WARPClassifier(overrides=TINY))]).fit(flat, y)
    assert 0 <= pipe.score(flat, y) <= 1
    assert pipe.set_params(warp__overrides=("train.epochs=1",)).get_params()["warp__overrides"] == ("train.epochs=1",)


def test_forecaster_fits_a_series_and_forecasts_its_horizon(tmp_path):
    t = np.arange(300)
    series = np.stack([np.sin(0.1 * t), np.cos(0.05 * t)], -1)  # (n_timepoints, n_channels)
    fc = WARPForecaster(context=24, horizon=6, overrides=TINY, out_dir=tmp_path)
    copy = clone(fc)
    assert copy.get_params() == fc.get_params() and not hasattr(copy, "model_")
    fc.fit(series)
    forecast = fc.predict(series[:200])  # the 6 steps after the last 24 of these
    assert forecast.shape == (6, 2) and np.isfinite(forecast).all()
    assert fc.run_dir_.parent == tmp_path and (fc.run_dir_ / "checkpoints" / "best.pt").is_file()
    assert (fc.run_dir_ / "plots" / "losses.png").is_file()  # kept folders get their figures
    assert WARPForecaster(context=24, horizon=6, overrides=TINY).fit(series).run_dir_ is None  # temporary
    with pytest.raises(ValueError, match="minimum of 30 is required"):
        fc.set_params(context=25, horizon=5).fit(series[:29])


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "uea" / "BasicMotions").is_dir(), reason="the shared data folder is absent")
def test_the_estimators_page_runs(monkeypatch):
    """The doctest of the estimators' page of the docs (once the README's "Your own data" section), run
    from the shared data folder."""
    page = (REPO / "docs" / "guide" / "estimators.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", page, re.S))
    assert ">>> clf = WARPClassifier(" in code and ">>> fc = WARPForecaster(" in code
    monkeypatch.chdir(SHARED)
    test = doctest.DocTestParser().get_doctest(code, {}, "estimators", "docs/guide/estimators.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def ramps(n: int, seed: int, T: int = 32):
    """Two classes of noisy ramps, rising or falling, ``(n, 2, T)``: separable by eye."""
    rng = np.random.default_rng(seed)
    y = np.array(["rise", "fall"] * (n // 2))
    ramp = np.linspace(-1, 1, T)
    return np.where((y == "rise")[:, None, None], ramp, -ramp) + 0.3 * rng.normal(size=(n, 2, T)), y


@pytest.mark.slow
def test_the_default_classifier_learns_a_separable_set():
    X, y = ramps(200, seed=0)
    test_X, test_y = ramps(200, seed=1)
    assert WARPClassifier().fit(X, y).score(test_X, test_y) >= 0.9  # about 25 CPU-seconds


def test_parameters_stand_for_their_overrides_and_random_state_repeats_a_fit(capsys):
    X, y = waves()
    clf = WARPClassifier(max_epochs=1, batch_size=8, lr=3e-3, random_state=3, verbose=1)
    config = clf.experiment(CLASSIFICATION)
    assert (config.train.epochs, config.train.batch_size, config.optim.lr) == (1, 8, 3e-3)
    assert config.train.seed == config.data.seed == 3 and config.warp.root_width == 16  # small defaults
    first = clf.fit(X, y).predict_proba(X)
    assert "epoch 1/1" in capsys.readouterr().err  # verbose: a line per epoch
    np.testing.assert_array_equal(clone(clf).set_params(verbose=0).fit(X, y).predict_proba(X), first)
    assert WARPClassifier(max_epochs=1, overrides=("train.epochs=2",)).experiment().train.epochs == 2  # last


def test_forecaster_takes_a_1d_series_scores_and_cross_validates_over_time():
    from sklearn.model_selection import TimeSeriesSplit

    y = np.sin(0.2 * np.arange(150))
    fc = WARPForecaster(context=8, horizon=4, max_epochs=1, overrides=TINY).fit(y)
    assert fc.predict(y[:40]).shape == (4,) and fc.predict(y[:40], horizon=9).shape == (9,)
    score = fc.score(y[100:])
    assert np.isfinite(score) and score <= 0
    assert score == pytest.approx(-np.mean([(fc.predict(y[100 + s : 108 + s]) - y[108 + s : 112 + s]) ** 2
                                            for s in range(0, 50 - 12 + 1, 4)]), rel=1e-5)  # fmt: skip
    scores = cross_val_score(fc, y, cv=TimeSeriesSplit(3))
    assert scores.shape == (3,) and np.isfinite(scores).all()


def test_the_forecaster_docstring_example_runs():
    import doctest

    import warprnn.estimators

    assert doctest.testmod(warprnn.estimators).failed == 0
