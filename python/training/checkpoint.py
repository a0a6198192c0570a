"""Checkpoint loading and RNG state capture.

Checkpoints are written with :func:`llp_gap_reco.core.atomic.atomic_torch_save` (a process
killed at any moment leaves the previous complete file or the new one); they hold only tensors
and plain Python containers and load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import pathlib
import random
from typing import Any, Optional, cast

import numpy as np
import torch

#: the ``format`` entry of every training checkpoint
CHECKPOINT_FORMAT = "llp_gap_reco.train_checkpoint"


def load_checkpoint(path: str | pathlib.Path) -> dict:
    """Load a checkpoint on CPU, without executing pickled code."""
    return torch.load(path, map_location="cpu", weights_only=True)


def load_training_checkpoint(path: pathlib.Path) -> dict:
    """:func:`load_checkpoint`, refusing a file that is not a training checkpoint."""
    ck = load_checkpoint(path)
    if ck.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a training checkpoint")
    return ck


def rng_state() -> dict:
    """The state of Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    # the legacy global generator; legacy=True gives the MT19937 state as a tuple
    np_state = cast("tuple[Any, ...]", np.random.get_state(legacy=True))  # noqa: NPY002
    state = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
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


def own_rng_state(ck: dict, rank: int, world_size: int) -> Optional[dict]:
    """This rank's RNG state in checkpoint ``ck``; None when ``ck`` was written with another
    world size (the caller then reseeds)."""
    if ck.get("world_size", 1) != world_size:
        return None
    per_rank = ck.get("rng_per_rank") or []
    if len(per_rank) == world_size:
        return per_rank[rank]
    # a checkpoint written before per-rank states were kept holds rank 0's only
    return ck["rng"] if rank == 0 else None
