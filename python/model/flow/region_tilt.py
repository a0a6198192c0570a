"""The gap-length tilt of a flow's credible regions: regions that hold for every gap length.

A posterior that knows little about the gap length puts its highest-density regions (HDR) on the
gap lengths it finds most probable: truths with mid-range gaps fall inside more often than the
nominal level, the longest and shortest ones less often, although the overall level holds
(``resources/docs/evaluation.md``). The tilt reweights the posterior's gap length before the
regions are drawn: the reported regions are the HDR of

    q(x) ∝ p(x) exp(h(L(x))),    L(x) = |decay - production| [m],

i.e. of the posterior under the training prior times ``exp(h(L))``: a gap-length prior chosen,
on validation events, so that the regions hold their level in every quintile of the true gap
length (a probability-matching prior, Welch & Peers, JRSS B 25, 1963). ``h`` is piecewise
linear in ``log L`` between knots and constant beyond them. Only the regions change: the flow's
``log_prob``, its samples and the posterior moments are those of ``p``.

For samples ``x_i ~ p`` the region score is ``s_i = log p(x_i) + h(L(x_i))`` (the log density of
``q`` up to a per-event constant, log 1/m^6) and the samples weigh ``exp(h(L(x_i)))``, normalised
per event; the ``alpha`` region is ``{x : s(x) >= t_alpha}`` with weighted mass ``alpha`` above
``t_alpha``.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch

from .gap_prior import gap_lengths


class RegionTilt:
    """``h(L)``: values ``values [K]`` at gap lengths ``gap_knots [K]`` (m, increasing), linear in
    ``log L`` between them, constant beyond."""

    def __init__(self, gap_knots: Sequence[float], values: Sequence[float]) -> None:
        k = torch.as_tensor(gap_knots, dtype=torch.float64).flatten()
        v = torch.as_tensor(values, dtype=torch.float64).flatten()
        if k.numel() < 2 or v.numel() != k.numel():
            raise ValueError(f"region tilt: needs >= 2 knots and one value each, got "
                             f"{k.numel()} knots and {v.numel()} values")  # fmt: skip
        if not (bool(torch.isfinite(k).all()) and bool((k > 0).all())):
            raise ValueError("region tilt: knots must be finite gap lengths > 0 m")
        if not bool((k[1:] > k[:-1]).all()) or not bool(torch.isfinite(v).all()):
            raise ValueError("region tilt: knots must increase and values be finite")
        self.gap_knots, self.values = k, v

    def config(self) -> dict[str, Any]:
        """Plain data that rebuilds the tilt: ``RegionTilt(**config)``."""
        return {"gap_knots": [float(v) for v in self.gap_knots],
                "values": [float(v) for v in self.values]}  # fmt: skip

    def __call__(self, gap: torch.Tensor) -> torch.Tensor:
        """``h`` of gap lengths ``gap`` (m, any shape), float64 on ``gap``'s device."""
        return interpolate_log(gap, self.gap_knots.log().to(gap.device), self.values.to(gap.device))


def interpolation_weights(gap: torch.Tensor, log_knots: torch.Tensor) -> torch.Tensor:
    """``[..., K]`` weights of piecewise-linear interpolation in ``log gap`` between
    ``log_knots [K]`` (increasing), constant beyond the ends (``numpy.interp``'s rule):
    ``h(gap) = weights @ values``."""
    lg = gap.to(torch.float64).clamp_min(1e-9).log()
    lg = lg.clamp(float(log_knots[0]), float(log_knots[-1]))
    i = torch.bucketize(lg.contiguous(), log_knots[1:-1], right=True)  # segment 0..K-2
    lo, hi = log_knots[i], log_knots[i + 1]
    frac = ((lg - lo) / (hi - lo))[..., None]
    k = log_knots.numel()
    one = torch.nn.functional.one_hot
    return (1.0 - frac) * one(i, k).to(frac.dtype) + frac * one(i + 1, k).to(frac.dtype)


def interpolate_log(
    gap: torch.Tensor, log_knots: torch.Tensor, values: torch.Tensor
) -> torch.Tensor:
    """``values [K]`` at ``log_knots [K]`` interpolated at ``gap`` (m, any shape), float64."""
    return interpolation_weights(gap, log_knots) @ values.to(torch.float64)


def region_scores(
    tilt: Optional[RegionTilt], x: torch.Tensor, log_p: torch.Tensor
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Region scores ``[B, n]`` and sample weights ``[B, n]`` (sum 1 per event; ``None``: equal)
    of samples ``x [B, 6, n]`` (m) with ``log_p [B, n]``; without a tilt the scores are
    ``log_p``."""
    if tilt is None:
        return log_p, None
    h = tilt(gap_lengths(x)).to(log_p.dtype)
    return log_p + h, torch.softmax(h, dim=-1)


def weighted_thresholds(
    score: torch.Tensor, levels: Sequence[float], weight: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """``[len(levels), B]``: per event, the score above which the samples' mass is ``level``
    (``score [B, n]``, ``weight [B, n]`` summing to 1). ``weight=None``: the ``1 - level``
    quantile of the scores (``torch.quantile``, linear interpolation)."""
    if weight is None:
        q = torch.tensor([round(1.0 - float(a), 12) for a in levels], dtype=score.dtype,
                         device=score.device)  # fmt: skip
        return torch.quantile(score, q, dim=-1)
    srt, order = score.sort(dim=-1, descending=True)
    mass = weight.to(torch.float64).gather(-1, order).cumsum(-1)  # mass with score >= srt_j
    out = []
    for a in levels:
        j = torch.searchsorted(mass, torch.full_like(mass[:, :1], float(a)))  # first mass >= a
        out.append(srt.gather(-1, j.clamp_max(srt.shape[-1] - 1))[:, 0])
    return torch.stack(out)
