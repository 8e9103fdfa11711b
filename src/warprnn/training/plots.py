"""Figures of a run: loss curves, forecasts against the truth, and the weight-space trajectory theta_t."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
from torch import Tensor  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_losses(history: list[dict], path: Path, metric: str | None = None) -> Path:
    """Training and validation loss per epoch; beside them the validation ``metric`` that picks the
    best checkpoint, where it was computed."""
    fig, axes = plt.subplots(1, 2 if metric else 1, figsize=(10 if metric else 6, 3.5), squeeze=False)
    ax = axes[0][0]
    ax.plot([r["epoch"] for r in history], [r["train_loss"] for r in history], label="train loss")
    val = [(r["epoch"], r["val_loss"]) for r in history if "val_loss" in r]
    if val:
        ax.plot(*zip(*val), "o-", label="validation loss (teacher-forced)")
    ax.set_xlabel("epoch")
    ax.set_yscale("log" if all(r["train_loss"] > 0 for r in history) else "linear")
    ax.legend()
    if metric:
        points = [(r["epoch"], r[metric]) for r in history if metric in r]
        axes[0][1].plot(*zip(*points), "o-", color="tab:green")
        axes[0][1].set_xlabel("epoch")
        axes[0][1].set_title(f"{metric} (selects the best checkpoint)", fontsize=9)
    return _save(fig, path)


def plot_curves(
    curves: dict[str, list[tuple[float, float]]], path: Path, *, xlabel: str, ylabel: str, title: str = ""
) -> Path:
    """One line per name of ``curves`` ((x, y) points), e.g. a validation metric against wall-clock time
    for several models."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, points in curves.items():
        if points:
            ax.plot(*zip(*points), "o-", ms=3, lw=1.2, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_yscale(curve_scale(curves))
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def curve_scale(curves: dict[str, list[tuple[float, float]]]) -> str:
    """``log`` when every y of ``curves`` is positive and they span more than two decades (an early spike
    would flatten the rest of a linear axis), else ``linear``."""
    ys = [y for points in curves.values() for _, y in points if math.isfinite(y)]
    return "log" if ys and min(ys) > 0 and max(ys) > 100 * min(ys) else "linear"


def plot_predictions(
    truth: Tensor,
    pred: Tensor,
    path: Path,
    *,
    context: int,
    std: Tensor | None = None,
    channel_names: tuple[str, ...] = (),
) -> Path:
    """Forecasts (dashed) against the truth for a few sequences, one panel per sequence and channel.

    Args:
        truth, pred: ``(N, T, C)``, aligned. std: ``(N, T, C)`` or None (a +-2 std band when given).
        context: L, marked by a vertical line: steps before it were given to the model.
    """
    N, T, C = truth.shape
    fig, axes = plt.subplots(C, N, figsize=(3.2 * N, 2.4 * C), squeeze=False, sharex=True)
    steps = range(T)
    for n in range(N):
        for c in range(C):
            ax = axes[c][n]
            ax.plot(steps, truth[n, :, c], color="black", lw=1.2, label="truth")
            ax.plot(steps[context:], pred[n, context:, c], "--", color="tab:red", lw=1.2, label="forecast")
            if std is not None:
                low, high = (
                    pred[n, context:, c] - 2 * std[n, context:, c],
                    pred[n, context:, c] + 2 * std[n, context:, c],
                )
                ax.fill_between(steps[context:], low, high, color="tab:red", alpha=0.2, lw=0)
            ax.axvline(context - 0.5, color="gray", ls=":", lw=1)
            if n == 0:
                ax.set_ylabel(channel_names[c] if c < len(channel_names) else f"channel {c}")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"forecasts after a context of {context} steps (dotted line)", fontsize=9)
    return _save(fig, path)


def plot_image_completion(
    truth: Tensor, preds: dict[str, Tensor], path: Path, *, context: int, shape: tuple[int, int] = (28, 28)
) -> Path:
    """Pixel-sequence completion as images (as the paper's Fig. 3a): per row one sequence, its context
    (the rest blanked), the truth and each model's completion (the context copied in).

    Args:
        truth: ``(N, H W, 1)`` pixels. preds: model name -> ``(N, H W, 1)`` aligned predictions.
        context: L, the pixels given to the models.
    """
    N = truth.shape[0]
    columns = {"context": truth.clone(), "truth": truth}
    columns["context"][:, context:] = float("nan")
    for name, pred in preds.items():
        columns[name] = truth.clone()
        columns[name][:, context:] = pred[:, context:]
    cmap = plt.get_cmap("gray").with_extremes(bad="lightsteelblue")  # the pixels not given
    fig, axes = plt.subplots(N, len(columns), figsize=(1.6 * len(columns), 1.6 * N), squeeze=False)
    for n in range(N):
        for j, (name, images) in enumerate(columns.items()):
            ax = axes[n][j]
            ax.imshow(images[n, :, 0].reshape(shape).numpy(), cmap=cmap, vmin=-1, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if n == 0:
                ax.set_title(name, fontsize=8)
    return _save(fig, path)


def plot_theta_trajectory(theta: Tensor, path: Path, *, context: int | None = None, num_coordinates: int = 8) -> Path:
    """A few coordinates of the weight-space state theta_t ``(T, D)`` over time: the root network's
    weights adapting along one sequence (the paper's interpretability view)."""
    T, D = theta.shape
    picked = sorted({round(i * (D - 1) / max(num_coordinates - 1, 1)) for i in range(min(num_coordinates, D))})
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i in picked:
        ax.plot(range(T), theta[:, i], lw=1, label=f"theta[{i}]")
    if context is not None:
        ax.axvline(context - 0.5, color="gray", ls=":", lw=1)
    ax.set_xlabel("step t")
    ax.set_ylabel("root weight value")
    ax.set_title(f"{len(picked)} of the {D} coordinates of theta_t", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    return _save(fig, path)
