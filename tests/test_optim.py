"""The authors' optimiser (``warprnn.training.optimizers``) against optax's own numbers, and in training.

``fixtures/optax_adabelief.npz`` is written by ``benchmarks/optax_reference.py`` (in a JAX environment):
``optax.chain(optax.clip(c), optax.adabelief(lr), optax.contrib.reduce_on_plateau(...))`` in float64 on a
fixed gradient and loss stream, for c = 1e-7 (most entries clipped) and c = 10 (none), with the parameters
and the plateau's scale after every step.
"""

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY
from warprnn.data import build_dataset
from warprnn.errors import TrainingInterrupted
from warprnn.training import build, load_experiment, loop, train
from warprnn.training.optimizers import AdaBelief, StepPlateau, clip_values
from warprnn.training.rundir import load_checkpoint

FIXTURE = Path(__file__).parent / "fixtures" / "optax_adabelief.npz"
TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as f:
        return {key: f[key] for key in f.files}


def tiny(tmp_path, *extra):
    return load_experiment("configs/msd-small.yaml", TINY + [f"train.out_dir={tmp_path}", "train.plots=false", *extra])


@pytest.fixture
def repo_root(monkeypatch):
    monkeypatch.chdir(os.path.dirname(os.path.dirname(__file__)))


def make(ref, case: int, clip_in_optimizer: bool = True, lr_b: float | None = None):
    """The two float64 parameters of the fixture, each in its own param group (the second at ``lr_b``,
    default the fixture's rate), our AdaBelief (clipping itself when ``clip_in_optimizer``) and StepPlateau."""
    params = [torch.tensor(ref["params0_a"], requires_grad=True), torch.tensor(ref["params0_b"], requires_grad=True)]
    lr = float(ref["lr"])
    optimizer = AdaBelief(
        [{"params": [params[0]]}, {"params": [params[1]], "lr": lr if lr_b is None else lr_b}],
        lr=lr,
        betas=(float(ref["b1"]), float(ref["b2"])),
        eps=float(ref["eps"]),
        eps_root=float(ref["eps_root"]),
        clip_value=float(ref["clip"][case]) if clip_in_optimizer else None,
    )
    scheduler = plateau(ref, optimizer)
    return params, optimizer, scheduler


def plateau(ref, optimizer) -> StepPlateau:
    return StepPlateau(
        optimizer,
        factor=float(ref["factor"]),
        patience=int(ref["patience"]),
        rtol=float(ref["rtol"]),
        atol=float(ref["atol"]),
        cooldown=int(ref["cooldown"]),
        accumulation_size=int(ref["accumulation_size"]),
        min_scale=float(ref["min_scale"]),
    )


def take_step(ref, case, t, params, optimizer, scheduler, clip_in_optimizer=True) -> None:
    """Step ``t`` as the authors' loop takes it: gradients, the loss to the plateau, then the update."""
    for p, key in zip(params, ("grads_a", "grads_b")):
        p.grad = torch.tensor(ref[key][t])
    if not clip_in_optimizer:
        clip_values(params, float(ref["clip"][case]))  # the training loop's clipping, for any optimiser
    scheduler.step(float(ref["losses"][t]))
    optimizer.step()


def test_the_fixture_exercises_clipping_and_the_plateau(ref):
    """The stream clips most entries at c = 1e-7 and none at c = 10; the scale falls four times to min_scale."""
    grads = np.concatenate([ref["grads_a"].ravel(), ref["grads_b"].ravel()])
    assert 0.2 < np.mean(np.abs(grads) > ref["clip"][0]) < 0.9 and np.abs(grads).max() < ref["clip"][1]
    for scale in ref["scale"]:
        assert len(set(scale.tolist())) == 5 and scale[-1] == np.float32(ref["min_scale"])
    # the two cases differ (clipping matters), so matching both is not matching one
    assert np.abs(ref["params_a"][0] - ref["params_a"][1]).max() > 1e-3


