"""``torch.distributed`` helpers: the same code runs as one process or under ``torchrun``.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
when ``WORLD_SIZE`` is absent or 1 nothing is initialised. Backend: NCCL on CUDA, gloo on CPU.
Only rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DistContext:
    """Where this process stands: rank, world size and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(pref: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> this rank's CUDA device when available, else CPU."""
    if pref == "auto":
        pref = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(pref)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    return dev


def init_distributed(device: str = "auto") -> DistContext:
    """Join the process group described by the environment (if any) and pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
        logger.info("rank %d/%d joined the %s process group on %s", rank, world, backend, dev)
    return DistContext(rank, world, local_rank, dev)


def all_reduce_sum(values: list[float], ctx: DistContext) -> list[float]:
    """Sum a few floats over ranks (float64; identity on one process)."""
    t = torch.tensor(values, dtype=torch.float64)
    if ctx.distributed:
        if dist.get_backend() == "nccl":
            t = t.to(ctx.device)
        dist.all_reduce(t)
    return t.cpu().tolist()


def all_reduce_max(value: float, ctx: DistContext) -> float:
    t = torch.tensor([value], dtype=torch.float64)
    if ctx.distributed:
        if dist.get_backend() == "nccl":
            t = t.to(ctx.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def broadcast_object(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_object(obj: Any, ctx: DistContext) -> list:
    """Every rank's ``obj``, in rank order, on every rank (collective: all ranks call it)."""
    if not ctx.distributed:
        return [obj]
    box: list = [None] * ctx.world_size
    dist.all_gather_object(box, obj)
    return box


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def cleanup(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()
