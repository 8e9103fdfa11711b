"""Conformance: warprnn's WARP under ``semantics="authors"`` against the authors' JAX code, in float64.

    python benchmarks/conformance.py --repo PATH --authors-python VENV/bin/python     # their numbers, then ours
    python benchmarks/conformance.py --npz DIR                                       # compare saved numbers only
    python benchmarks/conformance.py --repo PATH --authors-python VENV/bin/python --save-fixtures tests/fixtures/authors

``PATH`` is a clone of github.com/ddrous/warp at bde9a5d and ``VENV`` a venv with their pinned versions
(``benchmarks/authors.py`` says how). ``conformance_authors.py`` runs in their venv and writes one npz per
case (their config files shrunk to tiny models, A and B random and non-trivial: its docstring lists the cases
and every array); this script, in ours, loads every parameter of theirs into a ``WARP`` built from their
config (``warp_config``) and recomputes, with their random draws fed in (which steps are fed the data, the
sampled feedback's normals, the loss steps):

    train     the output of their training call (autoregressive with their feeding draws, or teacher-forced)
    infer     the autoregressive forecast after their inference_start (regression cases)
    loss      their loss_fn on that output; grad/<name> the gradient of every parameter
    step1     every parameter after one step of their optimiser (value clip, AdaBelief, reduce_on_plateau)
    train100  the loss after each of 100 steps on 4 batches, the plateau's scale, and the final parameters

and prints one row per quantity: case, quantity, max abs and max relative difference (relative to the
largest entry of theirs), and ``equal`` when within 1e-10 (1e-8 for the 100-step rows, whose rounding
errors compound). ``--save-fixtures DIR`` copies the npz of ``FIXTURES`` into DIR, numbers only, for
``tests/test_conformance.py``, which runs ``compare`` without JAX or their code.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from warprnn import WARP, WarpConfig, authors
from warprnn.authors import AUTHORS, Choices
from warprnn.data import Split
from warprnn.training.evaluation import compute_loss
from warprnn.training.optimizers import AdaBelief, StepPlateau

HERE = Path(__file__).resolve().parent
TOLERANCE, CURVE_TOLERANCE = 1e-10, 1e-8
FIXTURES = ("mnist", "msd", "lv")  # the golden cases CI checks (tests/test_conformance.py)


@dataclasses.dataclass
class Row:
    case: str
    quantity: str
    max_abs: float
    max_rel: float
    tolerance: float
    note: str = ""

    @property
    def equal(self) -> bool:
        return self.max_rel <= self.tolerance

    def line(self) -> str:
        verdict = "equal" if self.equal else ("" if self.note.startswith("not run") else "NOT EQUAL")
        return f"{self.case:<18}{self.quantity:<24}{self.max_abs:>12.3e}{self.max_rel:>12.3e}  {verdict} {self.note}"


def warp_config(meta: dict) -> WarpConfig:
    """Our ``WarpConfig`` of their shrunk config (``meta["config"]``): the map from their keys to ours that
    the README's table lists."""
    model, training = meta["config"]["model"], meta["config"]["training"]
    final = model["root_final_activation"]
    options = {}
    if isinstance(final, list):
        options = dict(final_activation="dtanh", dtanh_init=tuple(final))
    elif isinstance(final, (int, float)):
        options = dict(final_activation="clip", final_clip=float(final))
    elif final is not None:
        options = dict(final_activation=final)
    if meta["classification"]:
        head = dict(head="classification", num_classes=meta["nb_classes"])
    else:
        head = dict(head="gaussian" if meta["use_nll_loss"] else "point")
    layers = model["init_state_layers"]
    return WarpConfig(
        in_channels=meta["data_size"],
        root_width=model["root_width_size"],
        root_depth=model["root_depth"],
        root_activation=model["root_activation"],
        input_prev_obs=model["input_prev_data"],
        time_as_channel=model["time_as_channel"],
        theta_clip=model["weights_lim"],
        theta0="learned" if layers is None else "hypernet",
        hypernet_depth=0 if layers is None else layers,
        hypernet_activation=model["root_activation"],
        std_floor=model["std_lower_bound"] or 0.0,
        ar_feed="sample" if training["stochastic"] else "mean",
        semantics="authors",
        **head,
        **options,
    )