@pytest.mark.parametrize("case, clip_in_optimizer", [(0, True), (0, False), (1, True), (1, False)])
def test_adabelief_clip_and_plateau_match_optax_every_step(ref, case, clip_in_optimizer):
    params, optimizer, scheduler = make(ref, case, clip_in_optimizer)
    worst = 0.0
    for t in range(len(ref["losses"])):
        take_step(ref, case, t, params, optimizer, scheduler, clip_in_optimizer)
        for p, key in zip(params, ("params_a", "params_b")):
            worst = max(worst, (p.detach() - torch.tensor(ref[key][case, t])).abs().max().item())
        assert float(scheduler.scale) == ref["scale"][case, t], t  # float32 numbers, exactly
        assert [g["lr"] for g in optimizer.param_groups] == [float(ref["lr"]) * ref["scale"][case, t]] * 2
    print(f"\nmax |ours - optax| over 60 steps, case c = {ref['clip'][case]:g}: {worst:.3g}")
    assert worst <= TOLERANCE
    assert optimizer.state[params[0]]["step"] == len(ref["losses"])


def test_each_group_keeps_its_own_rate_under_the_plateau(ref):
    """A group at 3 times the rate (WARP's A has its own): every step of it is 3 times optax's."""
    params, optimizer, scheduler = make(ref, 0, lr_b=3 * float(ref["lr"]))
    for t in range(len(ref["losses"])):
        take_step(ref, 0, t, params, optimizer, scheduler)
        moved = params[1].detach() - torch.tensor(ref["params0_b"])
        expected = 3 * torch.tensor(ref["params_b"][0, t] - ref["params0_b"])
        assert (moved - expected).abs().max().item() <= TOLERANCE
    assert optimizer.param_groups[1]["lr"] == pytest.approx(3 * float(ref["lr"]) * ref["scale"][0, -1], rel=1e-15)


@pytest.mark.parametrize("stop", [25, 31])  # in the middle of a window of 3 losses; in a cooldown
def test_state_dicts_saved_mid_stream_continue_identically(ref, stop):
    params, optimizer, scheduler = make(ref, 0)
    for t in range(stop):
        take_step(ref, 0, t, params, optimizer, scheduler)
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)  # as checkpoints are read: plain values only
    fresh = [p.detach().clone().requires_grad_() for p in params]
    optimizer2 = AdaBelief(
        [{"params": [fresh[0]]}, {"params": [fresh[1]]}],
        lr=1.0,  # wrong on purpose: the state restores the rates
        eps=float(ref["eps"]),
        eps_root=float(ref["eps_root"]),
        clip_value=float(ref["clip"][0]),
    )
    scheduler2 = plateau(ref, optimizer2)
    optimizer2.load_state_dict(saved["optimizer"])
    scheduler2.load_state_dict(saved["scheduler"])
    assert scheduler2.state_dict() == scheduler.state_dict()
    for t in range(stop, len(ref["losses"])):
        take_step(ref, 0, t, params, optimizer, scheduler)
        take_step(ref, 0, t, fresh, optimizer2, scheduler2)
        assert all(torch.equal(p, q) for p, q in zip(params, fresh)), t
        assert float(scheduler2.scale) == ref["scale"][0, t]
    assert (fresh[0].detach() - torch.tensor(ref["params_a"][0, -1])).abs().max().item() <= TOLERANCE


def test_the_prediction_error_is_against_the_previous_mean_as_in_optax(ref):
    """optax measures the prediction error against the previous mean; against the updated one (the paper's
    and ``adabelief-pytorch``'s) the first step alone already differs: the fixture tells them apart."""
    params, optimizer, scheduler = make(ref, 1)
    take_step(ref, 1, 0, params, optimizer, scheduler)
    g = torch.tensor(ref["grads_a"][0])
    b1, b2, lr, eps, eps_root = (float(ref[k]) for k in ("b1", "b2", "lr", "eps", "eps_root"))
    m = (1 - b1) * g
    s = (1 - b2) * (g - m) ** 2 + eps_root  # the paper's: against the updated mean
    other = torch.tensor(ref["params0_a"]) - lr * (m / (1 - b1)) / ((s / (1 - b2)).sqrt() + eps)
    assert (other - torch.tensor(ref["params_a"][1, 0])).abs().max().item() > 1e-4
    assert (params[0].detach() - torch.tensor(ref["params_a"][1, 0])).abs().max().item() <= TOLERANCE


