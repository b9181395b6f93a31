"""Data files are package data, found through importlib.resources, never the source tree."""

from __future__ import annotations

import os
import re
from importlib.resources import files
from pathlib import Path

import pytest

from fraudgraph import paths
from fraudgraph.errors import ConfigError

DATA_CONSTANTS = sorted(
    name for name, value in vars(paths).items() if name.isupper() and isinstance(value, Path)
)


@pytest.mark.parametrize("name", [n for n in DATA_CONSTANTS if n != "DEFAULT_STATE_DIR"])
def test_each_data_file_is_inside_the_package(name: str) -> None:
    path: Path = getattr(paths, name)
    package = files("fraudgraph")
    assert isinstance(package, Path)
    assert path.exists()
    assert path.is_relative_to(package)


def test_a_missing_data_file_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match=r"no-such\.yaml is missing"):
        paths.package_path("graph", "no-such.yaml")


def test_the_state_folder_defaults_to_the_working_folder() -> None:
    assert Path.cwd() / ".state" == paths.DEFAULT_STATE_DIR


def test_no_module_finds_files_from_its_own_location() -> None:
    """`__file__`-relative paths break in an install; paths.py is the one way in."""
    package = files("fraudgraph")
    assert isinstance(package, Path)
    # os.walk with followlinks: in a checkout fraudgraph/graph links to ../graph.
    sources = [
        Path(folder) / name
        for folder, _, names in os.walk(package, followlinks=True)
        for name in names
        if name.endswith(".py")
    ]
    assert len(sources) > 150  # the whole package was searched, not just fraudgraph/*.py
    offenders = [
        str(source.relative_to(package))
        for source in sources
        if re.search(r"Path\(__file__\)|os\.path\.dirname\(__file__\)", source.read_text())
    ]
    assert offenders == []
