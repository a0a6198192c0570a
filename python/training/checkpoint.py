"""Atomic checkpoints and RNG state capture.

Every file is written to a temporary name in the same folder, flushed to disk, and renamed over
the target (``os.replace``), so a process killed at any moment (SIGKILL included) leaves either
the previous complete file or the new complete one. Checkpoints hold only tensors and plain
Python containers and load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import pathlib
import random
import tempfile
from typing import Any

import numpy as np
import torch


def atomic_save(obj: Any, path: str | pathlib.Path) -> pathlib.Path:
    """``torch.save`` to ``path`` atomically (temp file + fsync + rename)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(text: str, path: str | pathlib.Path) -> pathlib.Path:
    """Write a text file atomically."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | pathlib.Path) -> dict:
    """Load a checkpoint on CPU, without executing pickled code."""
    return torch.load(path, map_location="cpu", weights_only=True)


def rng_state() -> dict:
    """The state of Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    np_state = np.random.get_state()  # noqa: NPY002 (the legacy global generator)
    state = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    legacy = ("MT19937", keys, n["pos"], n["has_gauss"], n["cached_gaussian"])
    np.random.set_state(legacy)  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002
    torch.manual_seed(seed)
