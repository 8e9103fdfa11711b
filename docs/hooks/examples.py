"""MkDocs hook: a page per script of ``examples/``, with the output of its last run.

``tests/test_examples.py`` runs every ``examples/NAME.py`` and writes what it printed to
``examples/output/NAME.txt`` and its figures to ``examples/output/NAME*.png`` (not committed). This hook
makes ``examples/NAME.md`` from the script's docstring (its first line the title), the script itself, that
output and those figures, and ``examples/index.md`` listing them. A script whose output file is missing
stops the build: run ``python -m pytest tests/test_examples.py`` first. So a page shows what the script
printed when it last ran here, never text pasted by hand.
"""

from __future__ import annotations

import ast
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

REPO = Path(__file__).parents[2]
EXAMPLES = REPO / "examples"
OUTPUT = EXAMPLES / "output"


def scripts() -> list[Path]:
    """The example scripts, by name."""
    return sorted(EXAMPLES.glob("*.py"))


def page(script: Path) -> str:
    """The Markdown page of one example."""
    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    title, _, body = doc.partition("\n")
    output = OUTPUT / f"{script.stem}.txt"
    if not output.is_file():
        raise PluginError(
            f"examples/{script.name}: no output at {output.relative_to(REPO)}; "
            "run `python -m pytest tests/test_examples.py` before building the site"
        )
    figures = "".join(f"\n![{png.name}](output/{png.name})\n" for png in sorted(OUTPUT.glob(f"{script.stem}*.png")))
    return (
        f"# {title.strip()}\n\n{body.strip()}\n\n"
        f"Run it from the repository's root: `python examples/{script.name}`.\n\n"
        f"```python\n{script.read_text()}```\n\n"
        f"## Output\n\nWhat it printed when `tests/test_examples.py` last ran it, for this build:\n\n"
        f"```text\n{output.read_text()}```\n{figures}"
    )


def index() -> str:
    """The examples' index page: one line per example."""
    lines = [
        "# Examples\n",
        "Short scripts, each a task a user comes with. Each runs in seconds on a CPU at its default size,",
        "and CI runs every one of them (`tests/test_examples.py`) before it builds this site.\n",
    ]
    for script in scripts():
        title = (ast.get_docstring(ast.parse(script.read_text())) or script.stem).partition("\n")[0]
        lines.append(f"- [{title.strip()}]({script.stem}.md): `examples/{script.name}`")
    return "\n".join(lines) + "\n"


def on_files(files, config):
    """Adds the examples' pages and figures to the site."""
    files.append(File.generated(config, "examples/index.md", content=index()))
    for script in scripts():
        files.append(File.generated(config, f"examples/{script.stem}.md", content=page(script)))
        for png in sorted(OUTPUT.glob(f"{script.stem}*.png")):
            files.append(File.generated(config, f"examples/output/{png.name}", abs_src_path=str(png)))
    return files
