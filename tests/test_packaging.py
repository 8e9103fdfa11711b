"""What a user expects of the package's metadata: a license file and SPDX expression, authors, URLs,
classifiers, type information, and a changelog entry for the version being released."""

from pathlib import Path

import pytest

import warprnn

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def test_metadata_names_license_authors_urls_and_classifiers():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert project["authors"] and project["urls"] and "Typing :: Typed" in project["classifiers"]


def test_the_package_says_it_is_typed():
    assert (Path(warprnn.__file__).parent / "py.typed").is_file()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["warprnn"]
    assert "py.typed" in data


def test_the_changelog_has_this_version():
    assert f"## {warprnn.__version__} " in (ROOT / "CHANGELOG.md").read_text()
