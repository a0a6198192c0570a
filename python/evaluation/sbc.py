"""Simulation-based calibration (SBC) per coordinate, from posterior samples.

For each event and coordinate ``j``, the rank of the truth among ``S`` posterior samples is the
number of samples below it, an integer in ``0..S``. When the truths are drawn from the same
distribution the posterior describes (a calibrated posterior, over a test set drawn from the
simulation), the rank is uniform on ``0..S``. A U-shaped histogram means too narrow posteriors
(truths in the tails), a hump too wide ones, a slope a bias. ``u = rank / S`` is the posterior
CDF at the truth, from which the central-interval coverage follows (:mod:`.conditional`).
Uniformity is tested with Pearson's chi-square over ``n_bins`` rank bins.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from .resolution import TARGET_NAMES


def coordinate_ranks(
    samples: torch.Tensor | np.ndarray, truth: torch.Tensor | np.ndarray
) -> np.ndarray:
    """``[B, S, 6], [B, 6] -> [B, 6]`` int64: posterior samples below the truth, per coordinate."""
    s = torch.as_tensor(samples, dtype=torch.float64)
    t = torch.as_tensor(truth, dtype=torch.float64).to(s.device)
    return (s < t[:, None, :]).sum(1).cpu().numpy().astype(np.int64)


def default_bins(n_events: int, n_samples: int) -> int:
    """Rank bins: 20, fewer when there are fewer than ~10 events per bin or few samples."""
    return int(max(2, min(20, n_samples + 1, n_events // 10)))


def rank_histogram(ranks: np.ndarray, n_samples: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts of ranks ``0..n_samples`` in ``n_bins`` bins (rank ``r`` in bin
    ``floor(r n_bins / (n_samples + 1))``) and the counts a uniform rank would give."""
    r = np.asarray(ranks, np.int64)
    if r.size and (r.min() < 0 or r.max() > n_samples):
        raise ValueError(f"ranks must lie in 0..{n_samples}")
    bins = (r * n_bins) // (n_samples + 1)
    counts = np.bincount(bins, minlength=n_bins)
    width = np.bincount((np.arange(n_samples + 1) * n_bins) // (n_samples + 1), minlength=n_bins)
    return counts, r.size * width / (n_samples + 1)


def chi2_pvalue(counts: np.ndarray, expected: np.ndarray) -> tuple[float, int, float]:
    """Pearson's ``(chi2, dof, p-value)`` of observed against expected counts (dof = bins - 1);
    the survival function of chi-square is the regularised upper incomplete gamma function."""
    c, e = np.asarray(counts, np.float64), np.asarray(expected, np.float64)
    keep = e > 0
    stat = float(((c[keep] - e[keep]) ** 2 / e[keep]).sum())
    dof = int(keep.sum()) - 1
    if dof < 1:
        return stat, dof, float("nan")
    p = torch.special.gammaincc(
        torch.tensor(dof / 2, dtype=torch.float64), torch.tensor(stat / 2, dtype=torch.float64)
    )
    return stat, dof, float(p)


def sbc_summary(ranks: np.ndarray, n_samples: int, n_bins: Optional[int] = None) -> dict:
    """``{"n_bins", "samples_per_event", "coordinates": {name: {counts, expected, chi2, dof,
    p_value}}}`` of ranks ``[N, 6]`` (:func:`coordinate_ranks`)."""
    ranks = np.asarray(ranks, np.int64)
    n_bins = default_bins(ranks.shape[0], n_samples) if n_bins is None else int(n_bins)
    coords = {}
    for j, name in enumerate(TARGET_NAMES):
        counts, expected = rank_histogram(ranks[:, j], n_samples, n_bins)
        stat, dof, p = chi2_pvalue(counts, expected)
        coords[name] = {
            "counts": counts,
            "expected": expected,
            "chi2": stat,
            "dof": dof,
            "p_value": p,
        }
    return {"n_bins": n_bins, "samples_per_event": int(n_samples), "coordinates": coords}
