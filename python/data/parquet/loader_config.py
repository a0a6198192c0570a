"""How a :class:`~.loader.PackedLoader` batches, shuffles, shards and delivers events."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Union

import torch


def dist_rank_world() -> tuple[int, int]:
    """``(rank, world_size)`` of an initialised ``torch.distributed`` group, else ``(0, 1)``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


@dataclass(frozen=True)
class LoaderConfig:
    """Settings of a :class:`~.loader.PackedLoader`.

    Args:
        batch_size: events per batch (fewer in the last batch unless ``drop_last``).
        max_doms_per_batch: cap on the DOM rows of a batch; a batch closes early rather than
            exceed it (an event larger than the cap travels alone).
        shuffle: permute files, row groups and events; False reads in file order.
        seed: the shuffle is a function of ``(seed, epoch, shard)``.
        shuffle_buffer: events held for random draws (0: batches are drawn per row group order).
        drop_last: drop each shard's last incomplete batch.
        rank, world_size: default from an initialised ``torch.distributed``, else 0 and 1.
        num_workers: worker processes used when the loader is iterated directly.
        equalize: equal steps on every rank (see :mod:`.loader`); default True iff world_size > 1.
        multiprocessing_context: start method of the workers (None: the process default;
            "fork" starts fast where the default is "spawn", e.g. under
            ``torch.multiprocessing.spawn``).
        bad_events: "raise" or "skip" zero-DOM / non-finite events (see :mod:`.reader`).
        device, dtype: of ``x`` (moved in the main process); ``target_dtype`` of the targets.
        pin_memory: pin ``x`` before an asynchronous copy to a CUDA ``device``.
    """

    batch_size: int = 256
    max_doms_per_batch: Optional[int] = None
    shuffle: bool = True
    seed: int = 0
    shuffle_buffer: int = 4096
    drop_last: bool = False
    rank: Optional[int] = None
    world_size: Optional[int] = None
    num_workers: int = 0
    equalize: Optional[bool] = None
    multiprocessing_context: Optional[str] = None
    bad_events: str = "raise"
    device: Union[str, torch.device] = "cpu"
    dtype: torch.dtype = torch.float32
    target_dtype: torch.dtype = torch.float64
    pin_memory: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_doms_per_batch is not None and self.max_doms_per_batch < 1:
            raise ValueError(f"max_doms_per_batch must be >= 1, got {self.max_doms_per_batch}")

    def replace(self, **changes: Any) -> LoaderConfig:
        """A copy with ``changes`` (field name -> value)."""
        return dataclasses.replace(self, **changes)

    def resolved(self) -> LoaderConfig:
        """A copy with ``rank``, ``world_size`` (from ``torch.distributed`` when None) and
        ``equalize`` filled in and the numbers as plain ints; raises ``ValueError`` for a rank
        outside the world."""
        r, w = dist_rank_world()
        rank = r if self.rank is None else int(self.rank)
        world = w if self.world_size is None else int(self.world_size)
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside world_size {world}")
        return self.replace(
            batch_size=int(self.batch_size),
            seed=int(self.seed),
            shuffle_buffer=max(int(self.shuffle_buffer), 0),
            rank=rank,
            world_size=world,
            num_workers=int(self.num_workers),
            equalize=world > 1 if self.equalize is None else bool(self.equalize),
        )
