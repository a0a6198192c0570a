"""What a run fixes at its start and keeps: config, process group, folders, the file split and
the normalisation.

Stored in every checkpoint next to the :class:`~.state.RunState`, so a resumed run trains on
the same files with the same normalisation.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

from ..core.version import __version__
from ..data.parquet.normalization import Normalization
from .checkpoint import CHECKPOINT_FORMAT
from .config import TrainConfig
from .ddp import DistContext


@dataclasses.dataclass(frozen=True)
class RunSetup:
    """The fixed part of a run."""

    config: TrainConfig
    ctx: DistContext
    #: the converted folder trained on
    data: str
    #: the run folder (only rank 0 writes)
    out_dir: pathlib.Path
    #: features per DOM
    input_dim: int
    train_files: list[str]
    val_files: list[str]
    normalization: Normalization
    feature_indices: dict[str, Any]
    feature_config: dict[str, Any]

    @property
    def ckpt_dir(self) -> pathlib.Path:
        return self.out_dir / "checkpoints"

    def checkpoint_entries(self) -> dict[str, Any]:
        """The checkpoint entries that describe this setup (plain data)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "format_version": 1,
            "package_version": __version__,
            "normalization": self.normalization.to_dict(),
            "feature_indices": self.feature_indices,
            "feature_config": self.feature_config,
            "train_config": self.config.to_dict(),
            "train_files": list(self.train_files),
            "val_files": list(self.val_files),
            "world_size": self.ctx.world_size,
        }
