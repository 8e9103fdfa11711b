"""Reference numbers for ``warprnn.training.optimizers``: the authors' optimiser, run by optax itself.

    /work/avenv/bin/python benchmarks/optax_reference.py            # writes tests/fixtures/optax_adabelief.npz
    VENV/bin/python benchmarks/optax_reference.py --out PATH.npz

It runs in a JAX environment, not ours (it imports only numpy, jax and optax; no torch, no warprnn), made
with the versions of the authors' ``requirements.txt``:

    python -m venv VENV && VENV/bin/pip install jax==0.4.35 jaxlib==0.4.35 optax==0.2.3 numpy==1.26.3

In float64 (``jax_enable_x64``) it runs the authors' optimiser,

    optax.chain(optax.clip(c), optax.adabelief(lr), optax.contrib.reduce_on_plateau(factor, patience, rtol,
                atol, cooldown, accumulation_size, min_scale))

with ``update(grads, state, params, value=loss)`` once per step, on a fixed stream of 60 steps over two
parameter arrays, (3, 4) and (5,): gradients from numpy's ``default_rng``, of magnitudes spread
log-uniformly over 1e-10 to 1 with random signs (so that both sides of c = 1e-7 occur), and a loss stream
made so that reduce_on_plateau, accumulating 3 steps with patience 2 and cooldown 1, lowers the scale four
times, the last time to ``min_scale``, and then holds it there. Two cases: ``c = 1e-7`` (the authors'
``gradients_lim``: most entries are clipped) and ``c = 10`` (no entry is clipped).

The file holds numbers only: the settings, the initial parameters, the gradient and loss streams, and per
case the parameters and reduce_on_plateau's scale after every step (``tests/test_optim.py`` reads it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import numpy as np
import optax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402  (after the x64 switch)

STEPS = 60
SETTINGS = dict(
    lr=1e-2,
    b1=0.9,
    b2=0.999,
    eps=1e-16,
    eps_root=1e-16,
    factor=0.3,
    patience=2,
    rtol=1e-2,
    atol=0.0,
    cooldown=1,
    accumulation_size=3,
    min_scale=0.01,
)
CLIPS = (1e-7, 10.0)
# The mean loss of each window of 3 steps: improvements larger and smaller than rtol (1%), plateaus of 2
# windows (a reduction), cooldowns, and plateaus after the scale reached min_scale.
WINDOW_MEANS = [
    1.0, 0.995, 1.2,  # best 1.0; 0.5% better is no improvement; 2 stale windows: scale 0.3
    0.5, 0.4, 0.41, 0.399,  # cooldown (best 0.5), better, stale, stale (0.25% better): 0.09
    0.45, 0.45, 0.45,  # cooldown, stale, stale: 0.027
    0.3, 0.31, 0.32,  # cooldown (best 0.3), stale, stale: max(0.0081, min_scale) = 0.01
    0.35, 0.35, 0.35,  # cooldown, stale, stale: stays at min_scale
    0.2, 0.19, 0.25, 0.25,  # cooldown (best 0.2), better, stale, stale: stays at min_scale
]  # fmt: skip


def streams(rng: np.random.Generator):
    """Initial parameters, gradients (STEPS, *shape) per array, and losses (STEPS,)."""
    shapes = ((3, 4), (5,))
    params = [rng.normal(size=shape) for shape in shapes]
    grads = [
        rng.choice([-1.0, 1.0], size=(STEPS, *shape)) * 10.0 ** rng.uniform(-10, 0, size=(STEPS, *shape))
        for shape in shapes
    ]
    assert len(WINDOW_MEANS) * SETTINGS["accumulation_size"] == STEPS
    offsets = np.array([0.02, -0.03, 0.01])  # within a window, about the mean
    losses = np.concatenate([mean * (1 + offsets) for mean in WINDOW_MEANS])
    return params, grads, losses


def run(clip: float, params, grads, losses):
    """optax's parameters (STEPS, *shape) per array and scale (STEPS,) after every step."""
    s = SETTINGS
    opt = optax.chain(
        optax.clip(clip),
        optax.adabelief(s["lr"], b1=s["b1"], b2=s["b2"], eps=s["eps"], eps_root=s["eps_root"]),
        optax.contrib.reduce_on_plateau(
            factor=s["factor"],
            patience=s["patience"],
            rtol=s["rtol"],
            atol=s["atol"],
            cooldown=s["cooldown"],
            accumulation_size=s["accumulation_size"],
            min_scale=s["min_scale"],
        ),
    )
    p = [jnp.asarray(x, dtype=jnp.float64) for x in params]
    state = opt.init(p)
    after, scales = [[] for _ in p], []
    for t in range(STEPS):
        g = [jnp.asarray(stream[t], dtype=jnp.float64) for stream in grads]
        updates, state = opt.update(g, state, p, value=losses[t])
        p = optax.apply_updates(p, updates)
        for i, x in enumerate(p):
            assert x.dtype == jnp.float64
            after[i].append(np.asarray(x))
        scales.append(float(state[2].scale))
    return [np.stack(a) for a in after], np.array(scales)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "optax_adabelief.npz"
    parser.add_argument("--out", type=Path, default=default)
    out = parser.parse_args().out
    params, grads, losses = streams(np.random.default_rng(20260611))
    clipped = [float(np.mean(np.abs(g) > CLIPS[0])) for g in grads]
    assert all(0.2 < f < 0.9 for f in clipped), clipped  # both sides of c = 1e-7
    assert all(np.abs(g).max() < CLIPS[1] for g in grads)  # c = 10 clips nothing
    results = [run(clip, params, grads, losses) for clip in CLIPS]
    for _, scale in results:
        reductions = int(np.sum(np.diff(np.concatenate([[1.0], scale])) < 0))
        assert reductions >= 2 and scale[-1] == np.float32(SETTINGS["min_scale"]), scale
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        **{k: np.asarray(v) for k, v in SETTINGS.items()},
        clip=np.array(CLIPS),
        params0_a=params[0],
        params0_b=params[1],
        grads_a=grads[0],
        grads_b=grads[1],
        losses=losses,
        params_a=np.stack([r[0][0] for r in results]),
        params_b=np.stack([r[0][1] for r in results]),
        scale=np.stack([r[1] for r in results]),
    )
    print(f"wrote {out} ({out.stat().st_size} bytes); scales: {sorted(set(results[0][1].tolist()), reverse=True)}")


if __name__ == "__main__":
    main()
