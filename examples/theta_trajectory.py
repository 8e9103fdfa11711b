"""Inspect theta's trajectory

WARP's hidden state theta_t is the weights of its root network, so it can be looked at directly. This
trains the default job's config (`msd-small`: mass-spring-damper trajectories) for a few epochs, runs the
best model over one test sequence, and draws the series, the forecast and a few coordinates of theta_t
along it (`theta_trajectory.png` in the current folder). Every run folder has a figure like it,
`plots/theta.png`.
"""

import tempfile

import torch

from warprnn.training import load_experiment, load_run, train

with tempfile.TemporaryDirectory() as runs:
    result = train(load_experiment("msd-small", ["train.epochs=8", f"train.out_dir={runs}"]))
    config, data, model, _ = load_run(result.run_dir)
print(f"msd-small, {result.status} after 8 epochs: test MSE {result.test_metrics['test_mse']:.4f}")

x = data.test.x[:1].to(torch.float32)  # (1, T, 2): position and velocity, standardised
context = data.context
with torch.no_grad():
    out = model(x, context=context)  # fed the data for `context` steps, then its own predictions
theta = out.theta[0]  # (T, D_theta)
print(f"D_theta = {model.d_theta}; theta over the {x.shape[1]} steps: {tuple(out.theta.shape)} (batch, time, D_theta)")
print(
    f"||theta_t - theta_0|| at t = 1, {context}, {x.shape[1] - 1}: "
    + ", ".join(f"{(theta[t] - theta[0]).norm():.3f}" for t in (1, context, x.shape[1] - 1))
)
moving = (theta - theta[0]).abs().max(dim=0).values.argsort(descending=True)[:6]
print(f"the 6 coordinates that move most: {moving.tolist()}")

import matplotlib  # noqa: E402  (the figure only)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
steps = torch.arange(x.shape[1])
top.plot(steps, x[0, :, 0], color="black", label="position (data)")
top.plot(steps[1:], out.mean[0, :-1, 0], color="C0", label="WARP (one step ahead, then autoregressive)")
top.axvline(context - 0.5, color="grey", linestyle=":", label="end of context")
top.legend(fontsize=8)
for i in moving:
    bottom.plot(steps, theta[:, i], label=f"theta[{int(i)}]")
bottom.axvline(context - 0.5, color="grey", linestyle=":")
bottom.set(xlabel="step t", ylabel="coordinate of theta_t")
bottom.legend(fontsize=7, ncol=3)
fig.tight_layout()
fig.savefig("theta_trajectory.png", dpi=100)
print("wrote theta_trajectory.png")
