"""Fit of a flow's brightness width term on validation events
(:mod:`..model.flow.brightness_width`).

``s_i`` is the encoding's least-squares prediction (ridge :data:`RIDGE` on standardised
encodings) of the event's standardised ``log(n_doms)``; ``g`` has its knots at the 10/30/50/70/90%
quantiles of ``s`` on the validation events. The truth's HDR rank in an event depends on that
event's width alone: the ranks at every event's current width times ``exp(delta)``, for
``delta`` on :data:`DELTAS` (one pass of the samples each), give each event's rank as a function
of ``delta``, linear between the grid points. The values of ``g`` minimise the squared coverage
deviations from nominal over the five hit-DOM quintiles plus
:data:`~.region_tilt_fit.OVERALL_WEIGHT` times that of all events, at 68% and 90% (the region
tilt's loss): Adam on a smoothed version (sigmoids of width :data:`SOFT_LEVEL` in the rank) from
``g = 0``; of that and ``g = 0`` the one with the smaller exact loss is kept, so on the
validation events the term never does worse than none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from ..model.flow import ConditionalFlow
from ..model.flow.brightness_width import BrightnessWidth, interpolate
from .conditional import bin_index, quantile_edges
from .region_tilt_fit import LEVELS, QuintileFit, coverage_loss
from .truth_ranks import RankTable

logger = logging.getLogger(__name__)

#: changes of ``log T`` at which the ranks are computed (the range of ``g``)
DELTAS = tuple(float(v) for v in np.round(np.linspace(-0.4, 0.4, 17), 3))
#: quantiles of the validation events' ``s`` at which ``g`` has its knots
KNOT_QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)
#: ridge strength of the least-squares prediction of ``log(n_doms)`` (standardised encodings)
RIDGE = 1e-3
#: smoothing of the indicator ``rank <= level``; Adam steps and learning rate
SOFT_LEVEL, STEPS, LEARNING_RATE = 0.02, 300, 0.01


@dataclass
class BrightnessWidthFit(QuintileFit):
    """The fitted term, with the coverage per hit-DOM quintile and the validation events' ranks
    ``[N]`` at the fitted widths."""

    term: BrightnessWidth
    r2: float
    rank: np.ndarray = field(repr=False)

    def summary(self) -> dict:
        """Plain data for the calibration record."""
        return {
            **self.term.config(),
            "r2_log_n_doms": self.r2,
            **self.coverage_record("n_doms_quintile_edges"),
        }


def brightness_direction(
    encoding: torch.Tensor, n_doms: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """``[c_0, c_1 .. c_D]`` (float64) with ``c_0 + c . encoding_i`` the ridge least-squares
    prediction of the standardised ``log(n_doms_i)``, and the fraction of its variance
    explained."""
    enc = encoding.to(torch.float64).cpu()
    y = torch.log(n_doms.to(torch.float64).cpu().clamp_min(1.0))
    y = (y - y.mean()) / y.std().clamp_min(1e-12)
    mean, std = enc.mean(0), enc.std(0).clamp_min(1e-6)
    phi = torch.cat([torch.ones(enc.shape[0], 1, dtype=torch.float64), (enc - mean) / std], 1)
    penalty = torch.ones(phi.shape[1], dtype=torch.float64) * RIDGE * enc.shape[0]
    penalty[0] = 0.0
    coef = torch.linalg.solve(phi.T @ phi + torch.diag(penalty), phi.T @ y)
    c = coef[1:] / std
    direction = torch.cat([(coef[0] - (c * mean).sum()).reshape(1), c])
    r2 = 1.0 - float(((phi @ coef - y) ** 2).mean() / (y**2).mean())
    return direction, r2


def _rank_at(ranks: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Each event's rank at its ``delta [N]``, linear in ``delta`` between the rows of
    ``ranks [len(DELTAS), N]``, clamped to the grid."""
    step = DELTAS[1] - DELTAS[0]
    p = ((delta - DELTAS[0]) / step).clamp(0.0, len(DELTAS) - 1.0)
    j = p.detach().floor().long().clamp(max=len(DELTAS) - 2)
    frac = p - j
    cols = torch.arange(ranks.shape[1])
    return ranks[j, cols] * (1.0 - frac) + ranks[j + 1, cols] * frac


