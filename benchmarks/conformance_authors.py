"""Reference numbers from the authors' JAX implementation of WARP, for a conformance harness (one npz per case).

    VENV/bin/python benchmarks/conformance_authors.py --repo PATH --out DIR [--cases mnist msd ...] [--steps 100]

``PATH`` is a clone of github.com/ddrous/warp at commit bde9a5d and ``VENV`` a venv with their pinned
versions (jax 0.4.35, equinox 0.11.8, optax 0.2.3; the commands are in ``benchmarks/authors.py``'s
docstring). Their code is imported from ``PATH`` at run time, as ``benchmarks/authors.py`` does (``build``:
``models.make_model``, and main.py's ``loss_fn``, ``train_step`` and ``opt`` taken out of its syntax tree);
none of it is copied here. Everything runs in float64 (``jax_enable_x64``), on the CPU in a minute or two.

Cases: their config files (``cfgs/wsm/...``), each shrunk to a tiny model; every key not listed below is
kept as their file has it (activations, final activation, weights_lim, std_lower_bound, forcing_prob,
init_state_layers, input_prev_data, use_nll_loss, autoregressive, stochastic, smooth_inference, ...):

    training.batch_size 3, T 48, model.root_width_size 6, model.root_depth 2,
    training.nb_recons_loss_steps min(n, 20) where set, training.inference_start min(s, 20) where set,
    optimizer.init_lr x 100, optimizer.on_plateau accum_size 5, patience 2, cooldown 1, rtol 0.5
    (factor and min_scale kept), so that the parameters move and the scale drops within 100 steps (not on
    the mnist cases: their NLL losses are negative, and avg < (1 - rtol) * best then holds at every check).

    mnist             mnist/mnist.yaml, C 1 (their ar_call, NLL loss on 20 sampled steps)
    mnist-stochastic  the same with training.stochastic True (their ar_call_stochastic)
    msd, msd-zero     msd/original.yaml, msd/zero.yaml, C 2 (ar_call, MSE, hypernetwork theta_0); the two
                      files differ only in data keys, so their numbers are the same
    lv                lotka/lotka.yaml, C 2, a repeat data set: the loss target is ``target``, not ``x``
    sine              sine/sine_tiny.yaml, C 1
    uea-scp1          uea/scp1.yaml, SelfRegulationSCP1: C 6, 2 classes (their non_ar_call, cross-entropy)
    icl               icl/icl.yaml with data.data_dim 3 (C 4 = data_dim + 1 as their loaders say) and
                      data.sequence_length 48: non-autoregressive, input_prev_data, root_output_dim 1, repeat

Per case the model is their ``make_model`` from the shrunk config (model key: their seed, as main.py splits
it), then A and B replaced (``eqx.tree_at``) by random values of numpy ``default_rng(0)``:
A = 0.85 I + N(0, (0.1 / sqrt(D))^2), B = N(0, (0.15 / sqrt(cols))^2), both rounded to multiples of 2^-16
(exact in float32; larger values diverge on sine, which has no final activation); theta_0 or the
hypernetwork as built. x and the targets are clip(N(0, 1), -2, 2) * 0.5 rounded to multiples of 2^-12.

NPZ format (``DIR/NAME.npz``, ``np.savez_compressed``; float arrays float64; B batch 3, T 48, C channels,
D the root's parameter count, n nb_recons_loss_steps, K 4 training batches, S the steps, 100):

    meta                 0-d str, JSON: case, config file, the shrunk config as used, C, T, batch, nb_classes,
                         D_theta, call path, hidden sizes of the hypernetwork, root leaf shapes, optimiser
                         settings, seeds, their commit, versions, repeat data set or not, which draws are used
    root_shapes          (L, 2) int: the root MLP's leaves in their flatten order (utils.flatten_pytree of its
                         arrays: weight (out, in), bias (out,)), -1 padded; theta is their concatenation
    param/A (D, D), param/B (D, C or C+1 with time_as_channel), and either param/theta_init (D,)
    (init_state_layers null) or param/hyper/{k}/weight (out, in) and param/hyper/{k}/bias (out,) for the
    hypernetwork's Linear layers k = 0, 1, ..., and param/dtanh (4,) [a, b, alpha, beta] where their
    root_final_activation is a list (it is an array of the model: trained like the rest)
    x (B, T, C); ts (B, T, 1) linspace(0, 1, T) per sequence, as their loaders give it; target (B, T, out)
    for repeat data sets (X_true_out); labels (B,) int for classification
    key/loss, key/infer  (2,) uint32: PRNGKey(1), PRNGKey(2)
    draw/feed (B, T) bool, draw/normal (B, T, C), draw/steps (B, n) int (absent where n is null): the draws
    of the loss key as their code makes them: ks = split(key, B); keys = split(ks[b], T);
    feed = bernoulli(keys[t], forcing_prob) (= uniform(keys[t], (), float64) < p); normal = normal(keys[t],
    (C,)) with the same key; steps = randint(key, (B, n), 0, T) with the top-level key
    draw_infer/feed, draw_infer/normal: the same for the inference key (regression cases; in inference their
    code feeds by time instead, ``infer/teacher``, and samples only when smooth_inference is false)
    infer/teacher (B, T) bool: ts[..., 0] <= inference_start / T, the steps given the true x in inference
    out/train (B, T, out): model(x, ts, key/loss, inference_start=None), the raw output ([mean, std] with NLL)
    out/infer (B, T, out): model(x, ts, key/infer, inference_start=s) (AR regression cases only: icl's
    config has none, and their AR path fails there, its root giving 1 value for C inputs)
    loss ()  their loss_fn(model, ((x, ts), y), key/loss)[0], y = target, labels or arange(B)
    grad/<param names>   its gradient (eqx.filter_value_and_grad), under the names of param/
    step1/<param names>, step1/loss, step1/scale: after one train_step from opt.init with key/loss
    train/x (K, B, T, C), train/target or train/labels (K, B, ...): the batches of the S training steps;
    step k uses batch k % K and key PRNGKey(1000 + k); train/feed (S, B, T), train/normal (S, B, T, C) (only
    where the path samples: ar_call_stochastic), train/steps (S, B, n) (where n is set); train/loss (S,)
    and train/aux (S,) as train_step returns them (aux: the loss, or the accuracy for classification),
    train/scale (S,) reduce_on_plateau's scale after each step (float32 in their optimiser state)
    final/<param names>  the parameters after the S steps

Before writing, the draws of the loss key are checked one key at a time against the vmapped ones, and
bernoulli against uniform < p (``--no-verify`` skips it); every float array is checked to be float64 and
finite. A JSON line per case is printed: D_theta, call path, the loss, first and last training losses, the
final scale and the file's size.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from dataclasses import dataclass, field

import jax

jax.config.update("jax_enable_x64", True)  # before any array exists

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import authors  # noqa: E402  (benchmarks/authors.py: build, commit_of, versions)

T = 48
BATCH = 3
K_BATCHES = 4
KEY_LOSS, KEY_INFER, KEY_TRAIN0 = 1, 2, 1000
SHRINK = {("training", "batch_size"): BATCH, ("model", "root_width_size"): 6, ("model", "root_depth"): 2}
PLATEAU = dict(accum_size=5, patience=2, cooldown=1, rtol=0.5)  # factor and min_scale: theirs
LR_FACTOR = 100.0
# A = a0 I + N(0, (sa / sqrt(D))^2), B = N(0, (sb / sqrt(cols))^2): spectral radius of A about a0 + sa, and
# outputs O(1) over T steps of their autoregressive feedback (sine, which has no final activation, overflows
# to NaN on some keys with 0.9, 0.3, 0.5, and with 0.85, 0.1, 0.3)
A_B = (0.85, 0.1, 0.15)


@dataclass(frozen=True)
class Case:
    config: str  # their config file, relative to the repository
    channels: int  # data_size as their loaders give it
    nb_classes: int | None = None
    edits: dict = field(default_factory=dict)  # (section, key) -> value, on top of SHRINK
    lr_factor: float = LR_FACTOR


CASES = {
    "mnist": Case("cfgs/wsm/mnist/mnist.yaml", 1),
    "mnist-stochastic": Case("cfgs/wsm/mnist/mnist.yaml", 1, edits={("training", "stochastic"): True}),
    "msd": Case("cfgs/wsm/msd/original.yaml", 2),
    "msd-zero": Case("cfgs/wsm/msd/zero.yaml", 2),
    "lv": Case("cfgs/wsm/lotka/lotka.yaml", 2),
    "sine": Case("cfgs/wsm/sine/sine_tiny.yaml", 1),
    "uea-scp1": Case("cfgs/wsm/uea/scp1.yaml", 6, nb_classes=2),
    # their loaders: data_size = data_dim + 1 (the inputs carry the outputs' column)
    "icl": Case("cfgs/wsm/icl/icl.yaml", 3 + 1, edits={("data", "data_dim"): 3, ("data", "sequence_length"): T}),
}


def shrunk_config(repo: str, case: Case) -> tuple[dict, dict]:
    """Their config with SHRINK, the case's edits and the harness optimiser; and the optimiser record."""
    import yaml

    with open(os.path.join(repo, case.config)) as f:
        original = yaml.safe_load(f)
    config = copy.deepcopy(original)
    for (section, key), value in {**SHRINK, **case.edits}.items():
        config[section][key] = value
    training = config["training"]
    if training.get("nb_recons_loss_steps") is not None:
        training["nb_recons_loss_steps"] = min(training["nb_recons_loss_steps"], 20)
    if training.get("inference_start") is not None:
        training["inference_start"] = min(training["inference_start"], 20)
    optimizer = config["optimizer"]
    theirs = copy.deepcopy(optimizer)
    optimizer["init_lr"] = theirs["init_lr"] * case.lr_factor
    optimizer["on_plateau"].update(PLATEAU)
    record = dict(
        structure="optax.chain(clip(gradients_lim), adabelief(init_lr), contrib.reduce_on_plateau(...)), "
        "built by their main.py from config['optimizer']",
        used=copy.deepcopy(optimizer),
        their_file=theirs,
        init_lr_factor=case.lr_factor,
    )
    return config, record


