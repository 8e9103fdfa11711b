"""The documentation: the README stays short and its Python runs; every config option is documented for
the generated options page (``docs/hooks/options.py``)."""

import importlib.util
import re
import runpy
from pathlib import Path

import numpy as np
import pytest

from warprnn.config import WarpConfig
from warprnn.data.config import DataConfig
from warprnn.training.config import ExperimentConfig, OptimConfig, TrainConfig

REPO = Path(__file__).parents[1]
CONFIGS = [WarpConfig, DataConfig, OptimConfig, TrainConfig, ExperimentConfig]


def hook(name: str):
    """A module of ``docs/hooks/``."""
    spec = importlib.util.spec_from_file_location(name, REPO / "docs" / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def python_blocks(*pages: str) -> list[str]:
    """The ```python blocks of these pages, each once, in order."""
    blocks = [b for page in pages for b in re.findall(r"```python\n(.*?)```", (REPO / page).read_text(), re.S)]
    return list(dict.fromkeys(blocks))


def test_readme_is_short_and_links_pages_that_exist():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 160
    for link in re.findall(r"\]\(((?:docs|examples)/[^)#]*)\)", readme):
        assert (REPO / link).exists(), link


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__name__)
def test_every_config_field_has_one_docstring_entry(config):
    _, missing, stale = hook("options").documented_fields(config)
    assert missing == [] and stale == [], f"fields without an entry {missing}, entries without a field {stale}"


def test_the_options_page_names_every_config_section():
    page = (REPO / "docs" / "guide" / "options.md").read_text()
    for config in CONFIGS:
        assert f"{config.__module__}.{config.__name__} -->" in page


@pytest.mark.slow
def test_the_python_of_the_readme_and_getting_started_runs(tmp_path, monkeypatch, capsys):
    """The 10-line model example and the own-data example (on a CSV made here: two daily cycles, hourly)."""
    blocks = python_blocks("README.md", "docs/getting-started.md")
    assert len(blocks) == 2, "the README's two examples, repeated as they are on Getting started"
    t = np.arange(600)
    rows = [
        f"2024-01-{1 + i // 24:02d} {i % 24:02d}:00:00,{np.sin(2 * np.pi * i / 24):.4f},{np.cos(2 * np.pi * i / 24):.4f}"
        for i in t
    ]
    (tmp_path / "my.csv").write_text("date,load,temp\n" + "\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        script = tmp_path / "block.py"
        script.write_text(block)
        runpy.run_path(str(script), run_name="__main__")
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[1:] == [
        "torch.Size([8,",
        "100,",
        "2])",
        "torch.Size([8,",
        "100,",
        f"{printed[0].split()[0]}])",
    ]
    assert printed[1] == "('load', 'temp') (12, 2, 2)"
