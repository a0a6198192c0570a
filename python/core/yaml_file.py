"""Reading the package's YAML files (configs, feature indices, normalisation) with one error
style: the message names the file and what is wrong with it."""

from __future__ import annotations

import os
import pathlib
from typing import Any, Union

import yaml

from .errors import InputError


class YamlFileError(InputError):
    """A YAML file that cannot be read or parsed; the message names the file."""


def read_yaml(path: Union[str, os.PathLike[str]], what: str = "YAML file") -> Any:
    """``yaml.safe_load`` of ``path``; :class:`FileNotFoundError` or :class:`YamlFileError`
    naming ``what`` and the file otherwise."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    try:
        with open(p, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as err:
        raise YamlFileError(f"{p}: not a valid {what}: {err}") from err
