"""Map-style datasets with the interface of the original research code.

``LLPDataset(index_file_path, file_paths, feature_indices_file_path, ...)`` indexes events through
``indexfile.pq``; ``dataset[i]`` is ``(data [n_doms, D], label [6])``. Internally each data file
is decoded once into flat arrays (see :mod:`.reader`) and normalised as a whole, so an item is a
slice, not a pandas row lookup. Iterate in index order (``DataLoader(..., shuffle=False)``, with
``shuffle_files=True`` to shuffle events within each file): random access across files decodes a
file per jump, as the original did. For training at speed use :class:`.loader.PackedLoader`.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from .decoded import DecodedFile
from .folder import load_feature_indices
from .format import DatasetFormatError, is_data_file
from .index import IndexByFile, check_ids, read_index
from .normalization import Normalization
from .reader import read_data_file

if TYPE_CHECKING:  # pandas is optional: only total_index_info returns a DataFrame
    import pandas as pd

logger = logging.getLogger(__name__)


class LLPDataset(Dataset):
    """Events of a converted folder, one at a time.

    Args:
        index_file_path: ``indexfile.pq`` of the folder.
        file_paths: the folder's data files (sorted here, which is ``file_index`` order; the
            folder's ``indexfile.pq``/``filelist.pq`` are dropped if a glob picked them up).
        feature_indices_file_path: ``feature_indices.yaml``.
        normalize_data: apply ``normalization_args`` to the features.
        normalize_target: multiply the label by the ``position`` scale.
        normalization_args: ``{group: {"offset", "scale"}}`` (a :class:`Normalization` works too).
        device: ``"cpu"``, ``"cuda"`` or None (cpu).
        dtype: torch dtype of data and label; None keeps the stored precision of the features
            (float64 in older files, float32 in new ones) and float32 labels.
        shuffle_files: shuffle events within each file now and on :meth:`shuffle`.
        dataset_type: free label kept as an attribute.
        seed: seed of the shuffles (None: fresh entropy, as the original).
        max_cached_files: decoded files kept in memory.
    """

    def __init__(
        self,
        index_file_path: str,
        file_paths: Sequence[str],
        feature_indices_file_path: str,
        normalize_data: bool = True,
        normalize_target: bool = False,
        normalization_args: Union[Mapping, Normalization, None] = None,
        device: Optional[str] = None,
        dtype: Optional[torch.dtype] = None,
        shuffle_files: bool = False,
        dataset_type: str = "training",
        seed: Optional[int] = None,
        max_cached_files: int = 2,
    ) -> None:
        self.index_file_path = index_file_path
        self._index = read_index(index_file_path)
        self.file_paths = sorted(os.fspath(p) for p in file_paths if is_data_file(os.fspath(p)))
        if not self.file_paths:
            raise ValueError("no data files given")
        self.num_events = int(self._index["file_index"].shape[0])
        self._by_file = IndexByFile(self._index, index_file_path)
        n_files = int(self._index["file_index"].max()) + 1 if self.num_events else 0
        if n_files > len(self.file_paths):
            raise DatasetFormatError(
                f"{index_file_path}: refers to {n_files} data files, {len(self.file_paths)} given"
            )
        self.feature_indices = load_feature_indices(feature_indices_file_path)
        self.normalize_data = normalize_data
        self.normalize_target = normalize_target
        self.normalization_args = normalization_args
        self.normalization: Optional[Normalization] = None
        if normalization_args is not None:
            self.normalization = (
                normalization_args
                if isinstance(normalization_args, Normalization)
                else Normalization.from_dict(normalization_args)
            )
        if normalize_data or normalize_target:
            if self.normalization is None:
                raise ValueError("normalize_data/normalize_target need normalization_args")
            self.normalization.check_covers(
                self.feature_indices if normalize_data else {"position": 0}
            )
        if device is not None and device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu', 'cuda' or None, got {device!r}")
        self.device = device
        self.dtype = dtype
        self.dataset_type = dataset_type
        self.max_cached_files = max(1, int(max_cached_files))
        self._cache: OrderedDict[int, DecodedFile] = OrderedDict()
        self._rng = np.random.default_rng(seed)
        self._labeled = True
        self.shuffle_files = shuffle_files
        if shuffle_files:
            self.shuffle()

    # -- index -------------------------------------------------------------------------------
    @property
    def total_index_info(self) -> pd.DataFrame:
        """The index as a pandas DataFrame (current order), for code that used the attribute."""
        # pandas (a dependency) is slow to import and only this attribute needs it
        import pandas as pd

        return pd.DataFrame(self._index)

    def __len__(self) -> int:
        return self.num_events

    def shuffle(self) -> None:
        """Shuffle events within each file; files stay in ``file_index`` order."""
        if not self.shuffle_files:
            logger.info("LLPDataset.shuffle() called with shuffle_files=False: no shuffling done")
            return
        key = self._rng.random(self.num_events)
        order = np.lexsort((key, self._index["file_index"]))
        self._index = {c: v[order] for c, v in self._index.items()}

    @property
    def _norm(self) -> Normalization:
        """The normalisation (``__init__`` refuses normalize_data/target without one)."""
        if self.normalization is None:
            raise ValueError("normalize_data/normalize_target need normalization_args")
        return self.normalization

    # -- files -------------------------------------------------------------------------------
    def load_file(self, file_index: int) -> DecodedFile:
        """Decode (once, then cached) and normalise data file ``file_index``."""
        f = self._cache.get(file_index)
        if f is not None:
            self._cache.move_to_end(file_index)
            return f
        path = self.file_paths[file_index]
        f = read_data_file(path, targets=self._labeled)
        check_ids(f, self._by_file.ids(file_index, path))
        if self.normalize_data:
            f.features = self._norm.apply(f.features, self.feature_indices)
        elif not f.features.flags.writeable:  # zero-copy from arrow
            f.features = f.features.copy()
        self._cache[file_index] = f
        while len(self._cache) > self.max_cached_files:
            self._cache.popitem(last=False)
        return f

    def _locate(self, idx: int) -> tuple[DecodedFile, int]:
        if idx < 0:
            idx += self.num_events
        if not 0 <= idx < self.num_events:
            raise IndexError(f"event index {idx} out of range for {self.num_events} events")
        f = self.load_file(int(self._index["file_index"][idx]))
        return f, int(self._index["index_within_file"][idx])

    def _data(self, f: DecodedFile, i: int) -> torch.Tensor:
        x = torch.from_numpy(f.features[f.offsets[i] : f.offsets[i + 1]])
        return x.to(device=self.device or "cpu", dtype=self.dtype or x.dtype, copy=True)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        f, i = self._locate(idx)
        if f.targets is None:
            raise DatasetFormatError(f"{f.path}: no targets; use UnlabeledLLPDataset")
        label = torch.as_tensor(
            f.targets[i], dtype=self.dtype or torch.float32, device=self.device or "cpu"
        )
        if self.normalize_target:
            label = self._norm.apply_target(label)
        return self._data(f, i), label

    # -- extra information -------------------------------------------------------------------
    def transform_data(self, data: Sequence[np.ndarray]) -> torch.Tensor:
        """A per-DOM list of rows -> ``[n_doms, D]`` tensor (dtype/device of the dataset)."""
        return torch.as_tensor(np.stack(data, axis=0), dtype=self.dtype, device=self.device)

    def get_data_and_info(self, idx: int) -> tuple[Union[torch.Tensor, float], ...]:
        """``(data, label, muon_energy, muon_zenith, muon_length)`` of the event."""
        data, label = self[idx]
        return (data, label, *self.get_muon_info_from_idx(idx))

    def get_event_run_info(self, idx: int) -> tuple[int, int]:
        """``(event_id, run_id)`` of the event."""
        return self._index["event_id"][idx], self._index["run_id"][idx]

    def get_muon_info_from_idx(self, idx: int) -> tuple[float, ...]:
        """``(muon_energy, muon_zenith, muon_length)`` of the event (NaN when not stored)."""
        return tuple(
            self._index[c][idx] if c in self._index else np.nan
            for c in ("muon_energy", "muon_zenith", "muon_length")
        )

    def get_muon_info(self, event_id: int, run_id: int) -> tuple[float, ...]:
        """``(muon_energy, muon_zenith, muon_length)`` of the event with these ids."""
        hit = np.flatnonzero(
            (self._index["event_id"] == event_id) & (self._index["run_id"] == run_id)
        )
        if not hit.size:
            raise KeyError(f"no event with run_id {run_id}, event_id {event_id}")
        return self.get_muon_info_from_idx(int(hit[0]))


class UnlabeledLLPDataset(LLPDataset):
    """As :class:`LLPDataset`, for folders without truth: ``dataset[i]`` is ``data`` alone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._labeled = False

    # the original API: an unlabeled item is its data alone, not a (data, label) pair
    def __getitem__(self, idx: int) -> torch.Tensor:  # type: ignore[override]
        f, i = self._locate(idx)
        return self._data(f, i)


