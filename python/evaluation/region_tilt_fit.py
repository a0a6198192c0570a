"""Fit of a flow's gap-length region tilt on validation events (:mod:`..model.flow.region_tilt`).

The tilt ``h`` (values at the 10/30/50/70/90% quantiles of the validation truths' gap lengths,
linear in ``log L`` between them) and the base temperature are chosen so that the tilted
regions hold their level in every quintile of the true gap length and overall, at 68% and 90%:
the loss is the sum of squared deviations from nominal over the five quintiles plus
:data:`OVERALL_WEIGHT` times that of all events, at both levels. The coverage is a step function
of ``h``; the fit minimises a smoothed version (sigmoids of width :data:`SOFT_SCORE` in the
score and :data:`SOFT_LEVEL` in the rank) with Adam from ``h = 0`` at each base temperature of a
small grid around the fitted one, and keeps the candidate, ``h = 0`` included, whose exact
(unsmoothed) loss is smallest: on the validation events the tilt never does worse than none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..model.flow.region_tilt import RegionTilt, interpolation_weights
from .conditional import bin_index, quantile_edges

logger = logging.getLogger(__name__)

#: ``T -> (samples' log p [N, n], samples' gap lengths [N, n], truths' log p [N], truths' gap
#: lengths [N])`` at base temperature ``T``
Densities = Callable[[float], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]

#: quantiles of the validation truths' gap lengths at which ``h`` has its knots
KNOT_QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)
#: base temperatures tried: the fitted one times these factors
TEMPERATURE_FACTORS = tuple(float(v) for v in np.exp(np.linspace(-0.1, 0.1, 5)))
LEVELS = (0.68, 0.90)
#: weight of the overall coverage against each quintile's in the loss
OVERALL_WEIGHT = 5.0
#: smoothing of the indicator ``score_sample >= score_truth`` [nats] and ``rank <= level``
SOFT_SCORE, SOFT_LEVEL = 0.3, 0.02
#: Adam steps and learning rate of each fit; ridge penalty on ``h`` (fixes its free constant)
STEPS, LEARNING_RATE, RIDGE = 250, 0.05, 1e-3


@dataclass
class QuintileFit:
    """Validation coverage per quintile of an event variable (``[level][quintile]``, fractions)
    without and with a fitted calibration step, and of all events with it."""

    quintile_edges: list[float]
    coverage_before: list[list[float]]
    coverage_after: list[list[float]]
    overall_after: list[float]

    def coverage_record(self, edges_key: str) -> dict:
        """Plain data of the coverage, the quintile edges under ``edges_key``."""
        return {
            "levels": list(LEVELS),
            edges_key: self.quintile_edges,
            "coverage_before": self.coverage_before,
            "coverage_after": self.coverage_after,
            "overall_after": self.overall_after,
        }


@dataclass
class TiltFit(QuintileFit):
    """The fitted tilt and base temperature, with the coverage per true gap-length quintile."""

    tilt: RegionTilt
    temperature: float
    overall_before: list[float]

    def summary(self) -> dict:
        """Plain data for the calibration record."""
        return {
            **self.tilt.config(),
            "temperature": self.temperature,
            **self.coverage_record("gap_quintile_edges"),
            "overall_before": self.overall_before,
        }


def coverage_loss(covered: Sequence[torch.Tensor], onehot: torch.Tensor) -> torch.Tensor:
    """Loss of per-event (soft) indicators ``covered[level] [N]``, quintiles ``onehot [N, K]``."""
    loss = torch.zeros((), dtype=onehot.dtype)
    for a, c in zip(LEVELS, covered):
        per_bin = (c[:, None] * onehot).sum(0) / onehot.sum(0)
        loss = loss + ((per_bin - a) ** 2).sum() + OVERALL_WEIGHT * (c.mean() - a) ** 2
    return loss


class _Problem:
    """The validation events at one base temperature: samples' log densities and gap lengths,
    the truths', their quintiles; ranks of any ``h`` at the knots."""

    def __init__(self, arrays: tuple[torch.Tensor, ...], log_knots: torch.Tensor,
                 onehot: torch.Tensor) -> None:  # fmt: skip
        lp, gap, lt, gap_t = arrays  # inference tensors: copied
        self.lp, self.lt, self.onehot = lp.float().clone(), lt.float().clone(), onehot
        # h is linear in the knot values: h(gap) = basis(gap) @ values, basis [.., K] fixed
        self.basis = interpolation_weights(gap.clone(), log_knots).float()
        self.basis_t = interpolation_weights(gap_t.clone(), log_knots).float()

    def ranks(self, values: torch.Tensor, soft: bool) -> torch.Tensor:
        """HDR ranks ``[N]`` of the truths under the tilt ``values`` (smoothed with ``soft``)."""
        v = values.float()
        h, ht = self.basis @ v, self.basis_t @ v
        d = self.lp + h - (self.lt + ht)[:, None]
        above = torch.sigmoid(d / SOFT_SCORE) if soft else (d >= 0).float()
        return (torch.softmax(h, dim=-1) * above).sum(-1)

    def loss(self, values: torch.Tensor, soft: bool) -> torch.Tensor:
        r = self.ranks(values, soft)
        covered = [torch.sigmoid((a - r) / SOFT_LEVEL) if soft else (r <= a).float()
                   for a in LEVELS]  # fmt: skip
        return coverage_loss(covered, self.onehot)

    def coverage(self, values: torch.Tensor) -> tuple[list[list[float]], list[float]]:
        r = self.ranks(values, soft=False)
        per = [((r[:, None] <= a).float() * self.onehot).sum(0) / self.onehot.sum(0)
               for a in LEVELS]  # fmt: skip
        return [[float(v) for v in p] for p in per], [
            float((r <= a).float().mean()) for a in LEVELS
        ]


