"""Pulls ``(mean - truth) / sigma`` per target coordinate; calibrated posteriors give N(0, 1)."""

from __future__ import annotations

import numpy as np

from .resolution import TARGET_NAMES


def pulls(mean: np.ndarray, sigma: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``[N, 6]`` pulls; rows with a non-finite or non-positive sigma become NaN."""
    mean, sigma, truth = (np.asarray(a, np.float64) for a in (mean, sigma, truth))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (mean - truth) / sigma
    p[~(sigma > 0)] = np.nan
    return p


def pull_summary(p: np.ndarray) -> list[dict]:
    """Rows ``{quantity, mean, std, width68, n}`` per coordinate (robust ``width68``)."""
    rows = []
    for i, name in enumerate(TARGET_NAMES):
        col = p[:, i][np.isfinite(p[:, i])]
        lo, hi = np.quantile(col, [0.16, 0.84]) if col.size else (np.nan, np.nan)
        rows.append(
            {
                "quantity": name,
                "mean": float(col.mean()) if col.size else np.nan,
                "std": float(col.std()) if col.size else np.nan,
                "width68": float(hi - lo) / 2,
                "n": int(col.size),
            }
        )
    return rows
