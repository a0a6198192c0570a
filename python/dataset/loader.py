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

from ..batch import PackedBatch
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


def split_files(
    folder_or_files: Union[str, Sequence[str]], val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Deterministic ``(train, validation)`` split of data files (both sorted).

    ``round(val_fraction * n_files)`` files, at least one when ``val_fraction > 0`` and there
    are two or more files, go to validation; the choice depends only on the file names and
    ``seed``.
    """
    files = resolve_files(folder_or_files)[0]
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    files = sorted(files, key=os.path.basename)
    n_val = int(round(val_fraction * len(files)))
    if val_fraction > 0 and len(files) > 1:
        n_val = min(max(n_val, 1), len(files) - 1)
    perm = np.random.default_rng(seed).permutation(len(files))
    val = set(perm[:n_val].tolist())
    return (
        [f for i, f in enumerate(files) if i not in val],
        [f for i, f in enumerate(files) if i in val],
    )


class _Chunk:
    """One row group of a decoded file: normalised features as a tensor, plus per-event arrays."""

    __slots__ = ("x", "offsets", "targets", "run_id", "event_id")

    def __init__(self, x, offsets, targets, run_id, event_id):
        self.x, self.offsets, self.targets = x, offsets, targets
        self.run_id, self.event_id = run_id, event_id


class PackedLoader(IterableDataset):
    """Iterable of :class:`~llp_gap_reco.batch.PackedBatch` over a converted folder.

    Args:
        folder_or_files: a converted folder, or a list of its data files (e.g. from
            :func:`split_files`).
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
        n = np.empty(len(self.files), dtype=np.int64)
        for i, f in enumerate(self.files):
            try:
                n[i] = pq.ParquetFile(f).metadata.num_rows
            except FileNotFoundError:
                raise
            except Exception as err:
                raise DatasetFormatError(f"{f}: unreadable parquet file ({err})") from err
        return n

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
            path, targets=self.targets, bad_events=self.bad_events, expected_ids=expected
        )
        x = f.features
        if self._affine is not None:
            a, b = self._affine
            x = x * a.astype(x.dtype) + b.astype(x.dtype)
        if not x.flags.writeable:  # zero-copy from arrow
            x = x.copy()
        return f, torch.from_numpy(x).to(self.dtype)

    def _checks_index(self) -> bool:
        return self.folder is not None and self.folder.has_index()

    def _chunks(self, files: list[int], rng: np.random.Generator) -> Iterator[_Chunk]:
        for fi in files:
            f, x = self._read(fi)
            starts = np.concatenate([[0], np.cumsum(f.row_group_sizes)])
            groups = (
                rng.permutation(len(f.row_group_sizes))
                if self.shuffle
                else range(len(f.row_group_sizes))
            )
            for g in groups:
                lo, hi = int(starts[g]), int(starts[g + 1])
                if hi == lo:
                    continue
                off = f.offsets[lo : hi + 1]
                r0, r1 = int(off[0]), int(off[-1])
                yield _Chunk(
                    x[r0:r1],
                    off - r0,
                    None if f.targets is None else f.targets[lo:hi],
                    f.run_id[lo:hi],
                    f.event_id[lo:hi],
                )

    def _iter_shard(self, worker: int, num_workers: int) -> Iterator[PackedBatch]:
        files = self.shard_files(self.rank, worker, num_workers)
        cap = self.shard_cap(worker, num_workers)
        shard = self.rank * max(num_workers, 1) + worker
        rng = np.random.default_rng([self.seed, self.epoch, shard, 1])
        chunks: dict[int, _Chunk] = {}
        left: dict[int, int] = {}  # events of each chunk still in the pool
        pool_c = np.empty(0, dtype=np.int64)  # pool: chunk id and event within chunk
        pool_e = np.empty(0, dtype=np.int64)
        source = self._chunks(files, rng)
        emitted, exhausted, next_id = 0, False, 0
        want = self.shuffle_buffer + self.batch_size if self.shuffle else self.batch_size
        while True:
            while not exhausted and pool_c.size < want:
                ch = next(source, None)
                if ch is None:
                    exhausted = True
                    break
                n = ch.run_id.shape[0]
                chunks[next_id], left[next_id] = ch, n
                pool_c = np.concatenate([pool_c, np.full(n, next_id)])
                pool_e = np.concatenate([pool_e, np.arange(n)])
                next_id += 1
            if cap is not None and emitted >= cap:
                break
            if pool_c.size == 0:
                break
            take = min(self.batch_size, pool_c.size)
            if cap is not None:
                take = min(take, cap - emitted)
            if take < self.batch_size and self.drop_last:
                break
            pick = (
                rng.choice(pool_c.size, size=take, replace=False)
                if self.shuffle
                else np.arange(take)
            )
            pick = self._cap_doms(pick, pool_c, pool_e, chunks)
            batch = self._assemble(pool_c[pick], pool_e[pick], chunks)
            for c, k in zip(*np.unique(pool_c[pick], return_counts=True)):
                left[c] -= int(k)
                if left[c] == 0:
                    del chunks[c], left[c]
            keep = np.ones(pool_c.size, dtype=bool)
            keep[pick] = False
            pool_c, pool_e = pool_c[keep], pool_e[keep]
            emitted += batch.batch_size
            yield batch
        if cap is not None:
            dropped = int(self.file_events[files].sum()) - emitted
            if dropped:
                logger.info(
                    "rank %d worker %d: equalize left out %d event(s) this epoch",
                    self.rank,
                    worker,
                    dropped,
                )

    def _cap_doms(self, pick, pool_c, pool_e, chunks) -> np.ndarray:
        if self.max_doms_per_batch is None:
            return pick
        lens = np.array(
            [
                chunks[c].offsets[e + 1] - chunks[c].offsets[e]
                for c, e in zip(pool_c[pick].tolist(), pool_e[pick].tolist())
            ]
        )
        n = int(np.searchsorted(np.cumsum(lens), self.max_doms_per_batch, side="right"))
        return pick[: max(n, 1)]

    def _assemble(self, cs: np.ndarray, es: np.ndarray, chunks: dict) -> PackedBatch:
        order = np.argsort(cs, kind="stable")
        cs, es = cs[order], es[order]
        xs, lens, tg, run, evt = [], [], [], [], []
        bounds = np.flatnonzero(np.diff(cs)) + 1
        for c_ev in np.split(np.arange(cs.size), bounds):
            ch = chunks[int(cs[c_ev[0]])]
            e = es[c_ev]
            lo, hi = ch.offsets[e], ch.offsets[e + 1]
            n = hi - lo
            rows = np.repeat(lo - np.concatenate([[0], np.cumsum(n)[:-1]]), n) + np.arange(n.sum())
            xs.append(ch.x[torch.from_numpy(rows)])
            lens.append(n)
            run.append(ch.run_id[e])
            evt.append(ch.event_id[e])
            if ch.targets is not None:
                tg.append(ch.targets[e])
        return PackedBatch(
            torch.cat(xs),
            torch.from_numpy(np.concatenate(lens)),
            torch.from_numpy(np.concatenate(tg)).to(self.target_dtype) if tg else None,
            torch.from_numpy(np.concatenate(run)),
            torch.from_numpy(np.concatenate(evt)),
        )
