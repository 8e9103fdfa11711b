"""Forecast your CSV, with intervals

Trains WARP on the first 80% of a CSV's rows and forecasts the next day with 80% intervals, scored against
the naive forecast that repeats the last value. The CSV here is made up (two hourly series with a daily
cycle, noise and a drift), written to a temporary folder; give yours as the first argument
(`python examples/forecast_csv.py my.csv`): a header, a `date` column, numeric columns. It writes
`forecast_csv.png` in the current folder.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

from warprnn.data.files import read_csv
from warprnn.estimators import WARPForecaster

CONTEXT, HORIZON = 48, 24  # two days read, one day forecast (hourly rows)


def made_up_csv(folder: Path) -> Path:
    """1,000 hourly rows of two series, ``date,load,temperature``."""
    rng = np.random.default_rng(0)
    hours = np.arange(1000)
    temperature = 10 + 5 * np.sin(2 * np.pi * (hours - 6) / 24) + 0.5 * rng.normal(size=hours.size)
    load = 50 + 0.01 * hours + 8 * np.sin(2 * np.pi * hours / 24) - 0.5 * temperature + rng.normal(size=hours.size)
    dates = np.datetime64("2024-01-01T00") + hours.astype("timedelta64[h]")
    lines = [f"{d},{a:.3f},{b:.3f}" for d, a, b in zip(dates, load, temperature)]
    path = folder / "my.csv"
    path.write_text("date,load,temperature\n" + "\n".join(lines) + "\n")
    return path


with tempfile.TemporaryDirectory() as folder:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else made_up_csv(Path(folder))
    names, values = read_csv(path)  # (rows, columns), the date column dropped
print(f"{path.name}: {values.shape[0]} rows, columns {names}")

cut = int(0.8 * len(values))
history, future = values[:cut], values[cut : cut + HORIZON]
forecaster = WARPForecaster(CONTEXT, HORIZON, overrides=["warp.head=gaussian"], max_epochs=15, random_state=0)
forecaster.fit(history)  # every window of 48 + 24 rows of the history; a Gaussian head for the intervals

mean = forecaster.predict(history)  # (24, columns): the 24 rows after the history's last 48
interval = forecaster.predict_interval(history, coverage=0.8)  # (24, columns, 2): lower and upper ends
naive = np.repeat(history[-1:], HORIZON, axis=0)

print(f"\nthe {HORIZON} hours after row {cut}, column {names[0]!r} (every 4th hour):")
print(" hour   truth  forecast   80% interval")
for h in range(0, HORIZON, 4):
    low, high = interval[h, 0]
    print(f"{h + 1:5d} {future[h, 0]:7.2f} {mean[h, 0]:9.2f}   [{low:6.2f}, {high:6.2f}]")
inside = ((interval[..., 0] <= future) & (future <= interval[..., 1])).mean()
print(f"\nMSE over both columns: WARP {((mean - future) ** 2).mean():.3f}, naive {((naive - future) ** 2).mean():.3f}")
print(f"truth inside the 80% interval: {inside:.0%} of {future.size} values")

import matplotlib  # noqa: E402  (the figure only)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(8, 3))
past = np.arange(cut - CONTEXT, cut)
ahead = np.arange(cut, cut + HORIZON)
ax.plot(past, history[-CONTEXT:, 0], color="black", label="history read")
ax.plot(ahead, future[:, 0], color="black", linestyle=":", label="truth")
ax.plot(ahead, mean[:, 0], color="C0", label="WARP forecast")
ax.fill_between(ahead, interval[:, 0, 0], interval[:, 0, 1], color="C0", alpha=0.25, label="80% interval")
ax.set(xlabel="row (hour)", ylabel=names[0])
ax.legend(loc="upper left", fontsize=8)
fig.tight_layout()
fig.savefig("forecast_csv.png", dpi=100)
print("wrote forecast_csv.png")
