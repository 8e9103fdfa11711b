"""Golden conformance with the authors' JAX code, without JAX or their code: ``tests/fixtures/authors/*.npz``
hold their outputs, losses, gradients, one optimiser step and 100 training steps on three small configs
(numbers only, written by ``benchmarks/conformance_authors.py``), and ``benchmarks/conformance.py``'s
``compare`` recomputes them with warprnn under ``semantics="authors"``. Each of the seven choices of
``warprnn.authors.Choices`` switched back to ours alone breaks the agreement."""

import dataclasses
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from warprnn.authors import AUTHORS, Choices

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "authors").glob("*.npz"))


@pytest.fixture(scope="module")
def conformance():
    spec = importlib.util.spec_from_file_location("benchmark_conformance", ROOT / "benchmarks" / "conformance.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def test_fixtures_are_there():
    assert [f.stem for f in FIXTURES] == ["lv", "mnist", "msd"]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_authors_semantics_reproduces_their_numbers(conformance, path):
    """Outputs, inference, loss, gradients and one step to 1e-10; 100 steps' curves and parameters to 1e-8."""
    with np.load(path) as npz:
        rows = conformance.compare(npz)
    assert len(rows) == 8
    assert all(row.equal for row in rows), "\n".join(row.line() for row in rows)


def mismatch(conformance, choices: Choices) -> list[str]:
    """The cases (of the three) whose untrained rows disagree under ``choices``, or fail to load."""
    failing = []
    for path in FIXTURES:
        with np.load(path) as npz:
            try:
                rows = conformance.compare(npz, choices, steps=0)
            except RuntimeError as error:  # the parameters of theirs do not fit: the hypernetwork's widths
                assert "size mismatch" in str(error)
                failing.append(path.stem)
                continue
        if not all(row.equal for row in rows):
            failing.append(path.stem)
    return failing


@pytest.mark.parametrize("choice", [f.name for f in dataclasses.fields(Choices)])
def test_each_choice_switched_back_to_ours_breaks_conformance(conformance, choice):
    assert mismatch(conformance, dataclasses.replace(AUTHORS, **{choice: False})), choice
