"""The side-by-side benchmark against the authors' code, without their code or JAX: ``run.py --authors``'s
parsing, medians, alternation and report on fake results, ``authors.py``'s reading of their ``main.py``
on a fake one, and no ratio without ``--authors``."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_module(name: str, filename: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load_module("benchmark_run_for_authors", "run.py")


@pytest.fixture(scope="module")
def authors():
    return load_module("benchmark_authors", "authors.py")  # imports no JAX until it runs their code


def their_result(step: float, **changes) -> dict:
    result = dict(source="authors", case="mnist-ar", commit="bde9a5d" + "0" * 33, dirty=False, batch=8, T=64)
    result |= dict(D=1298, steps=[step], step=step, first_s=17.5, jax="0.4.35", jaxlib="0.4.35", device="TFRT_CPU_0")
    return result | changes


def our_row(step: float, **changes) -> dict:
    """A row as ``measure_mode`` and ``run_case`` make it, with every key ``report`` reads."""
    row = dict(case="mnist-ar", mode="scan", transition="dense", batch=8, T=64, D=1298, params=3000, step=step)
    row |= dict(fwd=step / 2, bwd=step / 2, opt=0.0, first=step, peak_mb=1.0, state_mb=1.0, params_mb=0.1)
    row |= dict(rec_gflops=1.0, step_matmul=10.0, vs_first=1.0, vs_dense=1.0, gru_step=step)
    return row | dict(gru_hidden=30, gru_params=3000) | changes


def test_the_authors_json_line_is_the_last_one_printed(bench):
    line = json.dumps(their_result(0.25))
    out = f'\nCompiling function "train_step" ...\n{line}\n'
    assert bench.parse_authors_line(out) == their_result(0.25)
    with pytest.raises(ValueError, match="lacks"):
        bench.parse_authors_line(json.dumps({"step": 1.0}))
    with pytest.raises(ValueError, match="no JSON line"):
        bench.parse_authors_line("Traceback ...\n")


def test_the_ratio_is_of_both_medians(bench):
    ours = [our_row(s) for s in (3.0, 1.0, 2.0)]
    theirs = [their_result(s) for s in (1.0, 4.0, 0.5)]
    result = bench.side_by_side(ours, theirs)
    assert (result["ours"], result["theirs"], result["ratio"]) == (2.0, 1.0, 2.0)
    assert result["ours_steps"] == [3.0, 1.0, 2.0] and result["their_steps"] == [1.0, 4.0, 0.5]
    assert result["their_first"] == 17.5


def fake_sides(calls: list, ours_step=2.0, their_step=1.0, **their_changes):
    def measure(name, case, mode, quick, repeats, transition):
        assert (mode, transition) == ("scan", "dense")
        calls.append("ours")
        return our_row(ours_step)

    def authors(name, case, quick, repeats, repo, python):
        calls.append("theirs")
        return their_result(their_step, **their_changes)

    return measure, authors


def test_ours_and_theirs_alternate_at_the_same_shapes(bench):
    calls = []
    measure, authors = fake_sides(calls)
    case = bench.CASES["mnist-ar"]
    result = bench.compare_with_authors("mnist-ar", case, True, 1, 3, "/repo", "python", measure, authors)
    assert calls == ["ours", "theirs"] * 3
    assert result["ratio"] == 2.0 and result["rounds"] == 3 and (result["batch"], result["T"]) == case.quick
    _, other = fake_sides([], D=1299)
    with pytest.raises(ValueError, match="differ"):
        bench.compare_with_authors("mnist-ar", case, True, 1, 1, "/repo", "python", measure, other)


@pytest.fixture
def no_timing(bench, monkeypatch):
    """``run.py``'s main with every measurement replaced by fake rows (seconds, not minutes), and glibc's
    setting and the environment of this process left as they are (``warprnn.allocator``)."""
    monkeypatch.setattr(bench, "matmul_gflops", lambda *args, **kwargs: 100.0)
    monkeypatch.setattr(bench, "run_case", lambda name, *args: [our_row(2.0, case=name)])
    monkeypatch.setattr(bench.allocator, "keep_freed_memory", lambda: False)
    monkeypatch.setattr(bench.os, "environ", dict(bench.os.environ))


@pytest.mark.parametrize("kept", [True, False])
def test_the_authors_processes_inherit_our_allocator_setting(bench, no_timing, monkeypatch, capsys, kept):
    """Both sides of a comparison run with freed memory kept, or neither: glibc reads the setting from the
    environment that the authors' processes inherit."""
    monkeypatch.setattr(bench.allocator, "keep_freed_memory", lambda: kept)
    assert bench.main(["--quick", "--cases", "tf-784"]) == 0
    assert f"freed memory kept: {'yes' if kept else 'no'}" in capsys.readouterr().out
    assert (bench.os.environ.get("MALLOC_MMAP_MAX_") == "0") == kept


