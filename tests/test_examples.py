"""Every script of ``examples/`` runs, and what it printed is kept for its page of the docs site.

Each script runs in its own process from ``examples/output/`` (where it writes its figures); its standard
output goes to ``examples/output/NAME.txt``, which ``docs/hooks/examples.py`` shows on the example's page.
The folder is not committed: ``mkdocs build --strict`` after this test shows this run's output, and fails
without it."""

import ast
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.py"))
OUTPUT = REPO / "examples" / "output"


def test_there_are_four_to_six_examples_each_with_a_title():
    assert 4 <= len(EXAMPLES) <= 6
    for script in EXAMPLES:
        doc = ast.get_docstring(ast.parse(script.read_text()))
        assert doc and doc.splitlines()[0] and doc.splitlines()[1] == "", f"{script.name}: a title line, then a blank"


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_and_its_output_is_kept(script):
    OUTPUT.mkdir(exist_ok=True)
    for old in [OUTPUT / f"{script.stem}.txt", *OUTPUT.glob(f"{script.stem}*.png")]:
        old.unlink(missing_ok=True)
    began = time.time()
    done = subprocess.run(
        [sys.executable, str(script)], cwd=OUTPUT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip()
    (OUTPUT / f"{script.stem}.txt").write_text(done.stdout)
    assert time.time() - began < 60, f"{script.name}: an example runs in under a minute"
