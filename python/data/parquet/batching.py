"""Packed batches drawn from a pool of events of one or more decoded files.

A shard feeds its files one at a time, each as its features tensor and a block of its events in
row-group order (row groups permuted when shuffling). The pool holds at least ``shuffle_buffer``
events; each batch draws ``batch_size`` of them at random (in pool order without shuffling) and
gathers their DOM rows, file by file, straight into the batch tensor. A file's tensor is
released once its last pooled event is drawn.
"""

from __future__ import annotations

from typing import Callable, Generator, Iterator, Optional, Sequence

import numpy as np
import torch

from ...core.batch import PackedBatch
from .decoded import DecodedFile, row_group_starts
from .loader_config import LoaderConfig

#: one file's features ``[N_rows, D]`` and its events: ``lo``/``n`` (first row, rows), ``run``,
#: ``evt`` (ids), ``tg`` (targets, when read), in the order they enter the pool
FileBlock = tuple[torch.Tensor, dict[str, np.ndarray]]
#: what :func:`draw_batches` returns when done: events drawn, batches, the last batch
DrawResult = tuple[int, int, Optional[PackedBatch]]


def row_group_order(sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Event order ``[E]`` of a file with ``sizes [G]`` events per row group, its row groups
    visited in a random order (events keep their order within a row group)."""
    starts = row_group_starts(sizes)
    perm = rng.permutation(sizes.size)
    n = sizes[perm]
    order = np.repeat(starts[perm] - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
    return order + np.arange(n.sum())


def file_blocks(
    read: Callable[[int], tuple[DecodedFile, torch.Tensor]],
    files: Sequence[int],
    shuffle: bool,
    rng: np.random.Generator,
) -> Iterator[FileBlock]:
    """Per file of ``files`` (read by ``read(file_index)``): its features tensor and a pool
    block of its events, in row-group order (row groups permuted when ``shuffle``)."""
    for fi in files:
        f, x = read(fi)
        order = np.arange(f.n_events)
        sizes = f.row_group_sizes
        if shuffle and sizes.size > 1:
            order = row_group_order(sizes, rng)
        block = {
            "lo": f.offsets[:-1][order],
            "n": np.diff(f.offsets)[order],
            "run": f.run_id[order],
            "evt": f.event_id[order],
        }
        if f.targets is not None:
            block["tg"] = f.targets[order]
        yield x, block


def draw_batches(
    source: Iterator[FileBlock],
    cfg: LoaderConfig,
    rng: np.random.Generator,
    cap: Optional[int] = None,
) -> Generator[PackedBatch, None, DrawResult]:
    """Yield packed batches drawn from the pooled events of ``source`` (see module docstring),
    at most ``cap`` events in all (None: every event); return ``(events drawn, batches, last
    batch)``."""
    xs: dict[int, torch.Tensor] = {}  # live files' features by file slot
    left: dict[int, int] = {}  # events of each file slot still in the pool
    pool: dict[str, np.ndarray] = {}  # per pooled event: slot, lo, n, run, evt (, tg)
    emitted, exhausted, slot, n_batches, last = 0, False, 0, 0, None
    want = cfg.shuffle_buffer + cfg.batch_size if cfg.shuffle else cfg.batch_size
    size = 0
    while True:
        while not exhausted and size < want:
            item = next(source, None)
            if item is None:
                exhausted = True
                break
            x, block = item
            m = block["n"].shape[0]
            if not m:
                continue
            xs[slot], left[slot] = x, m
            block["slot"] = np.full(m, slot)
            pool = {k: np.concatenate([pool[k], v]) if pool else v for k, v in block.items()}
            size += m
            slot += 1
        if (cap is not None and emitted >= cap) or size == 0:
            break
        take = min(cfg.batch_size, size, size if cap is None else cap - emitted)
        if take < cfg.batch_size and cfg.drop_last:
            break
        pick = rng.choice(size, size=take, replace=False) if cfg.shuffle else np.arange(take)
        if cfg.max_doms_per_batch is not None:
            fits = np.searchsorted(np.cumsum(pool["n"][pick]), cfg.max_doms_per_batch, "right")
            pick = pick[: max(int(fits), 1)]
        batch = assemble_batch({k: v[pick] for k, v in pool.items()}, xs, cfg.target_dtype)
        for c, k in zip(*np.unique(pool["slot"][pick], return_counts=True)):
            left[c] -= int(k)
            if left[c] == 0:
                del xs[c], left[c]
        keep = np.ones(size, dtype=bool)
        keep[pick] = False
        pool = {k: v[keep] for k, v in pool.items()}
        size -= pick.size
        emitted += pick.size
        n_batches += 1
        last = batch
        yield batch
    return emitted, n_batches, last


def assemble_batch(
    ev: dict[str, np.ndarray], xs: dict[int, torch.Tensor], target_dtype: torch.dtype
) -> PackedBatch:
    """A packed batch from picked pool entries ``ev`` (rows gathered file by file from the
    features ``xs`` of each file slot); targets in ``target_dtype``."""
    order = np.argsort(ev["slot"], kind="stable")
    ev = {k: v[order] for k, v in ev.items()}
    n = ev["n"]
    cum = np.concatenate([[0], np.cumsum(n)])
    rows = torch.from_numpy(np.repeat(ev["lo"] - cum[:-1], n) + np.arange(cum[-1]))
    slots = ev["slot"]
    first = np.flatnonzero(np.concatenate([[True], slots[1:] != slots[:-1]]))
    bounds = cum[np.append(first, slots.size)]
    first_x = xs[int(slots[0])]
    x = first_x.new_empty((int(cum[-1]), first_x.shape[1]))
    for j, i in enumerate(first):  # gather straight into the batch, file by file
        lo, hi = int(bounds[j]), int(bounds[j + 1])
        torch.index_select(xs[int(slots[i])], 0, rows[lo:hi], out=x[lo:hi])
    tg = ev.get("tg")
    return PackedBatch(
        x,
        torch.from_numpy(n),
        None if tg is None else torch.from_numpy(tg).to(target_dtype),
        torch.from_numpy(ev["run"]),
        torch.from_numpy(ev["evt"]),
    )
