"""Checks of a subcommand's paths and device, run before any long work starts.

Each raises :class:`~.errors.UserError` with a message that names the option, the value and
what to do.
"""

from __future__ import annotations

import os
import pathlib
import re
import tempfile

import torch

from .errors import UserError


def input_file(path: str, option: str) -> pathlib.Path:
    """``path`` is an existing, readable file."""
    p = pathlib.Path(path)
    if not p.exists():
        raise UserError(f"{option} {path}: no such file")
    if not p.is_file():
        raise UserError(f"{option} {path}: not a file")
    if not os.access(p, os.R_OK):
        raise UserError(f"{option} {path}: not readable (check its permissions)")
    return p


def input_folder(path: str, option: str, hint: str = "") -> pathlib.Path:
    """``path`` is an existing folder (``hint``: how to make one)."""
    p = pathlib.Path(path)
    if not p.exists():
        raise UserError(f"{option} {path}: no such folder" + (f"; {hint}" if hint else ""))
    if not p.is_dir():
        raise UserError(f"{option} {path}: not a folder" + (f"; {hint}" if hint else ""))
    return p


def _probe(folder: pathlib.Path, option: str, shown: str) -> None:
    """Create ``folder`` (and its parents) and a temporary file in it, or raise UserError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise UserError(
            f"{option} {shown}: cannot write there ({err.strerror or err}); choose another path"
        ) from err


def output_folder(path: str, option: str = "--out") -> pathlib.Path:
    """``path`` is a folder (created when missing) that files can be written in."""
    p = pathlib.Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"{option} {path}: exists and is not a folder; choose a folder path")
    _probe(p, option, path)
    return p


def output_file(path: str, option: str = "--out") -> pathlib.Path:
    """``path`` names a file (not a folder) that can be written; its folder is created."""
    p = pathlib.Path(path)
    if p.is_dir():
        raise UserError(f"{option} {path}: is a folder; give a file name")
    if p.exists() and not os.access(p, os.W_OK):
        raise UserError(f"{option} {path}: exists and is not writable")
    _probe(p.parent, option, path)
    return p


def i3_file(path: str, option: str) -> pathlib.Path:
    """``path`` is an existing file named like an I3 file (``.i3``, ``.i3.gz``, ...)."""
    p = input_file(path, option)
    if not re.search(r"\.i3(\.(gz|bz2|zst|xz))?$", p.name):
        raise UserError(f"{option} {path}: not an I3 file name (.i3, .i3.gz, .i3.bz2, .i3.zst)")
    return p


def available_device(name: str, option: str = "--device") -> str:
    """``name`` is usable here: CUDA devices must be visible to torch."""
    if name.startswith("cuda"):
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name.split(":")[1]) if ":" in name else 0
        if n == 0:
            raise UserError(
                f"{option} {name}: no CUDA device is visible to torch here; use "
                "--device cpu (or auto)"
            )
        if index >= n:
            raise UserError(f"{option} {name}: only {n} CUDA device(s) here (cuda:0..{n - 1})")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"{option} mps: the MPS backend is not available here; use --device cpu")
    return name
