"""Volume of a posterior's highest-density region (HDR), from its own samples.

The HDR at level ``alpha`` is ``R = {x : log p(x) >= t_alpha}``. Its volume is
``V = ∫ 1[x in R] dx = E_{X ~ p}[1[X in R] / p(X)]``, so the mean of ``1[log p_i >= t] / p_i``
over posterior samples ``X_i`` estimates it without bias for a given ``t``; inside ``R`` each term
is at most ``exp(-t)``, so the estimate has a finite variance (a few per cent with 1000 samples
in 6D). ``t_alpha`` is the ``(1 - alpha)`` quantile of the same samples' log densities. Units:
the 6D volume is in m^6; ``log`` values are natural logs of m^6. ``V ** (1/6)`` is the side
of a 6D cube of the same volume, in metres.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..model.flow.region_tilt import weighted_thresholds


def log_hdr_volume(
    logp_samples: torch.Tensor | np.ndarray,
    level: float,
    score: torch.Tensor | np.ndarray | None = None,
    weight: torch.Tensor | np.ndarray | None = None,
) -> np.ndarray:
    """``[B, S] -> [B]``: natural log of the volume [m^6] of each event's HDR at ``level``.
    ``score``, ``weight`` ``[B, S]``: the samples' region scores and weights of a flow with a
    region tilt (``model.flow.region_tilt``); the region is then ``{score >= t}`` with weighted
    mass ``level``, its volume still ``E_p[1[x in R] / p(x)]``."""
    lp = torch.as_tensor(logp_samples, dtype=torch.float64)
    s = lp if score is None else torch.as_tensor(score, dtype=torch.float64)
    w = None if weight is None else torch.as_tensor(weight, dtype=torch.float64)
    # without weights: the (1 - level) quantile of the log densities (linear interpolation)
    t = weighted_thresholds(s, [level], w)[0][:, None]
    neg = torch.where(s >= t, -lp, torch.full_like(lp, -math.inf))
    out = torch.logsumexp(neg, dim=1) - math.log(lp.shape[1])
    out[~torch.isfinite(t[:, 0])] = math.nan
    return out.cpu().numpy()
