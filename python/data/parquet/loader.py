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
from typing import Iterator, Mapping, Optional, Sequence, TypeVar, Union

import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ...core.batch import PackedBatch
from .batching import draw_batches, file_blocks
from .decoded import DecodedFile
from .format import DatasetFormatError, feature_dim
from .loader_config import LoaderConfig
from .normalization import Normalization
from .reader import read_data_file, resolve_files

logger = logging.getLogger(__name__)

#: what a loader accepts as normalisation: a :class:`Normalization`, a ``{group: {offset,
#: scale}}`` mapping, a YAML path, or None for unnormalised features
NormalizationLike = Union[Normalization, Mapping, str, os.PathLike, None]
_T = TypeVar("_T")


def _identity(x: _T) -> _T:
    return x


class PackedLoader(IterableDataset):
    """Iterable of :class:`~llp_gap_reco.batch.PackedBatch` over a converted folder.

    Args:
        folder_or_files: a converted folder, or a list of its data files (e.g. from
            :func:`~.split.split_files`).
        config: batching, shuffling, sharding and output settings (:class:`LoaderConfig`;
            None: its defaults).
        normalization: :class:`Normalization`, a ``{group: {offset, scale}}`` dict, a YAML path,
            or None for unnormalised features.
        targets: read the six target columns; None: when the folder is labeled (manifest, or
            the presence of the columns).
        feature_indices: group -> columns, when the files lack a ``feature_indices.yaml``.
        epoch: the shuffle is a function of ``(seed, epoch)``; see :meth:`set_epoch`.
    """

    def __init__(
        self,
        folder_or_files: Union[str, os.PathLike, Sequence[str]],
        config: Optional[LoaderConfig] = None,
        normalization: NormalizationLike = None,
        *,
        targets: Optional[bool] = None,
        feature_indices: Optional[Mapping] = None,
        epoch: int = 0,
    ) -> None:
        super().__init__()
        self.files, self.folder = resolve_files(folder_or_files)
        if feature_indices is None:
            if self.folder is None:
                raise ValueError("feature_indices is needed for files outside a converted folder")
            feature_indices = self.folder.feature_indices
        self.feature_indices = dict(feature_indices)
        self.config = (config or LoaderConfig()).resolved()
        cfg = self.config
        if isinstance(normalization, (str, os.PathLike)):
            normalization = Normalization.from_yaml(normalization)
        elif isinstance(normalization, Mapping):
            normalization = Normalization.from_dict(dict(normalization))
        if normalization is not None:
            normalization.check_covers(self.feature_indices)
        self.normalization: Optional[Normalization] = normalization
        self.epoch = int(epoch)
        self.rank, self.world_size = int(cfg.rank or 0), int(cfg.world_size or 1)
        self.equalize = bool(cfg.equalize)
        if self.equalize and cfg.max_doms_per_batch is not None and self.world_size > 1:
            logger.warning(
                "equalize with max_doms_per_batch equalises events, not steps, per "
                "rank; wrap the DDP training loop in torch.distributed Join"
            )
        self.targets = self._want_targets(targets)
        self.device = torch.device(cfg.device)
        self._metadata: list[pq.FileMetaData] = []
        self.file_events = self._count_events()
        self._affine: Optional[tuple[np.ndarray, np.ndarray]] = None
        if self.normalization is not None:
            self._affine = self.normalization.affine(
                self.feature_indices, feature_dim(self.feature_indices)
            )

    @property
    def batch_size(self) -> int:
        """Events per batch."""
        return self.config.batch_size

    def _want_targets(self, targets: Optional[bool]) -> bool:
        if targets is not None:
            return bool(targets)
        if self.folder is not None and self.folder.labeled is not None:
            return bool(self.folder.labeled)
        names = pq.read_schema(self.files[0]).names
        return "llp_prod_x" in names

    def _count_events(self) -> np.ndarray:
        """Events per file from the parquet footers (kept for the reads)."""
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
        if not self.config.shuffle:
            return np.arange(len(self.files))
        return np.random.default_rng([self.config.seed, self.epoch]).permutation(len(self.files))

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
        nw = max(self.config.num_workers, 1)
        total = 0
        for w in range(nw):
            n = int(self.file_events[self.shard_files(self.rank, w, nw)].sum())
            cap = self.shard_cap(w, nw)
            n = n if cap is None else min(n, cap)
            total += _n_batches(n, self.batch_size, self.config.drop_last)
        return total

    # -- iteration ---------------------------------------------------------------------------
    def __iter__(self) -> Iterator[PackedBatch]:
        info = get_worker_info()
        if info is not None:
            yield from self._iter_shard(info.id, info.num_workers)
            return
        if self.config.num_workers > 0:
            dl = DataLoader(
                self,
                batch_size=None,
                num_workers=self.config.num_workers,
                collate_fn=_identity,
                persistent_workers=False,
                multiprocessing_context=self.config.multiprocessing_context,
            )
            for batch in dl:
                yield self._to_device(batch)
            return
        for batch in self._iter_shard(0, 1):
            yield self._to_device(batch)

    def _to_device(self, batch: PackedBatch) -> PackedBatch:
        if self.device.type == "cpu":
            return batch
        pin = self.config.pin_memory
        if pin:
            batch.x = batch.x.pin_memory()
        return PackedBatch(
            batch.x.to(self.device, non_blocking=pin),
            batch.seqlens.to(self.device),
            None if batch.targets is None else batch.targets.to(self.device),
            None if batch.run_id is None else batch.run_id.to(self.device),
            None if batch.event_id is None else batch.event_id.to(self.device),
        )

    def _read(self, file_index: int) -> tuple[DecodedFile, torch.Tensor]:
        """Decoded file ``file_index`` and its features as one normalised tensor."""
        path = self.files[file_index]
        expected = (
            self.folder.expected_ids(path)
            if self.folder is not None and self.folder.has_index()
            else None
        )
        f = read_data_file(
            path,
            targets=self.targets,
            bad_events=self.config.bad_events,
            expected_ids=expected,
            metadata=self._metadata[file_index],
        )
        # one writable copy (arrow memory is read-only) in the output precision, normalised
        dtype = self.config.dtype
        out = np.empty(f.features.shape, np.float64 if dtype == torch.float64 else np.float32)
        if self._affine is None:
            out[...] = f.features
        else:
            a, b = (v.astype(out.dtype) for v in self._affine)
            np.multiply(f.features, a, out=out, casting="same_kind")
            out += b
        return f, torch.from_numpy(out).to(dtype)

    def _iter_shard(self, worker: int, num_workers: int) -> Iterator[PackedBatch]:
        cfg = self.config
        files = self.shard_files(self.rank, worker, num_workers)
        cap = self.shard_cap(worker, num_workers)
        shard = self.rank * max(num_workers, 1) + worker
        rng = np.random.default_rng([cfg.seed, self.epoch, shard, 1])
        source = file_blocks(self._read, files, cfg.shuffle, rng)
        emitted, n_batches, last = yield from draw_batches(source, cfg, rng, cap)
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
        if cfg.max_doms_per_batch is None:
            steps = _n_batches(cap, cfg.batch_size, cfg.drop_last)
            short = steps - n_batches
            if short > 0:
                if last is None:
                    raise RuntimeError(
                        f"rank {self.rank} worker {worker}: no usable event this "
                        f"epoch, cannot run the {steps} steps of the other ranks"
                    )
                logger.warning(
                    "rank %d worker %d: %d batch(es) short after skipped events; "
                    "repeating the last batch",
                    self.rank,
                    worker,
                    short,
                )
                for _ in range(short):
                    yield last


def _n_batches(n_events: int, batch_size: int, drop_last: bool) -> int:
    """Batches of ``batch_size`` that ``n_events`` make (the last one partial unless
    ``drop_last``)."""
    return n_events // batch_size if drop_last else -(-n_events // batch_size)
