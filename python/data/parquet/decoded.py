"""One data file decoded into flat arrays: all DOM rows event after event, plus per-event ids.

``features [N_rows, D]`` holds the DOM rows of every event one after the other and
``offsets [E+1]`` says which are whose: event ``i`` owns rows ``offsets[i]:offsets[i+1]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np


@dataclass
class DecodedFile:
    """All events of one data file as flat arrays (see module docstring)."""

    path: str
    features: np.ndarray  # [N_rows, D] float32 (new files) or float64 (older files)
    offsets: np.ndarray  # [E+1] int64
    run_id: np.ndarray  # [E] int64
    event_id: np.ndarray  # [E] int64
    index_within_file: np.ndarray  # [E] int64, row of each event in the file
    targets: Optional[np.ndarray]  # [E, 6] float64 metres, or None
    row_group_sizes: np.ndarray  # [G] int64, events per row group of the file as read
    skipped: dict = field(default_factory=dict)  # reason -> number of events dropped

    @property
    def n_events(self) -> int:
        """Number of events ``E``."""
        return int(self.run_id.shape[0])

    @property
    def seqlens(self) -> np.ndarray:
        """DOM rows per event, ``[E]`` int64."""
        return np.diff(self.offsets)

    def select(self, keep: np.ndarray) -> DecodedFile:
        """The events where ``keep [E]`` is True (vectorised; row groups become one block)."""
        rows = np.repeat(keep, self.seqlens)
        lens = self.seqlens[keep]
        offsets = np.zeros(lens.shape[0] + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        kept_per_group: Union[np.ndarray, list] = (
            np.add.reduceat(keep, row_group_starts(self.row_group_sizes)) if keep.size else []
        )
        return DecodedFile(
            self.path,
            self.features[rows],
            offsets,
            self.run_id[keep],
            self.event_id[keep],
            self.index_within_file[keep],
            None if self.targets is None else self.targets[keep],
            np.asarray(kept_per_group, dtype=np.int64),
            dict(self.skipped),
        )


def row_group_starts(sizes: np.ndarray) -> np.ndarray:
    """First event of each row group, ``[G]`` int64, from the events per row group ``[G]``."""
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def event_of_rows(offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The event owning each DOM row in ``rows`` given the events' row ``offsets [E+1]``."""
    return np.searchsorted(offsets, rows, side="right") - 1