def _adam(problem: _Problem, k: int) -> torch.Tensor:
    values = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([values], lr=LEARNING_RATE)
    for _ in range(STEPS):
        opt.zero_grad()
        loss = problem.loss(values, soft=True) + RIDGE * (values**2).sum()
        loss.backward()
        opt.step()
    return values.detach()


def fit_region_tilt(densities: Densities, temperature: float) -> TiltFit:
    """Fit the tilt and base temperature on validation events. ``densities(T)``: at base
    temperature ``T``, the posterior samples' ``log p [N, n]`` and gap lengths ``[N, n]`` (m),
    the truths' ``log p [N]`` and gap lengths ``[N]`` (m)
    (:meth:`.truth_ranks.RankTable.densities` of the flow without a tilt); ``temperature``: the
    base temperature fitted without a tilt (the centre of the grid)."""
    arrays = densities(temperature)
    truth_gap = arrays[3].double().numpy()
    edges = quantile_edges(truth_gap)  # the bins of the report's coverage.conditional
    onehot = torch.nn.functional.one_hot(
        torch.as_tensor(bin_index(truth_gap, edges)), edges.size - 1
    ).float()
    knots = np.quantile(truth_gap, KNOT_QUANTILES)
    log_knots = torch.as_tensor(np.log(knots), dtype=torch.float64)
    zero = torch.zeros(len(KNOT_QUANTILES), dtype=torch.float64)
    with torch.no_grad():
        base = _Problem(arrays, log_knots, onehot)
        best = (float(base.loss(zero, soft=False)), temperature, zero, base)
    before, overall_before = base.coverage(zero)
    for factor in TEMPERATURE_FACTORS:
        t = temperature * factor
        problem = base if factor == 1.0 else _Problem(densities(t), log_knots, onehot)
        with torch.enable_grad():
            values = _adam(problem, len(KNOT_QUANTILES))
        with torch.no_grad():
            loss = float(problem.loss(values, soft=False))
        logger.debug("region tilt: T %.4f loss %.5f h %s", t, loss, values.numpy().round(3))
        if loss < best[0]:
            best = (loss, t, values, problem)
    _, t, values, problem = best
    with torch.no_grad():
        after, overall = problem.coverage(values)
    tilt = RegionTilt(knots.tolist(), values.tolist())
    logger.info(
        "region tilt: h = %s at gap lengths %s m, base temperature %.4f; 68%% coverage per true "
        "gap-length quintile %s -> %s",
        np.round(values.numpy(), 2).tolist(), np.round(knots).tolist(), t,
        [round(100 * v) for v in before[0]], [round(100 * v) for v in after[0]],
    )  # fmt: skip
    return TiltFit([float(e) for e in edges], before, after, overall, tilt=tilt,
                   temperature=float(t), overall_before=overall_before)  # fmt: skip