def fit_brightness_width(
    flow: ConditionalFlow, table: RankTable, n_doms: torch.Tensor, temperature: float
) -> Optional[BrightnessWidthFit]:
    """Fit the term of ``flow`` (its event width, region tilt and base ``temperature`` as fitted
    so far) on the events of ``table`` with hit-DOM counts ``n_doms [N]``; sets it on ``flow``
    (with zero ``temperature_weights`` if it had none) and refreshes the table's widths.
    ``None`` (nothing set) when the encodings do not spread ``s`` over distinct knots."""
    encoding = torch.cat([c.encoding for c in table.chunks]).to(torch.float64).cpu()
    direction, r2 = brightness_direction(encoding, n_doms)
    s = direction[0] + encoding @ direction[1:]
    knots = torch.as_tensor(np.quantile(s.numpy(), KNOT_QUANTILES), dtype=torch.float64)
    if not (bool(torch.isfinite(knots).all()) and bool((knots[1:] > knots[:-1]).all())):
        logger.warning("brightness width: s has no distinct knots (%s); none fitted",
                       knots.tolist())  # fmt: skip
        return None
    counts = n_doms.to(torch.float64).cpu().numpy()
    edges = quantile_edges(counts)
    onehot = torch.nn.functional.one_hot(
        torch.as_tensor(bin_index(counts, edges)), edges.size - 1
    ).double()
    ranks = torch.stack([torch.as_tensor(table(temperature * np.exp(d))) for d in DELTAS])

    def loss(values: torch.Tensor, soft: bool) -> torch.Tensor:
        r = _rank_at(ranks, interpolate(s, knots, values))
        covered = [torch.sigmoid((a - r) / SOFT_LEVEL) if soft else (r <= a).double()
                   for a in LEVELS]  # fmt: skip
        return coverage_loss(covered, onehot)

    values = torch.zeros(len(KNOT_QUANTILES), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([values], lr=LEARNING_RATE)
    with torch.enable_grad():
        for _ in range(STEPS):
            opt.zero_grad()
            loss(values, soft=True).backward()
            opt.step()
    zero = torch.zeros_like(values)
    with torch.no_grad():
        values = min((values.detach(), zero), key=lambda v: float(loss(v, soft=False)))
        before = _per_quintile(ranks[DELTAS.index(0.0)], onehot)
    if flow.temperature_weights is None:
        flow.set_temperature_weights([0.0] * (encoding.shape[1] + 1))
    term = BrightnessWidth(direction.tolist(), knots.tolist(), values.tolist())
    flow.brightness_width = term
    table.refresh_event_factor()
    rank = table(temperature)
    after = _per_quintile(torch.as_tensor(rank), onehot)
    overall = [float(np.mean(rank <= a)) for a in LEVELS]
    logger.info(
        "brightness width: g = %s at s = %s (log n_doms from the encoding, R^2 %.3f); 68%% "
        "coverage per hit-DOM quintile %s -> %s",
        np.round(values.numpy(), 3).tolist(), np.round(knots.numpy(), 2).tolist(), r2,
        [round(100 * v) for v in before[0]], [round(100 * v) for v in after[0]],
    )  # fmt: skip
    return BrightnessWidthFit([float(e) for e in edges], before, after, overall, term=term, r2=r2,
                              rank=rank)  # fmt: skip


def _per_quintile(rank: torch.Tensor, onehot: torch.Tensor) -> list[list[float]]:
    return [((rank[:, None] <= a).double() * onehot).sum(0).div(onehot.sum(0)).tolist()
            for a in LEVELS]  # fmt: skip