def call_path(model) -> str:
    """The method of their WSM that model(x, ts, key, inference_start=None) runs."""
    if model.classification or not model.ar_train:
        return "non_ar_call"
    return "ar_call_stochastic" if model.stochastic_ar else "ar_call"


def named(tree) -> dict[str, object]:
    """The arrays of a WSM-shaped tree (the model, its gradients) under the npz names (without prefix)."""
    import equinox as eqx

    out = {"A": tree.As[0], "B": tree.Bs[0]}
    theta = tree.thetas_init[0]
    if isinstance(theta, eqx.Module):  # their GradualMLP
        linears = [layer for layer in theta.layers if isinstance(layer, eqx.nn.Linear)]
        for k, layer in enumerate(linears):
            out[f"hyper/{k}/weight"] = layer.weight
            out[f"hyper/{k}/bias"] = layer.bias
    else:
        out["theta_init"] = theta
    if tree.dtanh_params is not None:
        out["dtanh"] = tree.dtanh_params
    return out


def as_numpy(arrays: dict, prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}/{name}": np.asarray(value) for name, value in arrays.items()}


def check_named(model) -> None:
    """Every array of the model is under a name, once."""
    import equinox as eqx

    leaves = jax.tree.leaves(eqx.filter(model, eqx.is_array))
    names = named(model)
    if sorted(map(id, leaves)) != sorted(map(id, names.values())):
        raise AssertionError(f"named() misses arrays: {len(leaves)} leaves, {len(names)} names")


