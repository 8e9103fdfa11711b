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
