"""What a run writes into its folder while it trains: ``config.yaml``, ``metrics.csv``,
``checkpoints/*.pt`` and (when installed) ``tensorboard/``. Only rank 0 writes; every file is
written atomically (:mod:`llp_gap_reco.core.atomic`).
"""

from __future__ import annotations

import csv
import io
import logging
import pathlib
from typing import Any, Optional

from ..core.atomic import atomic_torch_save, atomic_write_text, atomic_write_yaml
from .build import RunParts
from .checkpoint import rng_state
from .ddp import all_gather_object
from .setup import RunSetup

logger = logging.getLogger(__name__)

#: the scalars of a history row that go to tensorboard
TENSORBOARD_SCALARS = ("train_loss", "val_loss", "lr", "skipped_batches")


def save_checkpoint(parts: RunParts, name: str = "last") -> Optional[pathlib.Path]:
    """Atomically write ``checkpoints/<name>.pt`` (setup + run state); returns its path on rank
    0, None elsewhere. Under DDP every rank calls this at the same step (collective): the RNG
    states of all ranks are gathered into the file (``rng_per_rank``)."""
    rngs = all_gather_object(rng_state(), parts.setup.ctx)
    if not parts.setup.ctx.is_main:
        return None
    ck = dict(parts.setup.checkpoint_entries(), **parts.state.state_dict())
    ck["rng_per_rank"] = rngs
    return atomic_torch_save(parts.setup.ckpt_dir / f"{name}.pt", ck)


class MetricsLog:
    """``config.yaml`` at start, ``metrics.csv`` (rewritten from the whole history) and
    tensorboard scalars after each epoch. Does nothing on ranks other than 0."""

    def __init__(self, setup: RunSetup) -> None:
        self.out_dir = setup.out_dir
        self.enabled = setup.ctx.is_main
        self.tensorboard: Any = None
        if self.enabled:
            atomic_write_yaml(self.out_dir / "config.yaml", setup.config.to_dict())
            self.tensorboard = _tensorboard_writer(self.out_dir / "tensorboard")

    def epoch_done(self, history: list[dict[str, Any]]) -> None:
        """Write the rows of ``history``; its last row (the epoch just finished) to tensorboard."""
        if not self.enabled:
            return
        row = history[-1]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(row))
        w.writeheader()
        w.writerows(history)
        atomic_write_text(self.out_dir / "metrics.csv", buf.getvalue())
        if self.tensorboard is not None:
            for k in TENSORBOARD_SCALARS:
                self.tensorboard.add_scalar(k, row[k], row["epoch"])
            self.tensorboard.flush()

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def _tensorboard_writer(path: pathlib.Path) -> Any:
    """A tensorboard ``SummaryWriter`` on ``path``, or None when tensorboard is not installed."""
    try:
        # optional heavy dependency (the dev extra)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        logger.info("tensorboard not installed; metrics go to metrics.csv only")
        return None
    return SummaryWriter(str(path))
