"""The authors' JAX training step of WARP, timed on random data of a case's shapes (one JSON line).

    python benchmarks/authors.py --repo PATH --case mnist-ar            # B 128, T 784, D_theta 1,298
    python benchmarks/authors.py --repo PATH --case msd-ar --batch 32   # T 256, D_theta 4,898
    python benchmarks/authors.py --repo PATH --quick                    # tiny batch and T: a smoke run

It runs in the authors' environment, not ours (it imports no torch and no warprnn). ``PATH`` is a clone of
their repository, which is never copied into this one; the issue measured commit bde9a5d:

    git clone https://github.com/ddrous/warp PATH && git -C PATH checkout bde9a5d
    python -m venv VENV
    VENV/bin/pip install jax==0.4.35 jaxlib==0.4.35 equinox==0.11.8 optax==0.2.3 numpy==1.26.3 \\
        scipy==1.11.4 scikit-learn==1.4.1.post1 matplotlib==3.8.2 pyyaml==6.0.1

(their ``requirements.txt`` versions; scipy, scikit-learn and matplotlib only because their ``utils.py``
imports them). ``benchmarks/run.py --authors PATH --authors-python VENV/bin/python`` runs this script
alternately with our step and prints the ratio.

What of theirs is used, at run time, from ``PATH``: the case's config file (``cfgs/wsm/mnist/mnist.yaml``,
``cfgs/wsm/msd/original.yaml``); ``models.make_model``, which builds their ``WSM`` from it; and from
``main.py``, which is a script and cannot be imported, the definitions of ``loss_fn`` and ``train_step``
(``eqx.filter_jit``), the optimiser ``opt`` (clipping, AdaBelief, reduce-on-plateau) and the module-level
names they read (``classification``, ``dataset``, ``repeat_datasets``, ``nb_recons_loss_steps``,
``use_nll_loss``), taken out of its syntax tree and executed alone, without the rest of the script (data
loading, plots, run folders). One key is added to their config: ``model.positional_encoding: null`` where
it is absent, as their loaders read it (their ``make_model`` reads the absent key as ``False`` and fails).
The inputs are random: ``(batch, T, channels)`` values, the times ``linspace(0, 1, T)`` per sequence as
their loaders give them, integer labels, fed as numpy arrays with a fresh key per step as their training
loop does.

Printed last, one JSON line: the seconds of each timed step (``steps``) and their mean (``step``, as
``run.py``'s ``step``), the first call's seconds (``first_s``: tracing, compilation and one step, not in
``steps``), the shapes and trainable parameters, their commit (``dirty``: tracked files modified), the versions and the device.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

os.environ.setdefault("MPLBACKEND", "Agg")  # their utils.py imports pyplot


@dataclass(frozen=True)
class AuthorsCase:
    config: str  # their config file, relative to the repository
    channels: int  # data_size: their loaders give it, not the config
    batch: int  # our case's batch (run.py's CASES)
    T: int
    quick: tuple[int, int]  # (batch, T) of run.py --quick


CASES = {
    "mnist-ar": AuthorsCase("cfgs/wsm/mnist/mnist.yaml", 1, 128, 784, (8, 64)),
    "msd-ar": AuthorsCase("cfgs/wsm/msd/original.yaml", 2, 32, 256, (2, 16)),
}
# main.py's module-level names that loss_fn, train_step and the optimiser read
FROM_MAIN = ("classification", "dataset", "repeat_datasets", "nb_recons_loss_steps", "use_nll_loss", "opt")
FUNCTIONS = ("loss_fn", "train_step")


def definitions(source: str, names=FROM_MAIN + FUNCTIONS) -> list[ast.stmt]:
    """The statements of ``source`` that assign or define each of ``names`` (at any depth: ``opt`` is
    assigned under ``if train:``), in the order they appear; each name exactly once."""
    found: dict[str, list[ast.stmt]] = {name: [] for name in names}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name in found:
            found[node.name].append(node)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in found:
                found[target.id].append(node)
    wrong = {name: len(nodes) for name, nodes in found.items() if len(nodes) != 1}
    if wrong:
        raise LookupError(f"main.py: expected one definition of each name, found {wrong}")
    return sorted((nodes[0] for nodes in found.values()), key=lambda node: node.lineno)


def commit_of(repo: str) -> tuple[str, bool]:
    """The checked-out commit of ``repo`` and whether tracked files differ from it ("unknown" outside git)."""

    def git(*args):
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "HEAD")
    return (commit or "unknown"), bool(git("status", "--porcelain", "--untracked-files=no"))


def load(repo: str, case: AuthorsCase):
    """Their config, their model built from it by ``models.make_model`` and the namespace holding their
    ``train_step``, ``opt`` and the rest of ``FROM_MAIN``."""
    import yaml

    with open(os.path.join(repo, case.config)) as f:
        config = yaml.safe_load(f)
    return (config, *build(repo, config, case.channels))


def build(repo: str, config: dict, channels: int, nb_classes: int | None = None):
    """Their model from ``config`` (a dict as their config files hold, which may have been edited) built by
    ``models.make_model`` with ``channels`` (their loaders' ``data_size``) and ``nb_classes`` (``None``: a
    regression model), and the namespace holding main.py's ``loss_fn``, ``train_step``, ``opt`` and the rest of
    ``FROM_MAIN``, executed with this ``config`` (``opt`` is built from its ``optimizer`` section)."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import optax

    sys.dont_write_bytecode = True  # leaves their clone as it was
    if repo not in sys.path:
        sys.path.insert(0, repo)
    import models

    # make_model reads an absent model.positional_encoding as False, which fails (False[0]) at bde9a5d with
    # every config used here; their loaders read it as None (no encoding), which is what is passed
    config["model"].setdefault("positional_encoding", None)
    model_key = jax.random.split(jax.random.PRNGKey(config["general"]["seed"]), num=3)[0]  # as main.py
    model = models.make_model(model_key, channels, nb_classes, config, logging.getLogger("authors"))
    main_py = os.path.join(repo, "main.py")
    with open(main_py) as f:
        code = compile(ast.Module(body=definitions(f.read()), type_ignores=[]), main_py, "exec")
    namespace = dict(jax=jax, jnp=jnp, eqx=eqx, optax=optax, config=config, data_size=channels)
    exec(code, namespace)
    return model, namespace