class LLPSubset(Subset):
    """A :class:`torch.utils.data.Subset` that forwards the dataset's extra methods."""

    dataset: LLPDataset

    def __init__(self, llpdataset: LLPDataset, indices: Sequence[int]) -> None:
        super().__init__(llpdataset, indices)

    def shuffle(self) -> None:
        self.dataset.shuffle()

    def get_muon_info_from_idx(self, idx: int) -> tuple[float, ...]:
        return self.dataset.get_muon_info_from_idx(self.indices[idx])

    def get_data_and_info(self, idx: int) -> tuple[Union[torch.Tensor, float], ...]:
        return self.dataset.get_data_and_info(self.indices[idx])


def llp_collate_fn(
    batch: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """``[(data, label)] -> (list of [1, L_i, D], datalens [B], labels [B, 6])``."""
    datavecs = [item[0].unsqueeze(0) for item in batch]
    datalens = torch.tensor([v.shape[1] for v in datavecs], device=datavecs[0].device)
    return datavecs, datalens, torch.stack([item[1] for item in batch], dim=0)


def llp_collate_unlabeled_fn(
    batch: Sequence[torch.Tensor],
) -> tuple[list[torch.Tensor], torch.Tensor, list[None]]:
    """``[data] -> (list of [1, L_i, D], datalens [B], [None] * B)``."""
    datavecs = [item.unsqueeze(0) for item in batch]
    datalens = torch.tensor([v.shape[1] for v in datavecs], device=datavecs[0].device)
    return datavecs, datalens, [None] * len(batch)
