"""Resolution and posterior size in quantile bins of an event variable (e.g. hit DOMs).

Per bin: the median 3D distance [m] between point estimate and true production / decay vertex
for each model (the flow's posterior mean, the MSE baseline), and the median over events of the
68% / 90% HDR volume (:mod:`.volume`), given as ``log`` [log m^6] and as the side of the cube of
that volume [m]. At fixed coverage, smaller regions are better.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .conditional import bin_index, quantile_edges


def _median(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


def binned_resolution(
    values: np.ndarray,
    points: Mapping[str, np.ndarray],
    truth: np.ndarray,
    log_volumes: Mapping[str, np.ndarray],
    n_bins: int = 5,
) -> list[dict]:
    """Rows ``{lo, hi, n, median_3d: {model: {prod, decay}}, log_hdr_volume_<p>,
    hdr_side_<p>}`` per quantile bin of ``values [N]``; ``points`` maps model name to ``[N, 6]``
    estimates [m], ``log_volumes`` ``"68"`` / ``"90"`` to ``[N]`` log volumes [log m^6]."""
    truth = np.asarray(truth, np.float64)
    dist = {
        m: (
            np.linalg.norm(np.asarray(p, np.float64)[:, :3] - truth[:, :3], axis=1),
            np.linalg.norm(np.asarray(p, np.float64)[:, 3:] - truth[:, 3:], axis=1),
        )
        for m, p in points.items()
    }
    edges = quantile_edges(values, n_bins)
    k = bin_index(values, edges)
    rows = []
    for b in range(edges.size - 1):
        sel = k == b
        row = {
            "lo": float(edges[b]),
            "hi": float(edges[b + 1]),
            "n": int(sel.sum()),
            "median_3d": {
                m: {"prod": _median(d[0][sel]), "decay": _median(d[1][sel])}
                for m, d in dist.items()
            },
        }
        for p, lv in log_volumes.items():
            med = _median(np.asarray(lv, np.float64)[sel])
            row[f"log_hdr_volume_{p}"] = med
            row[f"hdr_side_{p}"] = float(np.exp(med / 6))
        rows.append(row)
    return rows