def test_without_authors_no_ratio_is_printed(bench, no_timing, monkeypatch, capsys):
    def never(*args, **kwargs):
        raise AssertionError("the authors' code was run without --authors")

    monkeypatch.setattr(bench, "compare_with_authors", never)
    assert bench.main(["--quick", "--cases", "mnist-ar", "msd-ar"]) == 0
    out = capsys.readouterr().out
    assert "mnist-ar" in out and "authors" not in out and "/authors" not in out


def test_with_authors_the_ratio_of_that_run_is_printed(bench, no_timing, monkeypatch, capsys, tmp_path):
    (tmp_path / "main.py").write_text("")
    original, calls = bench.compare_with_authors, []
    measure, authors = fake_sides(calls, ours_step=3.0, their_step=2.0)
    monkeypatch.setattr(bench, "compare_with_authors", lambda *args: original(*args, measure, authors))
    assert bench.main(["--quick", "--cases", "mnist-ar", "tf-784", "--authors", str(tmp_path), "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert calls == ["ours", "theirs"] * 2  # mnist-ar only: tf-784 has no counterpart
    table = out[out.index("side by side") :].splitlines()
    assert "/authors" in table[1] and "bde9a5d" in table[0]
    row = table[2].split()
    assert row[0] == "mnist-ar" and row[5:8] == ["3.000", "2.000", "1.50"]
    assert "says nothing" in out  # --quick


def test_authors_needs_a_clone_and_a_case_with_a_counterpart(bench, tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--cases", "mnist-ar", "--authors", str(tmp_path)])  # no main.py
    (tmp_path / "main.py").write_text("")
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--cases", "tf-784", "--authors", str(tmp_path)])


FAKE_MAIN = """
import jax
classification = config['general']['classification']
dataset = config['general']['dataset']
repeat_datasets = ["lotka"]
nb_recons_loss_steps = config['training']['nb_recons_loss_steps']
use_nll_loss = config['training']['use_nll_loss']
trainloader = make_dataloaders(data_folder, config)
def loss_fn(model, batch, key):
    return 0.0
def train_step(model, batch, opt_state, key):
    return opt.update(loss_fn(model, batch, key))
if train:
    opt = optax.chain(optax.adabelief(1e-4))
    for epoch in range(10):
        pass
"""


def test_their_step_and_optimiser_are_read_from_main_py(authors):
    nodes = authors.definitions(FAKE_MAIN)
    assert [getattr(n, "name", None) or n.targets[0].id for n in nodes] == [
        "classification",
        "dataset",
        "repeat_datasets",
        "nb_recons_loss_steps",
        "use_nll_loss",
        "loss_fn",
        "train_step",
        "opt",  # under `if train:`, and nothing else of the script
    ]
    with pytest.raises(LookupError, match="opt"):
        authors.definitions(FAKE_MAIN.replace("    opt = ", "    optimiser = "))
    with pytest.raises(LookupError, match="loss_fn"):
        authors.definitions(FAKE_MAIN + "def loss_fn(model, batch, key):\n    return 1.0\n")


def test_their_cases_have_our_shapes(bench, authors):
    for name, theirs in authors.CASES.items():
        ours = bench.CASES[name]
        assert (theirs.batch, theirs.T, theirs.quick) == (ours.batch, ours.T, ours.quick)
        assert theirs.channels == ours.config["in_channels"]