def test_plateau_rtol_and_floor():
    """A window whose mean is better by less than rtol is no improvement; the scale stops at min_scale."""
    p = torch.zeros(1, requires_grad=True)
    scheduler = StepPlateau(torch.optim.SGD([p], lr=2.0), factor=0.5, patience=1, rtol=0.1, min_scale=0.3)
    for loss in (1.0, 0.95):  # the best, then 5% better: no improvement, and patience 1: halved
        scheduler.step(loss)
    assert scheduler.scale == 0.5 and not scheduler.at_floor()
    scheduler.step(0.8)  # 20% better than the best, 1.0: an improvement
    assert scheduler.scale == 0.5 and scheduler.best == np.float32(0.8)
    scheduler.step(0.8)  # no improvement: max(0.25, min_scale)
    assert scheduler.scale == np.float32(0.3) and scheduler.at_floor()
    assert scheduler.optimizer.param_groups[0]["lr"] == 2.0 * float(np.float32(0.3))


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["optim.clip_value=0"], r"optim.clip_value: expected a positive number or null, got 0"),
        (["optim.clip_value=-1e-7"], r"optim.clip_value: expected a positive number or null, got -1e-07"),
        (["optim.name=adabelief", "optim.weight_decay=0.01"], r"optim.weight_decay: adabelief has no weight decay"),
        (["optim.plateau_rtol=0"], r"optim.plateau_rtol: expected a number in \(0, 1\], got 0"),
        (["optim.plateau_rtol=1.5"], r"optim.plateau_rtol: expected a number in \(0, 1\], got 1.5"),
        (["optim.plateau_cooldown=-1"], r"optim.plateau_cooldown: expected an integer >= 0, got -1"),
        (["optim.plateau_accumulation=0"], r"optim.plateau_accumulation: expected an integer >= 1, got 0"),
        (
            ["optim.scheduler=plateau-steps", "optim.lr=1e-4", "optim.min_lr=1e-3"],
            r"optim.min_lr: under plateau-steps min_lr / lr \(the authors' min_scale\) must be <= 1",
        ),
        (["optim.name=adagrad"], r"optim.name: expected one of \['adam', 'adamw', 'adabelief'\], got 'adagrad'"),
    ],
)
def test_bad_optimiser_options_name_the_option(overrides, match):
    with pytest.raises(ValueError, match=match):
        load_experiment(None, overrides)


def test_good_optimiser_options_load():
    o = load_experiment(
        None, ["optim.name=adabelief", "optim.clip_value=1e-7", "optim.scheduler=plateau-steps", "optim.min_lr=1e-3"]
    ).optim
    assert (o.name, o.clip_value, o.scheduler, o.plateau_rtol, o.plateau_cooldown, o.plateau_accumulation) == (
        "adabelief",
        1e-7,
        "plateau-steps",
        1e-4,
        0,
        1,
    )


AUTHORS = [
    "optim.name=adabelief",
    "optim.clip_value=1e-7",
    "optim.grad_clip=0",
    "optim.scheduler=plateau-steps",
    "optim.plateau_factor=0.5",
    "optim.plateau_patience=1",
    "optim.plateau_rtol=0.5",  # a window must halve the best loss: the scale falls at every window
    "optim.plateau_accumulation=2",  # windows of 2 steps over epochs of 3: one window spans two epochs
    "optim.min_lr=1e-6",
]


def test_build_optimizer_makes_adabelief_and_the_step_plateau(tmp_path, repo_root):
    config = tiny(tmp_path, *AUTHORS, "optim.lr_A=2e-4")
    model = build.build_model(config, build_dataset(config.data), torch.device("cpu"))
    optimizer, scheduler = build.build_optimizer(config, model)
    assert isinstance(optimizer, AdaBelief) and isinstance(scheduler, StepPlateau)
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, 2e-4] and scheduler.base_lrs == [1e-3, 2e-4]
    assert (scheduler.factor, scheduler.patience, scheduler.rtol, scheduler.cooldown) == (0.5, 1, 0.5, 0)
    assert scheduler.accumulation_size == 2 and scheduler.min_scale == pytest.approx(1e-3)
    before = scheduler.state_dict()
    loop.step_schedule(scheduler, 1.0, None)  # the per-epoch schedule leaves plateau-steps alone
    assert scheduler.state_dict() == before
    build.scale_learning_rates(optimizer, scheduler, 0.5)  # a rollback scales the base rates it keeps
    scheduler.step(1.0)
    assert [g["lr"] for g in optimizer.param_groups] == [5e-4, 1e-4]