def unsupported(meta: dict) -> str | None:
    """Why a case cannot be run under our authors' semantics (None: it can)."""
    model = meta["config"]["model"]
    if model.get("root_output_dim") is not None:
        return f"their root predicts root_output_dim={model['root_output_dim']} of the {meta['data_size']} channels"
    if model.get("positional_encoding"):
        return "their positional encoding"
    if model.get("time_as_channel"):
        return "time_as_channel: their teacher-forced call puts time first in B, their autoregressive call last"
    return None


def parameters(npz, prefix: str) -> dict[str, torch.Tensor]:
    """Their parameters under ``prefix`` (``param``, ``grad``, ``step1``, ``final``) by our names."""
    names = {"A": "A", "B": "B", "theta_init": "theta_init", "dtanh": "dtanh"}
    hyper = sorted({k.split("/")[2] for k in npz.files if k.startswith(f"{prefix}/hyper/")}, key=int)
    for i, k in enumerate(hyper):
        ours = "hypernet.out" if i == len(hyper) - 1 else f"hypernet.hidden.{i}"
        names |= {f"hyper/{k}/weight": f"{ours}.weight", f"hyper/{k}/bias": f"{ours}.bias"}
    return {
        ours: torch.from_numpy(npz[f"{prefix}/{theirs}"])
        for theirs, ours in names.items()
        if f"{prefix}/{theirs}" in npz
    }


def build(npz, choices: Choices = AUTHORS) -> WARP:
    """Our WARP with every parameter of theirs loaded (float64)."""
    meta = json.loads(str(npz["meta"]))
    model = WARP(warp_config(meta), dtype=torch.float64, choices=choices)
    state = parameters(npz, "param")
    missing = set(dict(model.named_parameters())) - set(state)
    if missing:
        raise KeyError(f"{meta['case']}: no parameter of theirs for {sorted(missing)}")
    model.load_state_dict(state, strict=True)
    return model


def batch_of(npz, meta: dict, x: np.ndarray) -> Split:
    """Our ``Split`` of their batch: the input, and the loss target (their X_true_out, the labels, or x)."""
    x = torch.from_numpy(x)
    if meta["classification"]:
        y = torch.from_numpy(npz["labels"]).long()
    elif meta["repeat_dataset"]:
        y = torch.from_numpy(npz["target"])
    else:
        y = x
    return Split(x, y, torch.full((x.shape[0],), x.shape[1]))


def counts(steps: np.ndarray, T: int) -> torch.Tensor:
    """Their loss steps ``(batch, n)`` as the counts ``(batch, T)`` our loss weighs the steps by."""
    steps = torch.from_numpy(steps).long()
    return torch.zeros(steps.shape[0], T, dtype=torch.float64).scatter_add_(
        1, steps, torch.ones(steps.shape, dtype=torch.float64)
    )


def training_output(model: WARP, meta: dict, batch: Split, feed, normal):
    """The output of their training call: teacher-forced (``non_ar_call``), or autoregressive with their
    Bernoulli draws ``feed`` and, where their path samples, their normals."""
    if meta["call_path"] == "non_ar_call":
        return model(batch.x)
    noise = torch.from_numpy(normal) if meta["call_path"] == "ar_call_stochastic" else None
    theta, raw = authors.rollout(model, batch.x, batch.lengths, torch.from_numpy(feed), noise)
    return authors.output(model, raw, theta, torch.ones(batch.x.shape[:2], dtype=torch.bool), batch.lengths)


def loss_of(model: WARP, meta: dict, batch: Split, feed, normal, steps) -> torch.Tensor:
    """Our loss of their training call, on their loss steps."""
    out = training_output(model, meta, batch, feed, normal)
    loss = "ce" if meta["classification"] else ("nll" if meta["use_nll_loss"] else "mse")
    mask = None if steps is None or meta["classification"] else counts(steps, batch.x.shape[1])
    if mask is not None and not model.choices.reconstruct:  # ours: output t - 1 predicts step t
        mask = mask[:, 1:]
    return compute_loss(out, batch, loss, mask, model.choices)


