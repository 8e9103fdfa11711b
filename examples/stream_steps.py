"""Stream `step()` over a live series

`model.step(x_t, state)` feeds one value per sequence and returns the prediction of the next one and the
new state: a forecast that follows a series as it arrives, without running the whole history again. Here a
small WARP is first trained for a few seconds in plain PyTorch on noisy sine waves of random frequencies;
then a new wave is fed value by value, as from a sensor, and the streamed predictions are checked against
`model(x)` on the whole series (they are the same computation). Trained this briefly, the model's
one-step error stays above that of repeating the last value (both are printed): what this shows is the
streaming, not a good model.
"""

import math

import torch

from warprnn import WARP, WarpConfig

torch.manual_seed(0)
T = 64


def waves(n: int) -> torch.Tensor:
    """``(n, T, 1)`` noisy sines, each with its own frequency and phase."""
    t = torch.linspace(0, 1, T)
    frequency = 1 + 3 * torch.rand(n, 1)
    phase = 2 * math.pi * torch.rand(n, 1)
    return (torch.sin(2 * math.pi * frequency * t + phase) + 0.05 * torch.randn(n, T)).unsqueeze(-1)


model = WARP(WarpConfig(in_channels=1, root_width=16, root_depth=1, input_prev_obs=True))  # the root also reads x_t
print(f"WARP with D_theta = {model.d_theta}")
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
for step in range(600):
    x = waves(32)
    out = model(x)  # teacher-forced: out.mean[:, t] predicts x[:, t + 1]
    loss = torch.nn.functional.mse_loss(out.mean[:, :-1], x[:, 1:])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 200 == 0 or step == 599:
        print(f"training step {step:3d}: one-step MSE {loss.item():.4f}")

model.eval()
live = waves(1)  # (1, T, 1): the series that arrives one value at a time
state = model.init_state(batch_size=1, seq_len=T)  # T fixes the time input tau = t / (T - 1)
streamed = []
print("\n    t   x_t   prediction of x_{t+1}   x_{t+1}")
with torch.no_grad():
    for t in range(T - 1):
        y, state = model.step(live[:, t], state)  # y.mean: (1, 1)
        streamed.append(y.mean)
        if t % 8 == 0:
            print(f"{t:5d} {live[0, t, 0]:6.3f} {y.mean[0, 0]:12.3f} {live[0, t + 1, 0]:17.3f}")
    whole = model(live).mean[:, : T - 1]  # the same predictions from the whole series at once
streamed = torch.stack(streamed, dim=1)
print(
    f"\nstreamed one-step MSE {((streamed - live[:, 1:]) ** 2).mean():.4f}, "
    f"naive (repeat x_t) {((live[:, :-1] - live[:, 1:]) ** 2).mean():.4f}"
)
print(f"largest difference between step() and forward(): {(streamed - whole).abs().max():.2e}")