def randomise(model, rng: np.random.Generator):
    """Non-trivial A and B in place of their I and 0 (see ``A_B``), rounded to multiples of 2^-16: exact in
    float32 too, and the npz compresses."""
    import equinox as eqx
    import jax.numpy as jnp

    a0, sa, sb = A_B
    D, cols = model.Bs[0].shape
    A = grid(a0 * np.eye(D) + rng.normal(0.0, sa / np.sqrt(D), (D, D)), 16)
    B = grid(rng.normal(0.0, sb / np.sqrt(cols), (D, cols)), 16)
    return eqx.tree_at(lambda m: (m.As[0], m.Bs[0]), model, (jnp.asarray(A), jnp.asarray(B)))


def grid(values: np.ndarray, bits: int) -> np.ndarray:
    """``values`` rounded to multiples of 2^-bits (float64)."""
    return np.round(np.asarray(values, np.float64) * 2.0**bits) / 2.0**bits


def draws(key, batch: int, C: int, p: float, n: int | None) -> dict[str, np.ndarray]:
    """The random values their WSM call and loss_fn draw from ``key`` (see the module docstring)."""
    import jax.numpy as jnp

    ks = jax.random.split(key, batch)
    keys = jax.vmap(lambda k: jax.random.split(k, T))(ks)  # (batch, T, 2)
    each = jax.vmap(jax.vmap(lambda k: (jax.random.bernoulli(k, p), jax.random.normal(k, (C,)))))
    feed, normal = each(keys)
    out = {"feed": np.asarray(feed), "normal": np.asarray(normal)}
    if n is not None:
        out["steps"] = np.asarray(jax.random.randint(key, (batch, n), 0, T))
    assert out["feed"].dtype == np.bool_ and out["normal"].dtype == np.float64 and jnp.ndim(feed) == 2
    return out


