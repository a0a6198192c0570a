"""What changes while a run trains, in one checkpointable object.

:class:`RunState` holds the model, optimiser, LR schedule, grad scaler, the data position
(epoch, batches done in it), the partial epoch sums, the counters, the history and the run's
clock. ``state_dict()`` is its part of a checkpoint (with this process's RNG states);
``load_state_dict()`` restores it, so a resumed run continues exactly where the checkpoint was
taken (bit-identical on one CPU process).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Optional

import torch

from .checkpoint import rng_state, set_rng_state
from .model import GapRecoModel
from .schedule import Scheduler


@dataclasses.dataclass
class RunClock:
    """Wall-clock time of a run across resumes [s]."""

    #: time spent before this process's run started (restored from the checkpoint)
    before_s: float = 0.0
    #: ``time.perf_counter()`` when this process's run started (None: not started)
    started: Optional[float] = None
    #: the elapsed time all ranks last agreed on (the maximum over ranks; DDP)
    synced_s: float = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds of training so far, earlier processes of a resumed run included."""
        if self.started is None:
            return self.before_s
        return self.before_s + time.perf_counter() - self.started

    def restore(self, elapsed_s: float) -> None:
        self.before_s = self.synced_s = float(elapsed_s)


@dataclasses.dataclass
class RunState:
    """The checkpointed state of a run (see the module docstring)."""

    model: GapRecoModel
    optimizer: torch.optim.Optimizer
    scheduler: Optional[Scheduler]
    scaler: torch.amp.GradScaler
    #: data position: the epoch in progress and the batches done in it
    epoch: int = 0
    step_in_epoch: int = 0
    #: optimiser steps taken (skipped batches included)
    global_step: int = 0
    best_val_loss: float = math.inf
    #: epochs since the last better validation loss
    bad_epochs: int = 0
    #: batches skipped for a non-finite loss or gradient
    skipped_batches: int = 0
    #: fp16 steps the grad scaler skipped for an overflow (not bad batches)
    amp_overflow_steps: int = 0
    #: of the epoch in progress: sum of loss x events, events, batches applied
    epoch_sums: list[float] = dataclasses.field(default_factory=lambda: [0.0, 0.0, 0.0])
    #: one row per finished epoch (the columns of ``metrics.csv``)
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: validation loss before the first step
    initial_val_loss: float = math.nan
    clock: RunClock = dataclasses.field(default_factory=RunClock)

    def add_batch(self, loss: float, events: int) -> None:
        """Count an applied batch of ``events`` events with mean loss ``loss`` in the epoch."""
        s = self.epoch_sums
        self.epoch_sums = [s[0] + loss * events, s[1] + events, s[2] + 1]

    def next_epoch(self) -> None:
        self.epoch += 1
        self.step_in_epoch, self.epoch_sums = 0, [0.0, 0.0, 0.0]

    def state_dict(self) -> dict[str, Any]:
        """This state as checkpoint entries (plain data and tensors), this process's RNG
        states under ``rng``."""
        return {
            "kind": self.model.kind,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "encoder_config": self.model.encoder.config,
            "head_config": self.model.head.config,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "best_val_loss": self.best_val_loss,
            "bad_epochs": self.bad_epochs,
            "skipped_batches": self.skipped_batches,
            "amp_overflow_steps": self.amp_overflow_steps,
            "epoch_sums": list(self.epoch_sums),
            "history": list(self.history),
            "elapsed_s": self.clock.elapsed(),
            "initial_val_loss": self.initial_val_loss,
            "rng": rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` wrote; the global RNGs only when ``state["rng"]`` is
        not None (a run resumed with another world size reseeds instead)."""
        self.model.load_state_dict(state["model"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step_in_epoch = int(state["epoch"]), int(state["step_in_epoch"])
        self.global_step = int(state["global_step"])
        self.best_val_loss = float(state["best_val_loss"])
        self.bad_epochs = int(state["bad_epochs"])
        self.skipped_batches = int(state["skipped_batches"])
        self.amp_overflow_steps = int(state.get("amp_overflow_steps", 0))
        self.epoch_sums = list(state["epoch_sums"])
        self.history = list(state["history"])
        self.clock.restore(state["elapsed_s"])
        self.initial_val_loss = float(state["initial_val_loss"])
        if state.get("rng") is not None:
            set_rng_state(state["rng"])