def test_value_clipping_comes_first_for_adam_too(tmp_path, repo_root, monkeypatch):
    """With Adam, the loop clamps every gradient entry to clip_value before the norm clip and the step."""
    seen = []
    real = torch.nn.utils.clip_grad_norm_

    def norm_clip(parameters, max_norm, *args, **kwargs):
        parameters = list(parameters)
        seen.append(max(p.grad.abs().max().item() for p in parameters if p.grad is not None))
        return real(parameters, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", norm_clip)
    train(tiny(tmp_path, "optim.clip_value=1e-3", "optim.grad_clip=1.0", "train.epochs=1"))
    assert seen == [float(np.float32(1e-3))] * 3  # some entry at the bound (float32), none above it


def test_the_loop_steps_the_plateau_before_each_step_with_its_batch_loss(tmp_path, repo_root, monkeypatch):
    """As optax, the scale a step's loss sets applies to that step: at each optimiser step the plateau has
    just taken the step's loss (windows of 2: 1, 2 = a window ended, 1), the whole batch's."""
    made, seen, losses = [], [], []
    real_build, real_step = loop.build_optimizer, StepPlateau.step

    def building(*args):
        made.append(real_build(*args))
        return made[-1]

    def stepping(self, loss):
        losses.append(loss)
        real_step(self, loss)

    monkeypatch.setattr(loop, "build_optimizer", building)
    monkeypatch.setattr(StepPlateau, "step", stepping)
    monkeypatch.setattr(loop, "optimizer_step", lambda optimizer, *rest: seen.append(len(losses)))
    result = train(tiny(tmp_path, *AUTHORS, "train.epochs=1"))
    assert seen == [1, 2, 3] and made[0][1].count == 1
    (row,) = weights(result.run_dir)["history"]
    assert row["train_loss"] == pytest.approx(sum(losses) / 3, rel=1e-6)  # 3 batches of 16


def weights(run_dir: Path) -> dict:
    return load_checkpoint(run_dir / "checkpoints" / "last.pt", ("model", "scheduler"))


def test_authors_optimiser_trains_and_resumes_exactly(tmp_path, repo_root, monkeypatch):
    """optim.name=adabelief, clip_value 1e-7, plateau-steps through the normal training entry: the weights
    move, the plateau lowers the rates per step, and a run stopped after epoch 1 (3 steps: in the middle of
    a window of 2 losses) and resumed ends with the weights of an uninterrupted one."""
    config = tiny(tmp_path / "whole", *AUTHORS, "train.epochs=3")
    start = build.build_model(config, build_dataset(config.data), torch.device("cpu")).state_dict()
    whole = train(config)
    assert whole.status == "finished"
    end = weights(whole.run_dir)
    moved = {key: (end["model"][key] - start[key]).abs().max().item() for key in start}
    assert max(moved.values()) > 1e-4 and moved["A"] > 0
    state = end["scheduler"]
    assert state["scale"] < 0.5 and state["count"] == 1  # 9 steps: windows of 2, one loss pending
    assert float(end["history"][-1]["lr"]) == pytest.approx(1e-3 * state["scale"])

    real = loop.train_epoch

    def stop_in_epoch_2(*args):
        if args[-1] == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(loop, "train_epoch", stop_in_epoch_2)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(tiny(tmp_path / "stopped", *AUTHORS, "train.epochs=3"))
    monkeypatch.undo()
    run_dir = stopped.value.run_dir
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt", ("scheduler",))["scheduler"]["count"] == 1
    train(None, run_dir=run_dir)
    resumed = weights(run_dir)
    assert resumed["scheduler"] == state
    for key in end["model"]:
        assert torch.equal(resumed["model"][key], end["model"][key]), key
