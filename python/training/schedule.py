"""Learning-rate schedules: the configured scheduler, and a cosine decay over the run's budget,
whichever limit comes first.

Runs on a wall-clock budget (``max_minutes``: CPU training in minutes, grid jobs with a time
limit) stop at an unknown step, so a per-step cosine sized for ``epochs`` never decays, and a
plateau schedule may never trigger while the validation loss still creeps down. Here the LR is

    lr(p) = lr * (f + (1 - f) * (1 + cos(pi * p)) / 2),   p = max(step / total_steps,
                                                                 elapsed / budget) in [0, 1]

with ``f = cosine_final_fraction``: the run ends at the low LR whichever limit stops it.
"""

from __future__ import annotations

import math
from typing import Optional, Union

import torch

from .config import TrainConfig


class BudgetCosine:
    """Stateless: the LR follows from ``(step, elapsed)``, so a resumed run continues the curve
    from its restored step count and elapsed time."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        lr: float,
        final_fraction: float,
        total_steps: Optional[int],
        budget_s: Optional[float],
    ) -> None:
        if not total_steps and not budget_s:
            raise ValueError("cosine_budget needs a step count or a time budget")
        self.optimizer, self.lr, self.final_fraction = optimizer, float(lr), float(final_fraction)
        self.total_steps, self.budget_s = total_steps, budget_s

    def progress(self, step: int, elapsed_s: float) -> float:
        p = 0.0
        if self.total_steps:
            p = max(p, step / self.total_steps)
        if self.budget_s:
            p = max(p, elapsed_s / self.budget_s)
        return min(p, 1.0)

    def factor(self, step: int, elapsed_s: float) -> float:
        f = self.final_fraction
        return f + (1.0 - f) * 0.5 * (1.0 + math.cos(math.pi * self.progress(step, elapsed_s)))

    def update(self, step: int, elapsed_s: float) -> float:
        """Set the LR of every parameter group for ``step`` and ``elapsed_s``; returns it."""
        lr = self.lr * self.factor(step, elapsed_s)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Nothing to restore (the LR is a function of the restored step and elapsed time)."""


#: what :func:`build_scheduler` makes
Scheduler = Union[
    torch.optim.lr_scheduler.ReduceLROnPlateau,
    torch.optim.lr_scheduler.CosineAnnealingLR,
    BudgetCosine,
]


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int
) -> Optional[Scheduler]:
    """The LR schedule of ``cfg.scheduler`` (None for ``"none"``).

    ``plateau`` steps on the validation loss at epoch ends; ``cosine`` steps after every
    optimiser step; :class:`BudgetCosine` is set before every step from (step, elapsed time).
    """
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience
        )
    if cfg.scheduler == "cosine":
        total = max(cfg.epochs * max(steps_per_epoch, 1), 1)
        if cfg.max_steps:
            total = min(total, cfg.max_steps)
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=total, eta_min=cfg.lr * cfg.cosine_final_fraction
        )
    if cfg.scheduler == "cosine_budget":
        total = cfg.epochs * max(steps_per_epoch, 1)
        if cfg.max_steps:
            total = min(total, cfg.max_steps)
        budget = None if cfg.max_minutes is None else 60.0 * cfg.max_minutes
        return BudgetCosine(optimizer, cfg.lr, cfg.cosine_final_fraction, total, budget)
    return None