def raw_of(out, meta: dict) -> torch.Tensor:
    """Their raw output layout: logits per step are not kept by us, so the last step's; [mean, std] with NLL."""
    if meta["classification"]:
        return out.logits
    return out.mean if out.std is None else torch.cat([out.mean, out.std], dim=-1)


def optimiser(model: WARP, meta: dict):
    """Their optimiser: value clip + AdaBelief, and reduce_on_plateau stepped per step."""
    o = meta["config"]["optimizer"]
    opt = AdaBelief(model.parameters(), lr=o["init_lr"], clip_value=o["gradients_lim"])
    p = o["on_plateau"]
    plateau = StepPlateau(
        opt,
        factor=p["factor"],
        patience=p["patience"],
        rtol=p["rtol"],
        cooldown=p["cooldown"],
        accumulation_size=p["accum_size"],
        min_scale=p["min_scale"],
    )
    return opt, plateau


def difference(case: str, quantity: str, ours, theirs, tolerance=TOLERANCE, note="") -> Row:
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        return Row(case, quantity, np.inf, np.inf, tolerance, f"shapes {ours.shape} vs {theirs.shape}")
    gap = float(np.abs(ours - theirs).max()) if ours.size else 0.0
    scale = float(np.abs(theirs).max()) if theirs.size else 0.0
    return Row(case, quantity, gap, gap / scale if scale > 0 else gap, tolerance, note)


def train_step(model: WARP, meta: dict, opt, plateau, batch: Split, feed, normal, steps) -> float:
    """One step of their ``train_step``: the loss and its gradient, the plateau fed the loss, the update."""
    opt.zero_grad()
    loss = loss_of(model, meta, batch, feed, normal, steps)
    loss.backward()
    plateau.step(loss.item())
    opt.step()
    return loss.item()


def draw(npz, name: str, k: int | None = None):
    """Their draw ``name`` (of training step k), or None where their path makes none."""
    return None if name not in npz else (npz[name] if k is None else npz[name][k])


def train_steps(model: WARP, npz, meta: dict, count: int) -> tuple[list[float], list[float]]:
    """``count`` steps of their training loop: batch k % K, their draws of step k. Returns the losses and
    the plateau's scales."""
    opt, plateau = optimiser(model, meta)
    K = npz["train/x"].shape[0]
    losses, scales = [], []
    for k in range(count):
        batch = batch_of(npz, meta, npz["train/x"][k % K])
        if meta["classification"]:
            batch = Split(batch.x, torch.from_numpy(npz["train/labels"][k % K]).long(), batch.lengths)
        elif meta["repeat_dataset"]:
            batch = Split(batch.x, torch.from_numpy(npz["train/target"][k % K]), batch.lengths)
        feed, normal, steps = (draw(npz, f"train/{name}", k) for name in ("feed", "normal", "steps"))
        losses.append(train_step(model, meta, opt, plateau, batch, feed, normal, steps))
        scales.append(float(plateau.scale))
    return losses, scales