def verify_draws(key, batch: int, C: int, p: float, vectorised: dict) -> None:
    """The vmapped draws equal the same calls made one key at a time, and bernoulli(k, p) equals
    uniform(k, (), float64) < p."""
    ks = jax.random.split(key, batch)
    for b in range(batch):
        keys = jax.random.split(ks[b], T)
        for t in range(T):
            feed = bool(jax.random.bernoulli(keys[t], p))
            uniform = float(jax.random.uniform(keys[t], (), np.float64))
            normal = np.asarray(jax.random.normal(keys[t], (C,)))
            if feed != vectorised["feed"][b, t] or feed != (uniform < p):
                raise AssertionError(f"feed draw differs at b={b} t={t}")
            if not np.array_equal(normal, vectorised["normal"][b, t]):
                raise AssertionError(f"normal draw differs at b={b} t={t}")


def inputs(rng: np.random.Generator, shape) -> np.ndarray:
    """Standard normal values clipped to [-2, 2], times 0.5, rounded to multiples of 2^-12."""
    return grid(rng.standard_normal(shape).clip(-2.0, 2.0) * 0.5, 12)


def run_case(repo: str, name: str, steps: int, verify: bool) -> tuple[dict[str, np.ndarray], dict]:
    import equinox as eqx

    case = CASES[name]
    config, optimiser = shrunk_config(repo, case)
    model, ns = authors.build(repo, config, case.channels, case.nb_classes)
    loss_fn, train_step, opt = ns["loss_fn"], ns["train_step"], ns["opt"]
    classification = bool(ns["classification"])
    repeat = ns["dataset"] in ns["repeat_datasets"]
    n = ns["nb_recons_loss_steps"]
    C = case.channels
    path = call_path(model)

    rng = np.random.default_rng(0)
    model = randomise(model, rng)
    check_named(model)
    D = int(model.As[0].shape[0])

    ts = np.broadcast_to(np.linspace(0.0, 1.0, T)[None, :, None], (BATCH, T, 1)).copy()

    def make_batch(rng):
        x = inputs(rng, (BATCH, T, C))
        if classification:
            y = rng.integers(0, case.nb_classes, BATCH)
        elif repeat:  # X_true_out: an array of its own, not the input
            y = inputs(rng, (BATCH, T, config["model"].get("root_output_dim") or C))
        else:  # their non-repeat loaders give labels (arange), which loss_fn does not read
            y = np.arange(BATCH)
        return x, y

    x, y = make_batch(rng)
    batch = ((x, ts), y)
    p = float(model.forcing_prob)
    key_loss, key_infer = jax.random.PRNGKey(KEY_LOSS), jax.random.PRNGKey(KEY_INFER)

    out: dict[str, np.ndarray] = {}
    out.update(as_numpy(named(model), "param"))
    out["x"], out["ts"] = x, ts
    if classification:
        out["labels"] = y
    elif repeat:
        out["target"] = y
    out["key/loss"], out["key/infer"] = np.asarray(key_loss), np.asarray(key_infer)
    loss_draws = draws(key_loss, BATCH, C, p, n)
    if verify:
        verify_draws(key_loss, BATCH, C, p, loss_draws)
    out.update(as_numpy(loss_draws, "draw"))

    out["out/train"] = np.asarray(model(x, ts, key_loss, inference_start=None))
    s = config["training"].get("inference_start")
    ar_inference = not classification and s is not None and path != "non_ar_call"
    if ar_inference:
        out["out/infer"] = np.asarray(model(x, ts, key_infer, inference_start=s))
        out.update(as_numpy(draws(key_infer, BATCH, C, p, None), "draw_infer"))
        out["infer/teacher"] = ts[..., 0] <= s / T

    (loss, _aux), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model, batch, key_loss)
    out["loss"] = np.asarray(loss)
    out.update(as_numpy(named(grads), "grad"))

    opt_state = opt.init(eqx.filter(model, eqx.is_array))
    model1, state1, loss1, _ = train_step(model, batch, opt_state, key_loss)
    out.update(as_numpy(named(model1), "step1"))
    out["step1/loss"] = np.asarray(loss1)
    out["step1/scale"] = np.asarray(authors_scale(state1), np.float64)  # float32 in their state: exact

    train = [make_batch(rng) for _ in range(K_BATCHES)]
    out["train/x"] = np.stack([b[0] for b in train])
    if classification:
        out["train/labels"] = np.stack([b[1] for b in train])
    elif repeat:
        out["train/target"] = np.stack([b[1] for b in train])
    record = {"feed": [], "normal": [], "steps": [], "loss": [], "aux": [], "scale": []}
    current, opt_state = model, opt.init(eqx.filter(model, eqx.is_array))
    for k in range(steps):
        xk, yk = train[k % K_BATCHES]
        key = jax.random.PRNGKey(KEY_TRAIN0 + k)
        current, opt_state, loss_k, aux_k = train_step(current, ((xk, ts), yk), opt_state, key)
        d = draws(key, BATCH, C, p, n)
        record["feed"].append(d["feed"])
        record["normal"].append(d["normal"])
        if n is not None:
            record["steps"].append(d["steps"])
        record["loss"].append(float(loss_k))
        record["aux"].append(float(aux_k[0]))
        record["scale"].append(float(authors_scale(opt_state)))
    out["train/feed"] = np.stack(record["feed"])
    if path == "ar_call_stochastic":
        out["train/normal"] = np.stack(record["normal"])
    if n is not None:
        out["train/steps"] = np.stack(record["steps"])
    for what in ("loss", "aux", "scale"):
        out[f"train/{what}"] = np.asarray(record[what], np.float64)
    out.update(as_numpy(named(current), "final"))

    shapes = [tuple(int(d) for d in s) for s in model.root_utils[0][0]]
    out["root_shapes"] = np.array([list(s) + [-1] * (2 - len(s)) for s in shapes], np.int64)
    hidden = [int(v.shape[0]) for k, v in named(model).items() if k.startswith("hyper/") and k.endswith("bias")]
    commit, dirty = authors.commit_of(repo)
    used = sorted(
        ["feed"] * (path != "non_ar_call")
        + ["normal"] * (path == "ar_call_stochastic")
        + ["steps"] * (n is not None and not classification)
    )
    meta = dict(
        case=name,
        config_file=case.config,
        config=config,
        data_size=C,
        T=T,
        batch=BATCH,
        nb_classes=case.nb_classes,
        D_theta=D,
        call_path=path,
        inference_path=("ar_call_stochastic" if model.stochastic_ar else "ar_call") if ar_inference else None,
        inference_start=s if ar_inference else None,
        smooth_inference=bool(model.smooth_inference),
        use_nll_loss=bool(ns["use_nll_loss"]),
        nb_recons_loss_steps=n,
        repeat_dataset=repeat,
        classification=classification,
        forcing_prob=p,
        draws_used_in_training=used,
        hypernetwork_sizes=hidden[:-1] if hidden else None,  # hidden layers; the last is D
        hypernetwork_layers=len(hidden) if hidden else None,
        root_shapes=shapes,
        root_props=[v if isinstance(v, int) else getattr(v, "__name__", str(v)) for v in model.root_utils[0][3]],
        optimizer=optimiser,
        seeds=dict(
            model_key="split(PRNGKey(config.general.seed), 3)[0], as main.py",
            numpy="default_rng(0): A, B, x, y, then the K training batches",
            key_loss=KEY_LOSS,
            key_infer=KEY_INFER,
            train_keys=f"PRNGKey({KEY_TRAIN0} + k)",
        ),
        randomisation=dict(
            A=f"{A_B[0]} I + N(0, ({A_B[1]}/sqrt(D))^2), rounded to multiples of 2^-16",
            B=f"N(0, ({A_B[2]}/sqrt(cols))^2), rounded to multiples of 2^-16",
            theta_0="as their make_model builds it (theta_init or the hypernetwork)",
            inputs="x, target: clip(N(0, 1), -2, 2) * 0.5 rounded to multiples of 2^-12; labels uniform",
            spectral_radius_A=float(np.abs(np.linalg.eigvals(out["param/A"])).max()),
        ),
        steps=steps,
        K_batches=K_BATCHES,
        commit=commit,
        dirty=dirty,
        versions=authors.versions(),
    )
    out["meta"] = np.array(json.dumps(meta))
    for key, value in out.items():
        if value.dtype.kind == "f" and value.dtype != np.float64:
            raise AssertionError(f"{name}: {key} is {value.dtype}")
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise AssertionError(f"{name}: {key} is not finite")
    return out, meta


