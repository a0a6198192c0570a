"""A cosine learning-rate decay over the run's budget, whichever limit comes first.

Runs on a wall-clock budget (``max_minutes``: CPU training in minutes, grid jobs with a time
limit) stop at an unknown step, so a per-step cosine sized for ``epochs`` never decays, and a
plateau schedule may never trigger while the validation loss still creeps down. Here the LR is

    lr(p) = lr * (f + (1 - f) * (1 + cos(pi * p)) / 2),   p = max(step / total_steps,
                                                                 elapsed / budget) in [0, 1]

with ``f = cosine_final_fraction``: the run ends at the low LR whichever limit stops it.
"""

from __future__ import annotations

import math
from typing import Optional

import torch


class BudgetCosine:
    """Stateless: the LR follows from ``(step, elapsed)``, so a resumed run continues the curve
    from its restored step count and elapsed time."""

    def __init__(self, optimizer: torch.optim.Optimizer, lr: float, final_fraction: float,
                 total_steps: Optional[int], budget_s: Optional[float]) -> None:
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
