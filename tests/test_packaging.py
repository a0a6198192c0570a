"""The installed layout matches python/: every subpackage is declared in pyproject.toml."""

from __future__ import annotations

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _declared_packages() -> set[str]:
    """``[tool.setuptools] packages`` of pyproject.toml, as setuptools reads it (any Python)."""
    from setuptools.config.pyprojecttoml import read_configuration

    cfg = read_configuration(ROOT / "pyproject.toml", expand=False)
    return set(cfg["tool"]["setuptools"]["packages"])


def test_every_python_folder_is_a_declared_package():
    found = {"llp_gap_reco"} | {
        "llp_gap_reco." + p.parent.relative_to(ROOT / "python").as_posix().replace("/", ".")
        for p in (ROOT / "python").rglob("__init__.py")
        if p.parent != ROOT / "python"
    }
    assert found == _declared_packages()


def test_console_script_lists_subcommands(capsys):
    from llp_gap_reco.cli.main import SUBCOMMANDS, build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name.replace("_", "-") in out
