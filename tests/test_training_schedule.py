"""The budget cosine: LR from (step, elapsed) against the closed form, and a run that ends at
the low LR when its step budget stops it."""

from __future__ import annotations

import math

import pytest
import torch
from _training_helpers import make_folder, tiny_config
from llp_gap_reco.training import Trainer
from llp_gap_reco.training.schedule import BudgetCosine


def _opt() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=1.0)


def test_budget_cosine_follows_the_closed_form_and_the_nearer_limit():
    opt = _opt()
    sched = BudgetCosine(opt, lr=2e-3, final_fraction=0.05, total_steps=1000, budget_s=600.0)
    naive = lambda p: 2e-3 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))  # noqa: E731
    for step, elapsed, p in [
        (0, 0.0, 0.0),
        (250, 30.0, 0.25),
        (100, 300.0, 0.5),
        (900, 60.0, 0.9),
        (2000, 10.0, 1.0),
        (10, 1e4, 1.0),
    ]:
        lr = sched.update(step, elapsed)
        assert lr == pytest.approx(naive(p), rel=1e-12)
        assert opt.param_groups[0]["lr"] == lr
    time_only = BudgetCosine(_opt(), 1.0, 0.0, None, 100.0)
    assert time_only.factor(10**6, 50.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="step count or a time budget"):
        BudgetCosine(_opt(), 1.0, 0.0, None, None)


@pytest.mark.slow
def test_run_with_a_step_budget_ends_at_the_final_lr(tmp_path):
    folder = make_folder(tmp_path / "sim", n_events=240, events_per_file=40)
    cfg = tiny_config(
        epochs=5,
        scheduler="cosine_budget",
        cosine_final_fraction=0.1,
        max_steps=12,
        calibrate=False,
    )
    trainer = Trainer(folder, tmp_path / "run", cfg)
    result = trainer.run()
    assert result.global_step == 12
    lr = trainer.optimizer.param_groups[0]["lr"]
    # the last step ran at p = 11/12; the curve is set before each step
    expected = cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 11 / 12)))
    assert lr == pytest.approx(expected, rel=1e-9)
    lrs = [row["lr"] for row in result.history]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.5 * cfg.lr
