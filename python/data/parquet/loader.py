"""Packed batches straight from converted data files, for training and bulk inference.

Each epoch the file list is permuted (seed, epoch) and dealt to ``world_size x num_workers``
shards: shard ``rank * num_workers + worker`` reads files ``order[shard::n_shards]``, so every
event is read by exactly one worker of one rank. A shard decodes one file at a time (all its
columns at once, then normalised as a whole), visits its row groups in random order and draws
batches at random from a buffer of at least ``shuffle_buffer`` events.

Uneven shards: ranks with fewer events would run fewer steps and DDP would wait forever at the
next all-reduce. ``equalize=True`` (default under torch.distributed) caps each rank's worker ``w``
at the smallest event count any rank's worker ``w`` has this epoch (the surplus, different events
each epoch, is left out and logged), so every rank runs the same number of steps. With
``max_doms_per_batch`` the step count depends on event sizes; use DDP's ``Join`` context then.
"""

from __future__ import annotations

import logging
import os
from typing import Iterator, Optional, Sequence, Union

import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ...core.batch import PackedBatch
from .format import DatasetFormatError
from .normalization import Normalization
from .reader import read_data_file, resolve_files

logger = logging.getLogger(__name__)


def _dist_rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _identity(x):
    return x


class PackedLoader(IterableDataset):
    """Iterable of :class:`~llp_gap_reco.batch.PackedBatch` over a converted folder.

    Args:
        folder_or_files: a converted folder, or a list of its data files (e.g. from
            :func:`~.split.split_files`).
        batch_size: events per batch (fewer in the last batch unless ``drop_last``).
        normalization: :class:`Normalization`, a ``{group: {offset, scale}}`` dict, a YAML path,
            or None for unnormalised features.
        max_doms_per_batch: cap on the DOM rows of a batch; a batch closes early rather than
            exceed it (an event larger than the cap travels alone).
        shuffle: permute files, row groups and events; False reads in file order.
        seed, epoch: the shuffle is a function of ``(seed, epoch, shard)``; see :meth:`set_epoch`.
        shuffle_buffer: events held for random draws (0: batches are drawn per row group order).
        rank, world_size: default from an initialised ``torch.distributed``, else 0 and 1.
        num_workers: worker processes used when this loader is iterated directly.
        equalize: equal steps on every rank (see module docstring); default True iff world_size > 1.
        drop_last: drop each shard's last incomplete batch.
        targets: read the six target columns; None: when the folder is labeled (manifest, or
            the presence of the columns).
        bad_events: "raise" or "skip" zero-DOM / non-finite events (see :mod:`.reader`).
        device, dtype: of ``x`` (moved in the main process); ``target_dtype`` of the targets.
        feature_indices: group -> columns, when the files lack a ``feature_indices.yaml``.
        multiprocessing_context: start method of the workers (None: the process default;
            "fork" starts fast where the default is "spawn", e.g. under
            ``torch.multiprocessing.spawn``).
    """

    def __init__(
        self,
        folder_or_files: Union[str, Sequence[str]],
        batch_size: int = 256,
        normalization=None,
        max_doms_per_batch: Optional[int] = None,
        shuffle: bool = True,
        seed: int = 0,
        epoch: int = 0,
        shuffle_buffer: int = 4096,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        num_workers: int = 0,
        equalize: Optional[bool] = None,
        drop_last: bool = False,
        targets: Optional[bool] = None,
        bad_events: str = "raise",
        device: Union[str, torch.device] = "cpu",
        dtype: torch.dtype = torch.float32,
        target_dtype: torch.dtype = torch.float64,
        pin_memory: bool = False,
        feature_indices: Optional[dict] = None,
        multiprocessing_context: Optional[str] = None,
    ) -> None:
        super().__init__()
        self.files, self.folder = resolve_files(folder_or_files)
        if feature_indices is None:
            if self.folder is None:
                raise ValueError("feature_indices is needed for files outside a converted folder")
            feature_indices = self.folder.feature_indices
        self.feature_indices = dict(feature_indices)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_doms_per_batch is not None and max_doms_per_batch < 1:
            raise ValueError(f"max_doms_per_batch must be >= 1, got {max_doms_per_batch}")
        if isinstance(normalization, (str, os.PathLike)):
            normalization = Normalization.from_yaml(normalization)
        elif isinstance(normalization, dict):
            normalization = Normalization.from_dict(normalization)
        if normalization is not None:
            normalization.check_covers(self.feature_indices)
        self.normalization = normalization
        self.batch_size, self.max_doms_per_batch = int(batch_size), max_doms_per_batch
        self.shuffle, self.seed, self.epoch = shuffle, int(seed), int(epoch)
        self.shuffle_buffer = max(int(shuffle_buffer), 0)
        r, w = _dist_rank_world()
        self.rank = r if rank is None else int(rank)
        self.world_size = w if world_size is None else int(world_size)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} outside world_size {self.world_size}")
        self.num_workers = int(num_workers)
        self.equalize = self.world_size > 1 if equalize is None else bool(equalize)
        if self.equalize and max_doms_per_batch is not None and self.world_size > 1:
            logger.warning(
                "equalize with max_doms_per_batch equalises events, not steps, per "
                "rank; wrap the DDP training loop in torch.distributed Join"
            )
        self.drop_last = drop_last
        self.bad_events = bad_events
        self.targets = self._want_targets(targets)
        self.device, self.dtype, self.target_dtype = torch.device(device), dtype, target_dtype
        self.pin_memory = pin_memory
        self.multiprocessing_context = multiprocessing_context
        self.file_events = self._count_events()
        self._affine = None
        if self.normalization is not None:
            dim = 1 + max(
                int(np.max(np.atleast_1d(v), initial=-1)) for v in self.feature_indices.values()
            )
            self._affine = self.normalization.affine(self.feature_indices, dim)

    def _want_targets(self, targets: Optional[bool]) -> bool:
        if targets is not None:
            return bool(targets)
        if self.folder is not None and self.folder.labeled is not None:
            return bool(self.folder.labeled)
        names = pq.read_schema(self.files[0]).names
        return "llp_prod_x" in names

    def _count_events(self) -> np.ndarray:
        """Events per file from the parquet footers (kept for the reads)."""
        self._metadata = []
        for f in self.files:
            try:
                self._metadata.append(pq.ParquetFile(f).metadata)
            except FileNotFoundError:
                raise
            except Exception as err:
                raise DatasetFormatError(f"{f}: unreadable parquet file ({err})") from err
        return np.array([m.num_rows for m in self._metadata], dtype=np.int64)

    @property
    def n_events(self) -> int:
        """Events in all files (before any skipping)."""
        return int(self.file_events.sum())

    def set_epoch(self, epoch: int) -> None:
        """Select the shuffle of ``epoch`` (call before iterating, on every rank)."""
        self.epoch = int(epoch)

    # -- sharding ----------------------------------------------------------------------------
    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.files))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.files))

    def shard_files(self, rank: int, worker: int, num_workers: int) -> list[int]:
        """File indices read by ``worker`` of ``rank`` this epoch."""
        n_shards = self.world_size * max(num_workers, 1)
        return self._order()[rank * max(num_workers, 1) + worker :: n_shards].tolist()

    def shard_cap(self, worker: int, num_workers: int) -> Optional[int]:
        """Events worker ``worker`` of every rank may yield when equalizing (None: all)."""
        if not self.equalize:
            return None
        counts = [
            int(self.file_events[self.shard_files(r, worker, num_workers)].sum())
            for r in range(self.world_size)
        ]
        return min(counts)

    def __len__(self) -> int:
        """Batches this rank yields per epoch (exact without ``max_doms_per_batch``)."""
        nw = max(self.num_workers, 1)
        total = 0
        for w in range(nw):
            n = int(self.file_events[self.shard_files(self.rank, w, nw)].sum())
            cap = self.shard_cap(w, nw)
            n = n if cap is None else min(n, cap)
            total += n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return total

    # -- iteration ---------------------------------------------------------------------------
    def __iter__(self) -> Iterator[PackedBatch]:
        info = get_worker_info()
        if info is not None:
            yield from self._iter_shard(info.id, info.num_workers)
            return
        if self.num_workers > 0:
            dl = DataLoader(
                self,
                batch_size=None,
                num_workers=self.num_workers,
                collate_fn=_identity,
                persistent_workers=False,
                multiprocessing_context=self.multiprocessing_context,
            )
            for batch in dl:
                yield self._to_device(batch)
            return
        for batch in self._iter_shard(0, 1):
            yield self._to_device(batch)

    def _to_device(self, batch: PackedBatch) -> PackedBatch:
        if self.device.type == "cpu":
            return batch
        if self.pin_memory:
            batch.x = batch.x.pin_memory()
        return PackedBatch(
            batch.x.to(self.device, non_blocking=self.pin_memory),
            batch.seqlens.to(self.device),
            None if batch.targets is None else batch.targets.to(self.device),
            batch.run_id.to(self.device),
            batch.event_id.to(self.device),
        )

    def _read(self, file_index: int):
        path = self.files[file_index]
        expected = self.folder.expected_ids(path) if self._checks_index() else None
        f = read_data_file(
            path,
            targets=self.targets,
            bad_events=self.bad_events,
            expected_ids=expected,
            metadata=self._metadata[file_index],
        )
        # one writable copy (arrow memory is read-only) in the output precision, normalised
        out = np.empty(f.features.shape, np.float64 if self.dtype == torch.float64 else np.float32)
        if self._affine is None:
            out[...] = f.features
        else:
            a, b = (v.astype(out.dtype) for v in self._affine)
            np.multiply(f.features, a, out=out, casting="same_kind")
            out += b
        return f, torch.from_numpy(out).to(self.dtype)

    def _checks_index(self) -> bool:
        return self.folder is not None and self.folder.has_index()

    def _files(self, files: list[int], rng: np.random.Generator):
        """Per file: its features tensor and a pool block of its events, in row-group order
        (row groups permuted when shuffling)."""
        for fi in files:
            f, x = self._read(fi)
            order = np.arange(f.n_events)
            sizes = f.row_group_sizes
            if self.shuffle and sizes.size > 1:
                starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
                perm = rng.permutation(sizes.size)
                n = sizes[perm]
                order = np.repeat(starts[perm] - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
                order = order + np.arange(n.sum())
            block = {
                "lo": f.offsets[:-1][order],
                "n": np.diff(f.offsets)[order],
                "run": f.run_id[order],
                "evt": f.event_id[order],
            }
            if f.targets is not None:
                block["tg"] = f.targets[order]
            yield x, block

    def _iter_shard(self, worker: int, num_workers: int) -> Iterator[PackedBatch]:
        files = self.shard_files(self.rank, worker, num_workers)
        cap = self.shard_cap(worker, num_workers)
        shard = self.rank * max(num_workers, 1) + worker
        rng = np.random.default_rng([self.seed, self.epoch, shard, 1])
        xs: dict[int, torch.Tensor] = {}  # live files' features by file slot
        left: dict[int, int] = {}  # events of each file slot still in the pool
        pool: dict[str, np.ndarray] = {}  # per pooled event: slot, lo, n, run, evt (, tg)
        source = self._files(files, rng)
        emitted, exhausted, slot, n_batches, last = 0, False, 0, 0, None
        want = self.shuffle_buffer + self.batch_size if self.shuffle else self.batch_size
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
            take = min(self.batch_size, size, size if cap is None else cap - emitted)
            if take < self.batch_size and self.drop_last:
                break
            pick = rng.choice(size, size=take, replace=False) if self.shuffle else np.arange(take)
            if self.max_doms_per_batch is not None:
                fits = np.searchsorted(np.cumsum(pool["n"][pick]), self.max_doms_per_batch, "right")
                pick = pick[: max(int(fits), 1)]
            batch = self._assemble({k: v[pick] for k, v in pool.items()}, xs)
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
        if cap is None:
            return
        dropped = int(self.file_events[files].sum()) - emitted
        if dropped:
            logger.info(
                "rank %d worker %d: equalize left out %d event(s) this epoch",
                self.rank,
                worker,
                dropped,
            )
        # skipped bad events can leave this shard short of the common step count: repeat its
        # last batch (as DistributedSampler pads by repetition) rather than hang DDP
        if self.max_doms_per_batch is None:
            steps = cap // self.batch_size if self.drop_last else -(-cap // self.batch_size)
            short = steps - n_batches
            if short > 0 and last is None:
                raise RuntimeError(
                    f"rank {self.rank} worker {worker}: no usable event this "
                    f"epoch, cannot run the {steps} steps of the other ranks"
                )
            if short > 0:
                logger.warning(
                    "rank %d worker %d: %d batch(es) short after skipped events; "
                    "repeating the last batch",
                    self.rank,
                    worker,
                    short,
                )
            for _ in range(max(short, 0)):
                yield last

    def _assemble(self, ev: dict, xs: dict) -> PackedBatch:
        """A packed batch from picked pool entries (rows gathered file by file)."""
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
            None if tg is None else torch.from_numpy(tg).to(self.target_dtype),
            torch.from_numpy(ev["run"]),
            torch.from_numpy(ev["evt"]),
        )
