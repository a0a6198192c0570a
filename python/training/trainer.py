"""Training a model: encoder + flow (or the MSE baseline), one process or DDP under torchrun.

Run folder layout (only rank 0 writes)::

    RUN_DIR/config.yaml            the resolved training config
    RUN_DIR/metrics.csv            one row per epoch (rewritten atomically from the history)
    RUN_DIR/checkpoints/last.pt    every ``checkpoint_every`` steps and at each epoch end
    RUN_DIR/checkpoints/best.pt    at each new best validation loss
    RUN_DIR/model.pt               the model bundle (best validation weights), at the end
    RUN_DIR/tensorboard/           when tensorboard is installed

The pieces: :func:`~.build.build_run` makes a run from its config (:class:`~.setup.RunSetup`,
:class:`~.state.RunState`, loaders); :func:`~.loop.run_epochs` trains it;
:func:`~.finish.write_bundle` calibrates and writes the bundle. :class:`Trainer` ties them.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Optional, Union

import torch

from ..core.batch import PackedBatch
from ..data.parquet import PackedLoader
from ..data.parquet.normalization import Normalization
from .build import build_run
from .config import TrainConfig
from .ddp import DistContext, barrier
from .finish import write_bundle
from .loop import run_epochs, train_step, validate
from .model import GapRecoModel
from .outputs import MetricsLog, save_checkpoint
from .schedule import Scheduler
from .state import RunState


@dataclasses.dataclass
class TrainResult:
    """What a finished run reports (rank 0's view; identical numbers on every rank)."""

    out_dir: pathlib.Path
    bundle_path: Optional[pathlib.Path]
    history: list
    best_val_loss: float
    initial_val_loss: float
    global_step: int
    skipped_batches: int
    stopped: str
    model: GapRecoModel


class Trainer:
    """Builds everything for a run; :meth:`run` trains and writes the bundle.

    Args:
        data: converted folder with targets.
        out_dir: run folder (created).
        config: :class:`TrainConfig`.
        resume: continue from ``out_dir/checkpoints/last.pt`` (start fresh, with a warning,
            when there is none).

    The run's pieces are ``parts`` (:class:`~.build.RunParts`); the properties below are
    views of them.
    """

    def __init__(
        self,
        data: Union[str, pathlib.Path],
        out_dir: Union[str, pathlib.Path],
        config: TrainConfig,
        resume: bool = False,
    ) -> None:
        self.parts = build_run(data, out_dir, config, resume)

    @property
    def config(self) -> TrainConfig:
        return self.parts.setup.config

    @property
    def ctx(self) -> DistContext:
        return self.parts.setup.ctx

    @property
    def state(self) -> RunState:
        return self.parts.state

    @property
    def model(self) -> GapRecoModel:
        return self.parts.state.model

    @property
    def ddp_model(self) -> torch.nn.Module:
        """The module the training steps call (``model``, DDP-wrapped under ``torchrun``)."""
        return self.parts.ddp_model

    @ddp_model.setter
    def ddp_model(self, module: torch.nn.Module) -> None:
        self.parts.ddp_model = module

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.parts.state.optimizer

    @property
    def scheduler(self) -> Optional[Scheduler]:
        return self.parts.state.scheduler

    @property
    def train_loader(self) -> PackedLoader:
        return self.parts.train_loader

    @property
    def val_loader(self) -> Optional[PackedLoader]:
        return self.parts.val_loader

    @property
    def train_files(self) -> list[str]:
        return self.parts.setup.train_files

    @property
    def val_files(self) -> list[str]:
        return self.parts.setup.val_files

    @property
    def normalization(self) -> Normalization:
        return self.parts.setup.normalization

    @property
    def feature_indices(self) -> dict[str, Any]:
        return self.parts.setup.feature_indices

    @property
    def feature_config(self) -> dict[str, Any]:
        return self.parts.setup.feature_config

    @property
    def attention_backend(self) -> str:
        return self.parts.state.model.encoder.attention_backend

    @property
    def global_step(self) -> int:
        return self.parts.state.global_step

    @property
    def step_in_epoch(self) -> int:
        return self.parts.state.step_in_epoch

    def train_step(self, batch: PackedBatch) -> tuple[bool, float, int]:
        """One optimiser step (:func:`~.loop.train_step`): (applied, mean loss, events)."""
        return train_step(self.parts, batch)

    def validate(self) -> tuple[float, int]:
        """Mean per-event validation loss over all ranks, and the number of events."""
        return validate(self.parts)

    def save_checkpoint(self, name: str = "last") -> Optional[pathlib.Path]:
        """Atomically write ``checkpoints/<name>.pt`` (collective under DDP)."""
        return save_checkpoint(self.parts, name)

    def run(self) -> TrainResult:
        """Train (from the restored state when resumed), then write the bundle."""
        st = self.parts.state
        st.clock.start()
        log = MetricsLog(self.parts.setup)
        try:
            stopped = run_epochs(self.parts, log)
        finally:
            log.close()
        bundle_path = write_bundle(self.parts, stopped)
        barrier(self.ctx)
        return TrainResult(
            self.parts.setup.out_dir,
            bundle_path,
            st.history,
            st.best_val_loss,
            st.initial_val_loss,
            st.global_step,
            st.skipped_batches,
            stopped,
            st.model,
        )


def train(
    data: Union[str, pathlib.Path],
    out_dir: Union[str, pathlib.Path],
    config: Optional[TrainConfig] = None,
    resume: bool = False,
    **overrides: Any,
) -> TrainResult:
    """Train a model on a converted folder; returns the :class:`TrainResult`.

    ``overrides`` replace fields of ``config`` (default :class:`TrainConfig`).
    """
    config = config or TrainConfig()
    if overrides:
        config = config.replace(**overrides)
    return Trainer(data, out_dir, config, resume=resume).run()
