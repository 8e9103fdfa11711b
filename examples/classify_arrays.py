"""Classify your own arrays, with cross-validation

`WARPClassifier` is a scikit-learn estimator: arrays in aeon's layout `(n_cases, n_channels,
n_timepoints)` and one label per case, so `cross_val_score`, `Pipeline` and `clone` work as for any
classifier. The arrays here are made up: two channels of a noisy oscillation, each case with its own
phase, whose drift is the class (rising or falling, at a rate drawn per case). Swap in yours: `X` of that shape (or a list of
`(n_channels, n_timepoints_i)` arrays of unequal lengths) and `y`.
"""

import time

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_score

from warprnn.estimators import WARPClassifier

rng = np.random.default_rng(0)
n, T = 120, 40
y = np.array(["rising", "falling"] * (n // 2))
drift = np.where(y == "rising", 1.0, -1.0)[:, None, None] * rng.uniform(0.5, 1.5, size=(n, 1, 1))
phase = rng.uniform(0, 2 * np.pi, size=(n, 2, 1))
t = np.linspace(0, 1, T)
X = drift * t + np.sin(2 * np.pi * 3 * t + phase) + 0.3 * rng.normal(size=(n, 2, T))
print(f"X {X.shape} (cases, channels, time steps), classes {sorted(set(y.tolist()))}")

clf = WARPClassifier(max_epochs=20, random_state=0)  # a 16 x 1 root: seconds per fit on a CPU
began = time.time()
scores = cross_val_score(clf, X, y, cv=StratifiedKFold(3, shuffle=True, random_state=0))
print(
    f"3-fold accuracy: {', '.join(f'{s:.2f}' for s in scores)} (mean {scores.mean():.2f}), {time.time() - began:.0f} s"
)

clf.fit(X[:80], y[:80])  # one fit on the first 80 cases, the other 40 held out
print("held-out accuracy:", clf.score(X[80:], y[80:]))
print("first 4 held-out cases:", clf.predict(X[80:84]).tolist(), "truth:", y[80:84].tolist())
print("their probabilities (columns", clf.classes_.tolist(), "):")
print(np.round(clf.predict_proba(X[80:84]), 2))
