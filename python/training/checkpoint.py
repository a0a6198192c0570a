"""Checkpoint loading and RNG state capture.

Checkpoints are written with :func:`llp_gap_reco.core.atomic.atomic_torch_save` (a process
killed at any moment leaves the previous complete file or the new one); they hold only tensors
and plain Python containers and load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import pathlib
import random

import numpy as np
import torch


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
