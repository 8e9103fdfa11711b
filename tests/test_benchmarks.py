"""``benchmarks/run.py`` runs end to end on tiny sizes (the timings themselves are not tested)."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test here trains or times real steps

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


def script(name: str, module_name: str):
    """The module of ``benchmarks/NAME.py``, imported as ``module_name``."""
    spec = importlib.util.spec_from_file_location(module_name, PATH.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return script("run", "benchmark_run")


def test_benchmark_runs_on_tiny_cases(bench, capsys):
    tiny = dict(in_channels=1, head="gaussian", root_width=4, root_depth=1, theta0="learned")
    cases = {
        "tiny-ar": bench.Case(tiny, 2, 8, ("scan",), (2, 8), teacher_forcing=0.5),
        "tiny-tf": bench.Case(tiny, 2, 8, ("scan", "conv", "auto"), (2, 8)),
    }
    rows, gru_steps = [], {}
    for name, case in cases.items():
        rows += bench.run_case(name, case, quick=True, repeats=1, gru_steps=gru_steps)
    assert len(gru_steps) == 1  # same configuration and size: the GRU is timed once
    bench.report(rows, {"blas": 100.0, "onednn": 200.0})
    out = capsys.readouterr().out
    assert "tiny-ar" in out and "conv" in out and "/authors" not in out
    assert "/blas" in out and "/oned" in out  # the recurrence against the square matmul of each kernel
    assert all(r["step"] > 0 and r["peak_mb"] >= 0 for r in rows)
    assert abs(rows[0]["gru_params"] / rows[0]["params"] - 1) < 0.05


def test_a_mode_measured_in_its_own_process(bench):
    row = bench.measure_in_subprocess("tf-784", bench.CASES["tf-784"], "conv", quick=True, repeats=1)
    assert row["case"] == "tf-784" and row["mode"] == "conv" and (row["batch"], row["T"]) == bench.CASES["tf-784"].quick
    assert row["step"] > 0 and row["peak_mb"] >= 0


def test_conv_floor_times_every_part(capsys):
    assert script("conv_floor", "conv_floor").main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert all(part in out for part in ("kernel", "FFTs", "root", "sum"))


def test_transformer_cache_benchmark_times_both_paths(capsys):
    assert script("transformer_cache", "transformer_cache").main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "forecast" in out and "autoregressive training" in out and out.count("x ") >= 2


def test_a_bf16_variant_row(bench):
    tiny = dict(in_channels=1, head="gaussian", root_width=4, root_depth=1, theta0="learned")
    case = bench.Case(tiny, 2, 8, ("scan",), (2, 8))
    rows = bench.run_case("tiny", case, quick=True, repeats=1, gru_steps={}, variants=("fp32", "bf16"))
    assert [r["mode"] for r in rows] == ["scan", "scan+bf16"] and all(r["step"] > 0 for r in rows)


def test_gpu_script_without_cuda_says_so_and_exits_0():
    import subprocess

    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA machine runs the benchmarks instead")
    env = os.environ | {"PYTHON": sys.executable}  # this interpreter, not whatever python is on PATH
    done = subprocess.run(["bash", str(PATH.parent / "gpu.sh")], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and "no CUDA device" in done.stdout


def test_profile_step_names_the_operators_of_a_case(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(PATH.parent))
    spec = importlib.util.spec_from_file_location("benchmark_profile", PATH.parent / "profile_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["msd-ar", "--quick", "--rows", "40"]) == 0
    out = capsys.readouterr().out
    assert "AutoregressiveRollout" in out and "msd-ar (dense, " in out and " s profiled" in out
