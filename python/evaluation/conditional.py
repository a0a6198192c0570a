"""Coverage in quantile bins of an event variable (conditional coverage).

One temperature can put the overall coverage on target while short gaps are over-covered and
long gaps under-covered. Binning the events by a variable (quintiles by default) and computing
the fraction of truths inside the 68% and 90% regions per bin shows this. A bin's standard
error is binomial, ``sqrt(c (1 - c) / n)``.

An event is inside the HDR at level ``alpha`` iff its HDR rank ``r <= alpha`` (see
:mod:`.coverage`); inside the central 1D interval of a coordinate at level ``alpha`` iff its
posterior CDF value ``u = P(X_j < truth_j)`` lies in ``[(1 - alpha) / 2, (1 + alpha) / 2]``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .resolution import TARGET_NAMES

#: the two nominal levels of the conditional tables
LEVELS = (0.68, 0.90)


def quantile_edges(values: np.ndarray, n_bins: int = 5) -> np.ndarray:
    """Edges of ``n_bins`` equal-count bins of the finite ``values`` (duplicate edges, from
    tied values such as small DOM counts, are merged, so there may be fewer bins)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.empty(0)
    edges = np.unique(np.quantile(v, np.linspace(0, 1, n_bins + 1)))
    return np.repeat(edges, 2) if edges.size == 1 else edges  # one value: one bin [v, v]


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: ``k`` for ``edges[k] <= v < edges[k+1]`` (the last bin includes its
    upper edge); ``-1`` for non-finite values or values outside the edges."""
    v = np.asarray(values, np.float64)
    if edges.size < 2:
        return np.full(v.shape, -1)
    k = np.searchsorted(edges, v, side="right") - 1
    k[v == edges[-1]] = edges.size - 2
    k[~np.isfinite(v) | (k < 0) | (k > edges.size - 2)] = -1
    return k


def _fraction(inside: np.ndarray) -> tuple[float, float]:
    n = inside.size
    if n == 0:
        return float("nan"), float("nan")
    c = float(inside.mean())
    return c, float(np.sqrt(max(c * (1 - c), 1e-12) / n))


def binned_fractions(
    values: np.ndarray, inside: Mapping[float, np.ndarray], n_bins: int = 5
) -> list[dict]:
    """Rows ``{lo, hi, n, observed_<p>, stderr_<p>}`` per quantile bin of ``values``;
    ``inside`` maps a level (0.68) to a boolean ``[N]`` "truth inside" array."""
    edges = quantile_edges(values, n_bins)
    k = bin_index(values, edges)
    rows = []
    for b in range(edges.size - 1):
        sel = k == b
        row = {"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": int(sel.sum())}
        for level, ins in inside.items():
            p = round(100 * level)
            row[f"observed_{p}"], row[f"stderr_{p}"] = _fraction(np.asarray(ins, bool)[sel])
        rows.append(row)
    return rows


def hdr_inside(rank: np.ndarray, levels: Sequence[float] = LEVELS) -> dict[float, np.ndarray]:
    """``{level: rank <= level}`` for HDR ranks ``[N]`` (non-finite ranks: outside)."""
    r = np.asarray(rank, np.float64)
    return {a: np.isfinite(r) & (r <= a) for a in levels}


def central_inside(u: np.ndarray, levels: Sequence[float] = LEVELS) -> dict[float, np.ndarray]:
    """``{level: inside [N, 6]}``: truth inside each coordinate's central interval, from the
    posterior CDF values ``u [N, 6]`` of the truths."""
    u = np.asarray(u, np.float64)
    return {a: np.isfinite(u) & (np.abs(u - 0.5) <= a / 2) for a in levels}


def conditional_coverage(
    variables: Mapping[str, np.ndarray], inside: Mapping[float, np.ndarray], n_bins: int = 5
) -> dict[str, list[dict]]:
    """``{variable: rows}`` (:func:`binned_fractions`) for each event variable."""
    return {name: binned_fractions(v, inside, n_bins) for name, v in variables.items()}


def overall(inside: Mapping[float, np.ndarray]) -> dict:
    """``{n, observed_<p>, stderr_<p>}`` over all events."""
    out: dict = {}
    for level, ins in inside.items():
        ins = np.asarray(ins, bool)
        out["n"] = int(ins.size)
        p = round(100 * level)
        out[f"observed_{p}"], out[f"stderr_{p}"] = _fraction(ins)
    return out


def coordinate_coverage(
    u: np.ndarray, variables: Mapping[str, np.ndarray], n_bins: int = 5
) -> dict[str, dict]:
    """Per coordinate: ``{"overall": ..., "conditional": {variable: rows}}`` of its central
    68% / 90% intervals, from the CDF values ``u [N, 6]``."""
    inside = central_inside(u)
    out = {}
    for j, name in enumerate(TARGET_NAMES):
        ins = {a: m[:, j] for a, m in inside.items()}
        out[name] = {
            "overall": overall(ins),
            "conditional": conditional_coverage(variables, ins, n_bins),
        }
    return out