def authors_scale(opt_state) -> float:
    """reduce_on_plateau's scale, read from the state as their main.py reads it."""
    import optax

    return optax.tree_utils.tree_get(opt_state, "scale")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, help="a clone of github.com/ddrous/warp (commit bde9a5d)")
    parser.add_argument("--out", required=True, help="folder for the NAME.npz files")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--steps", type=int, default=100, help="training steps (default 100)")
    parser.add_argument("--no-verify", action="store_true", help="skip the one-key-at-a-time check of the draws")
    args = parser.parse_args(argv)
    repo = os.path.abspath(args.repo)
    os.makedirs(args.out, exist_ok=True)
    for name in args.cases:
        arrays, meta = run_case(repo, name, args.steps, verify=not args.no_verify)
        path = os.path.join(args.out, f"{name}.npz")
        np.savez_compressed(path, **arrays)
        loss = arrays["train/loss"]
        summary = dict(
            case=name,
            D_theta=meta["D_theta"],
            path=meta["call_path"],
            nll=meta["use_nll_loss"],
            n=meta["nb_recons_loss_steps"],
            loss=float(arrays["loss"]),
            train_loss_first=float(loss[0]),
            train_loss_last=float(loss[-1]),
            scale_last=float(arrays["train/scale"][-1]),
            kb=round(os.path.getsize(path) / 1024, 1),
        )
        print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