def random_batch(batch: int, T: int, channels: int):
    """``((xs, times), labels)`` as their loaders give it: ``(batch, T, C)``, ``(batch, T, 1)``, ``(batch,)``."""
    import numpy as np

    rng = np.random.default_rng(0)
    xs = rng.standard_normal((batch, T, channels)).clip(-3, 3).astype(np.float32)
    times = np.broadcast_to(np.linspace(0.0, 1.0, T)[None, :, None], (batch, T, 1)).copy()
    return (xs, times), np.arange(batch)


def time_steps(namespace: dict, model, batch, repeats: int, seed: int) -> tuple[float, list[float]]:
    """The first call of their ``train_step`` (compilation and one step) and ``repeats`` timed calls after
    it, each until its results are ready; the key is split before each step as in their loop."""
    import equinox as eqx
    import jax

    train_step, opt = namespace["train_step"], namespace["opt"]
    opt_state = opt.init(eqx.filter(model, eqx.is_array))
    key = jax.random.split(jax.random.PRNGKey(seed), num=3)[1]
    seconds = []
    for _ in range(repeats + 1):
        key, _ = jax.random.split(key)
        start = time.perf_counter()
        model, opt_state, loss, _aux = train_step(model, batch, opt_state, key)
        jax.block_until_ready(eqx.filter((model, opt_state, loss), eqx.is_array))
        seconds.append(time.perf_counter() - start)
    return seconds[0], seconds[1:]


def versions() -> dict:
    import equinox
    import jax
    import jaxlib
    import optax

    return dict(jax=jax.__version__, jaxlib=jaxlib.__version__, equinox=equinox.__version__, optax=optax.__version__)


def measure(repo: str, name: str, batch: int, T: int, repeats: int) -> dict:
    """One JSON-ready result: their step on ``name``'s model at ``(batch, T)``."""
    import equinox as eqx
    import jax

    case = CASES[name]
    config, model, namespace = load(repo, case)
    first, steps = time_steps(
        namespace, model, random_batch(batch, T, case.channels), repeats, config["general"]["seed"]
    )
    commit, dirty = commit_of(repo)
    return dict(
        source="authors",
        case=name,
        config=case.config,
        commit=commit,
        dirty=dirty,
        batch=batch,
        T=T,
        channels=case.channels,
        D=int(model.As[0].shape[0]),
        params=sum(leaf.size for leaf in jax.tree.leaves(eqx.filter(model, eqx.is_array))),
        loss_steps=namespace["nb_recons_loss_steps"],
        repeats=repeats,
        steps=steps,
        step=statistics.fmean(steps),
        median=statistics.median(steps),
        first_s=first,
        max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        device=str(jax.devices()[0]),
        **versions(),
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, help="a clone of github.com/ddrous/warp")
    parser.add_argument("--case", choices=list(CASES), default="mnist-ar")
    parser.add_argument("--batch", type=int, default=None, help="default: our case's (mnist-ar 128, msd-ar 32)")
    parser.add_argument("--T", type=int, default=None, help="sequence length (default: the case's, 784 or 256)")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps after the first (default 2, quick 1)")
    parser.add_argument("--quick", action="store_true", help="tiny batch and T (run.py --quick's): a smoke run")
    args = parser.parse_args(argv)
    case = CASES[args.case]
    batch, T = case.quick if args.quick else (case.batch, case.T)
    repeats = args.repeats or (1 if args.quick else 2)
    result = measure(os.path.abspath(args.repo), args.case, args.batch or batch, args.T or T, repeats)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