def compare(npz, choices: Choices = AUTHORS, steps: int | None = None) -> list[Row]:
    """Every row of one case (an npz of ``conformance_authors.py``) under ``choices``; the training rows
    on the first ``steps`` steps (None: all of theirs; 0: none)."""
    meta = json.loads(str(npz["meta"]))
    case = meta["case"]
    why = unsupported(meta)
    if why is not None:
        return [Row(case, "all", np.nan, np.nan, TOLERANCE, f"not run: {why}")]  # the README says why
    model = build(npz, choices)
    batch = batch_of(npz, meta, npz["x"])
    feed, normal, loss_steps = (draw(npz, f"draw/{name}") for name in ("feed", "normal", "steps"))
    rows = []
    with torch.no_grad():
        out = training_output(model, meta, batch, feed, normal)
    theirs_train = npz["out/train"][:, -1] if meta["classification"] else npz["out/train"]
    rows.append(difference(case, f"train ({meta['call_path']})", raw_of(out, meta), theirs_train))
    if meta.get("inference_start") is not None:
        s = meta["inference_start"]
        teacher = torch.from_numpy(npz["infer/teacher"])
        assert bool((teacher == (torch.arange(batch.x.shape[1]) < s)).all()), "their inference feeds the context"
        if meta["smooth_inference"]:  # their inference feeds the mean back, whatever their training fed
            trained, model.config = model.config, dataclasses.replace(model.config, ar_feed="mean")
            with torch.no_grad():
                infer = model(batch.x, context=s)
            model.config = trained
            rows.append(difference(case, "infer (context)", raw_of(infer, meta), npz["out/infer"]))
        else:
            rows.append(Row(case, "infer", np.nan, np.nan, TOLERANCE, "not run: sampled inference"))
    model.zero_grad()
    loss = loss_of(model, meta, batch, feed, normal, loss_steps)
    loss.backward()
    rows.append(difference(case, "loss", loss.item(), npz["loss"]))
    theirs = parameters(npz, "grad")
    grads = {name: p.grad for name, p in model.named_parameters()}
    worst = max((difference(case, f"grad {n}", grads[n], theirs[n]) for n in grads), key=lambda r: r.max_rel)
    rows.append(dataclasses.replace(worst, quantity="grad (worst) " + worst.quantity.split()[-1]))
    model = build(npz, choices)
    train_step(model, meta, *optimiser(model, meta), batch, feed, normal, loss_steps)
    after = parameters(npz, "step1")
    state = dict(model.named_parameters())
    worst = max((difference(case, f"step1 {n}", state[n].detach(), after[n]) for n in after), key=lambda r: r.max_rel)
    rows.append(dataclasses.replace(worst, quantity="step1 (worst) " + worst.quantity.split()[-1]))
    count = len(npz["train/loss"]) if steps is None else steps
    if count == 0:
        return rows
    model = build(npz, choices)
    losses, scales = train_steps(model, npz, meta, count)
    rows.append(difference(case, f"train{count} loss curve", losses, npz["train/loss"][:count], CURVE_TOLERANCE))
    rows.append(difference(case, f"train{count} scale", scales, npz["train/scale"][:count], CURVE_TOLERANCE))
    if count == len(npz["train/loss"]):
        final = parameters(npz, "final")
        state = dict(model.named_parameters())
        worst = max(
            (difference(case, f"final {n}", state[n].detach(), final[n], CURVE_TOLERANCE) for n in final),
            key=lambda r: r.max_rel,
        )
        rows.append(dataclasses.replace(worst, quantity=f"train{count} params (worst) " + worst.quantity.split()[-1]))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", help="a clone of github.com/ddrous/warp at bde9a5d")
    parser.add_argument("--authors-python", help="the python of a venv with their pinned versions")
    parser.add_argument("--npz", help="compare the npz files in this folder (their numbers, already made)")
    parser.add_argument("--cases", nargs="*", help="the cases to run (default: all)")
    parser.add_argument("--save-fixtures", help=f"copy the npz of {', '.join(FIXTURES)} into this folder")
    args = parser.parse_args(argv)
    torch.set_default_dtype(torch.float64)
    if args.npz is None:
        if not (args.repo and args.authors_python):
            parser.error("give --repo and --authors-python (or --npz)")
        folder = Path(tempfile.mkdtemp(prefix="conformance-"))
        command = [args.authors_python, str(HERE / "conformance_authors.py"), "--repo", args.repo, "--out", str(folder)]
        subprocess.run(command + (["--cases", *args.cases] if args.cases else []), check=True)
    else:
        folder = Path(args.npz)
    files = sorted(folder.glob("*.npz"))
    if args.cases:
        files = [f for f in files if f.stem in args.cases]
    print(f"{'case':<18}{'quantity':<24}{'max abs':>12}{'max rel':>12}  verdict")
    rows = []
    for path in files:
        with np.load(path) as npz:
            case_rows = compare(npz)
        for row in case_rows:
            print(row.line(), flush=True)
        rows += case_rows
    if args.save_fixtures:
        target = Path(args.save_fixtures)
        target.mkdir(parents=True, exist_ok=True)
        for name in FIXTURES:
            shutil.copy(folder / f"{name}.npz", target / f"{name}.npz")
    return 0 if all(r.equal or r.note.startswith("not run") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
