"""Loss weights that flatten the training set's gap-length distribution (``gap_prior="flat"``).

A flow trained by maximum likelihood learns the posterior under the training set's prior. With
the simulated decay-length prior (falling about tenfold from 50 to 500 m) and a gap that the
data pin down only loosely, that posterior pulls every gap towards short ones: its regions are
too wide for short gaps and miss most long ones, although they hold on average. Weighting each
training event by ``1 / p(gap length)`` makes the learned posterior the one under a flat
gap-length prior, whose regions hold their level for every true gap length (for a
location-like parameter the flat-prior region is a confidence region) and therefore also on
average over any gap distribution. The flow keeps the table
(:class:`~..model.flow.gap_prior.GapPriorTable`) and weights its samples back for the posterior
mean and moments.

``p`` is estimated from the training labels themselves (equal-count bins: no knowledge of how
the set was generated is needed), so the weight of an event is the width of its bin divided by
its count. The prior is flat up to the :data:`FLAT_QUANTILE` of the training gaps (by default
over their whole range); below 1, the tail beyond keeps its own falling shape (the weight of
the last flat bin), which bounds the largest weight. Weights are scaled to mean 1 over the
training set.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pyarrow.parquet as pq

from ..data.parquet.format import TARGET_COLUMNS
from ..model.flow.gap_prior import GapPriorTable, gap_lengths

logger = logging.getLogger(__name__)

#: equal-count bins of the gap-length density
N_BINS = 100
#: fewer training events get fewer bins, each of at least this many events ...
MIN_EVENTS_PER_BIN = 20
#: ... and at least this many bins
MIN_BINS = 5
#: the prior is flat up to this quantile of the training gaps (1: over their whole range)
FLAT_QUANTILE = 1.0
#: the choices of ``TrainConfig.gap_prior``
GAP_PRIORS = ("simulated", "flat")


def flat_gap_prior(training_gaps: np.ndarray) -> GapPriorTable:
    """The flat-prior weights of training gap lengths ``[N]`` (m), mean 1 over them."""
    gaps = np.sort(np.asarray(training_gaps, np.float64))
    gaps = gaps[np.isfinite(gaps)]
    n_bins = min(N_BINS, gaps.size // MIN_EVENTS_PER_BIN)
    if n_bins < MIN_BINS:
        raise ValueError(
            f"gap_prior='flat' needs at least {MIN_BINS * MIN_EVENTS_PER_BIN} labelled training "
            f"events, got {gaps.size}"
        )
    edges = np.unique(np.quantile(gaps, np.linspace(0.0, 1.0, n_bins + 1)))
    counts = np.histogram(gaps, edges)[0]
    per_event = np.diff(edges) / np.maximum(counts, 1)  # 1 / density, up to a constant
    knee = max(1, min(round(FLAT_QUANTILE * per_event.size), per_event.size))  # flat bins
    weight = per_event.copy()
    weight[knee:] = per_event[knee - 1]  # the tail keeps the training set's own shape
    i = np.clip(np.searchsorted(edges[1:-1], gaps, side="right"), 0, weight.size - 1)
    table = GapPriorTable(edges, weight / weight[i].mean())
    logger.info(
        "flat gap-length prior up to %.0f m (%d bins from %.0f m), weights %.2f-%.2f",
        edges[knee],
        edges.size - 1,
        edges[0],
        float(table.weight.min()),
        float(table.weight.max()),
    )
    return table


def flat_gap_prior_of_files(files: Sequence[str]) -> GapPriorTable:
    """:func:`flat_gap_prior` of the labels of the training ``files`` (converted parquet)."""
    parts = []
    for f in files:
        table = pq.read_table(f, columns=list(TARGET_COLUMNS))
        parts.append(np.column_stack([table.column(c).to_numpy() for c in TARGET_COLUMNS]))
    return flat_gap_prior(np.asarray(gap_lengths(np.concatenate(parts).astype(np.float64))))
