"""The one way this package writes a file that others read.

:func:`atomic_path` hands out a temporary path in the target's folder; when the block ends
without error the temporary file is flushed to disk (``fsync``), given the permissions a plain
``open`` would give it, and renamed over the target (``os.replace``), and the folder entry is
synced. On any error, ``KeyboardInterrupt`` included, the temporary file is removed and the
target is left as it was. A process killed at any moment (SIGKILL included) leaves the previous
complete file or the new complete one, never a partial one; at worst a ``.<name>.*.tmp`` file
stays behind, which readers never open.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import tempfile
from collections.abc import Iterator
from typing import Any, Callable, Union

import torch
import yaml

PathLike = Union[str, "os.PathLike[str]"]

#: suffix of every temporary file (writers that resume a folder remove stray ones)
TMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def _fsync_file(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: pathlib.Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some file systems do not open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[pathlib.Path]:
    """Yield a temporary path to write ``path`` through; see the module docstring.

    The parent folder is created when missing.
    """
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TMP_SUFFIX, dir=target.parent)
    os.close(fd)
    tmp = pathlib.Path(name)
    try:
        yield tmp
        os.chmod(tmp, _FILE_MODE)
        _fsync_file(tmp)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write(path: PathLike, write: Callable[[pathlib.Path], Any]) -> pathlib.Path:
    """Call ``write(tmp_path)`` and move the result to ``path`` atomically; return ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return pathlib.Path(path)


def atomic_write_text(path: PathLike, text: str) -> pathlib.Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: PathLike, obj: Any, indent: int = 1) -> pathlib.Path:
    """Write ``obj`` as JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def atomic_write_yaml(path: PathLike, obj: Any) -> pathlib.Path:
    """Write ``obj`` as YAML (``yaml.safe_dump``, keys in insertion order) atomically."""
    return atomic_write_text(path, yaml.safe_dump(obj, sort_keys=False))


def atomic_torch_save(path: PathLike, obj: Any) -> pathlib.Path:
    """``torch.save(obj)`` to ``path`` atomically (checkpoints and model bundles)."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))
