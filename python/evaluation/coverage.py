"""Coverage of highest-density regions (HDR).

The HDR at level ``alpha`` is ``{x : log p(x) >= t_alpha}`` with ``P(log p(X) >= t_alpha) = alpha``
for ``X`` drawn from the posterior; ``t_alpha`` is the ``(1 - alpha)`` quantile of the posterior
samples' log densities. The truth lies inside it iff ``log p(truth) >= t_alpha``, equivalently iff
its *HDR rank* ``r = P(log p(X) >= log p(truth))`` is ``<= alpha``. A calibrated posterior has
``r ~ Uniform(0, 1)`` over events, so the observed coverage equals the nominal level at every
``alpha``.
"""

from __future__ import annotations

import numpy as np
import torch

DEFAULT_LEVELS = np.round(np.linspace(0.05, 0.95, 19), 4)


def hdr_rank(
    logp_samples: torch.Tensor | np.ndarray,
    logp_truth: torch.Tensor | np.ndarray,
    weight: torch.Tensor | np.ndarray | None = None,
) -> np.ndarray:
    """``[B, S], [B] -> [B]``: fraction of posterior samples at least as dense as the truth
    (``weight [B, S]``, summing to 1 per event: their weighted mass, for the region scores of a
    flow with a region tilt, ``model.flow.region_tilt``)."""
    ls = torch.as_tensor(logp_samples, dtype=torch.float64)
    lt = torch.as_tensor(logp_truth, dtype=torch.float64)
    above = (ls >= lt[:, None]).double()
    if weight is None:
        rank = above.mean(1)
    else:
        rank = (above * torch.as_tensor(weight, dtype=torch.float64)).sum(1)
    rank[~torch.isfinite(lt)] = 1.0  # a truth with zero density is outside every region
    return rank.numpy()


def coverage_curve(
    rank: np.ndarray, levels: np.ndarray = DEFAULT_LEVELS
) -> tuple[np.ndarray, np.ndarray]:
    """Observed coverage at each nominal level and its binomial standard error."""
    rank = np.asarray(rank, np.float64)
    rank = rank[np.isfinite(rank)]
    observed = (rank[None, :] <= np.asarray(levels)[:, None]).mean(1)
    err = np.sqrt(np.clip(observed * (1 - observed), 1e-12, None) / max(rank.size, 1))
    return observed, err


def threshold_coverage(logp_truth: np.ndarray, threshold: np.ndarray) -> float:
    """Fraction of events with ``log p(truth) >= threshold`` (thresholds from the summary)."""
    lt, th = np.asarray(logp_truth, np.float64), np.asarray(threshold, np.float64)
    ok = np.isfinite(th)
    return float((lt[ok] >= th[ok]).mean())
