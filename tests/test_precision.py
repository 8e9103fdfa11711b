"""Mixed precision (issue 20): ``train.precision=bf16`` on the CPU trains like fp32.

Tolerance: 5% of the test MSE. Autocast runs the models' plain layers (Linear, attention, convolutions) in
bf16, whose 8-bit mantissa rounds each product to ~0.4%; the recurrences (WARP's scan and rollouts, its
per-sample root, GRU and LSTM cells) stay fp32 by design, so the forecasts after a few epochs move by well
under 5%, while a broken bf16 path (a recurrence in bf16: 3.7% error in theta on msd-small's 64 steps, or
no training at all) moves them by more.
"""

import pytest

from warprnn.training import load_experiment, train


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra",
    [
        ["train.epochs=5"],  # the default job: autoregressive WARP
        ["train.epochs=5", "train.autoregressive=false"],  # teacher-forced: scan, then the root network
        ["model=gru", "train.epochs=3"],
        ["model=lstm", "train.epochs=3"],
        ["model=s4d", "train.epochs=3"],
    ],
    ids=["warp", "warp-teacher-forced", "gru", "lstm", "s4d"],
)
def test_bf16_on_cpu_trains_the_default_job_like_fp32(tmp_path, extra):
    scores = {}
    for precision in ("fp32", "bf16"):
        overrides = [*extra, "train.device=cpu", f"train.precision={precision}", "train.plots=false"]
        result = train(load_experiment("msd-small", [*overrides, f"train.out_dir={tmp_path / precision}"]))
        scores[precision] = result.test_metrics["test_mse"]
    assert scores["bf16"] == pytest.approx(scores["fp32"], rel=0.05), scores


@pytest.mark.slow
def test_compiled_training_gives_the_weights_of_eager_training(tmp_path):
    """``train.compile=true`` (``torch.compile`` of the training forward pass; about a minute to compile on
    2 CPU cores): the weights of eager training to float tolerance (the compiled kernels fuse and reorder
    float32 operations, ~1e-6 relative per step)."""
    import torch

    from warprnn.training.rundir import load_checkpoint

    weights = {}
    for compiled in ("false", "true"):
        overrides = ["train.epochs=1", "train.autoregressive=false", "train.device=cpu", "train.plots=false"]
        overrides += ["data.num_train=64", f"train.compile={compiled}", f"train.out_dir={tmp_path / compiled}"]
        run = train(load_experiment("msd-small", overrides)).run_dir
        weights[compiled] = load_checkpoint(run / "checkpoints" / "last.pt")["model"]
    for key, value in weights["false"].items():
        torch.testing.assert_close(weights["true"][key], value, rtol=0, atol=1e-5, msg=key)
