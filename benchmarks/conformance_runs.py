"""WARP under the authors' semantics and optimiser beside WARP under ours: the CPU trainings of
``docs/results/conformance.md``.

    python benchmarks/conformance_runs.py train msd-cpu 0 warp.hypernet_activation=swish   # two runs at once
    python benchmarks/conformance_runs.py train mnist-cpu 0 both:data.root=DIR warp.positional_encoding=0
    python benchmarks/conformance_runs.py report runs/conformance > table.md                # table and curves

``train CONFIG SEED [OVERRIDES]`` trains the two WARPs of a shipped config side by side, one torch thread
each, with ``train.seed`` and ``data.seed`` SEED, into ``runs/conformance/CONFIG-MODEL-sSEED``: ``warp``
the config as shipped, ``warp-authors`` the same with ``AUTHORS`` and OVERRIDES (what the authors'
semantics needs of that config, e.g. the hypernetwork's activation equal to the root's; an override written
``both:SECTION.KEY=VALUE`` goes to both runs, e.g. ``both:data.root=DIR``). Everything else
(data, sizes, learning rates, schedule, early stopping, time cap) is the config's for both, so that the
two differ only in the semantics and the optimiser.

``report DIR`` prints a markdown table of every run under DIR (its best validation MSE, test MSE and MAE as the
run scored its best checkpoint, the MSE standardised per channel as ``reproduce dsr`` reports it, epochs, minutes), then their
mean ± sample standard deviation over seeds, and draws each pair's validation curves against wall time into
``docs/results/figures/conformance-CONFIG-sSEED.png``.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

AUTHORS = ["warp.semantics=authors", "optim.name=adabelief", "optim.clip_value=1e-7", "optim.grad_clip=0"]
FIGURES = Path(__file__).resolve().parents[1] / "docs" / "results" / "figures"


def train(config: str, seed: int, overrides: list[str], root: Path = Path("runs/conformance")) -> int:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    both = [word.removeprefix("both:") for word in overrides if word.startswith("both:")]
    theirs = [word for word in overrides if not word.startswith("both:")]
    runs = {"warp": both, "warp-authors": both + AUTHORS + theirs}
    processes = []
    for model, extra in runs.items():
        out = root / f"{config}-{model}-s{seed}"
        command = ["warprnn", "train", "-q", config, f"train.seed={seed}", f"data.seed={seed}", f"train.out_dir={out}"]
        processes.append(subprocess.Popen(command + extra, env=env))
    return max(p.wait() for p in processes)


def summary(run: Path) -> dict:
    """One run's row: its test metrics, epochs, minutes, and how it ended."""
    from warprnn.experiments.dsr import standardised_mse

    test = json.loads((run / "test_metrics.json").read_text())
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows:  # seconds of training (validation included) since the start, at the end of each epoch
        row["elapsed"] = float(row["time"])
    elapsed = rows[-1]["elapsed"] if rows else float("nan")
    return dict(
        run=run,
        mse=test["test_mse"],
        mae=test["test_mae"],
        standardised=standardised_mse(run),
        val=min(float(r["val_mse"]) for r in rows if r.get("val_mse")),
        epochs=len(rows),
        minutes=elapsed / 60,
        rows=rows,
    )


def spread(values: list[float]) -> str:
    """``mean ± sample standard deviation`` (the value alone for one run)."""
    if len(values) == 1:
        return f"{values[0]:.3g}"
    return f"{statistics.fmean(values):.3g} ± {statistics.stdev(values):.2g}"


def report(root: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    print(
        "| config | seed | WARP | best validation MSE | test MSE | test MAE | test MSE, standardised | epochs | minutes |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    pairs: dict[tuple[str, str], dict] = {}
    for folder in sorted(root.iterdir()):
        runs = sorted(p.parent for p in folder.glob("*/test_metrics.json"))
        if not runs:
            continue
        config, _, rest = folder.name.partition("-warp")
        model, seed = ("warp" + rest).rsplit("-s", 1)
        s = summary(runs[-1])
        name = "authors' semantics + AdaBelief" if model == "warp-authors" else "ours + Adam"
        print(
            f"| {config} | {seed} | {name} | {s['val']:.4g} | {s['mse']:.4g} | {s['mae']:.4g} | {s['standardised']:.4g} | "
            f"{s['epochs']} | {s['minutes']:.1f} |"
        )
        pairs.setdefault((config, seed), {})[name] = s
    print()
    print("| config | WARP | seeds | best validation MSE | test MSE | test MSE, standardised |")
    print("|---|---|---:|---|---|---|")
    names = sorted({name for runs in pairs.values() for name in runs})
    for config in sorted({c for c, _ in pairs}):
        for name in names:
            found = [runs[name] for (c, _), runs in sorted(pairs.items()) if c == config and name in runs]
            val, mse, std = (spread([s[k] for s in found]) for k in ("val", "mse", "standardised"))
            print(f"| {config} | {name} | {len(found)} | {val} | {mse} | {std} |")
    FIGURES.mkdir(parents=True, exist_ok=True)
    for (config, seed), runs in pairs.items():
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for name, s in runs.items():
            rows = [r for r in s["rows"] if r.get("val_mse")]
            ax.plot([float(r["elapsed"]) / 60 for r in rows], [float(r["val_mse"]) for r in rows], label=name)
        ax.set(yscale="log", xlabel="minutes", ylabel="validation MSE", title=f"{config}, seed {seed}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(FIGURES / f"conformance-{config}-s{seed}.png", dpi=100)
        plt.close(fig)


def main(argv: list[str]) -> int:
    if argv[:1] == ["train"] and len(argv) >= 3:
        return train(argv[1], int(argv[2]), argv[3:])
    if argv[:1] == ["report"] and len(argv) == 2:
        report(Path(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
