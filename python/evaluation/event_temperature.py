"""Event-dependent posterior width: ``T_i = exp(bias + w . encoding_i)`` fitted on held-out events.

The flow's base point of the truth, ``z_i = f^-1(x_i | e_i)``, does not depend on the base
width, so the log-likelihood of the truths under ``N(0, T_i^2 I)`` base distributions is
``-sum_i [|z_i|^2 / (2 T_i^2) + d log T_i]`` (plus terms free of ``T``). With
``u_i = log T_i = b + w . phi_i`` (``phi``: the encodings standardised on the fitting events)
the negative log-likelihood ``mean_i [|z_i|^2 exp(-2 u_i) / 2 + d u_i] + lam |w|^2`` is convex in
``(b, w)``; L-BFGS finds its minimum. ``lam`` is chosen by two-fold cross-validation on the
same events. The fitted width follows what the encoding knows about an event (its brightness,
its number of DOMs, its geometry); the base temperature fitted afterwards
(:func:`~.calibration.fit_temperature`) sets the overall HDR coverage.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.errors import InputError
from ..model.flow import ConditionalFlow

logger = logging.getLogger(__name__)

#: fewest events the event-dependent width is fitted on
MIN_EVENTS = 200
#: ridge strengths tried by the cross-validation
LAMBDAS = (1e-3, 1e-2, 1e-1)


@dataclass
class EventTemperatureFit:
    """Fitted ``weights = [bias, w_1 .. w_D]`` (for raw encodings) and how they were chosen."""

    weights: list[float]
    lam: float
    cv_nll: dict[str, float] = field(default_factory=dict)
    #: 5th, 50th and 95th percentile of the fitted factor on the fitting events
    factor_percentiles: list[float] = field(default_factory=list)
    n_events: int = 0

    def summary(self) -> dict:
        """Plain data for the bundle's calibration record (without the weights)."""
        return {
            "lam": self.lam,
            "cv_nll": self.cv_nll,
            "factor_p5_p50_p95": self.factor_percentiles,
            "n_events": self.n_events,
        }


def _nll(params: torch.Tensor, phi: torch.Tensor, r2: torch.Tensor, dim: int) -> torch.Tensor:
    u = params[0] + phi @ params[1:]
    return (0.5 * r2 * torch.exp(-2.0 * u) + dim * u).mean()


def _fit(phi: torch.Tensor, r2: torch.Tensor, dim: int, lam: float) -> torch.Tensor:
    """Minimise the penalised NLL; returns ``[bias, w]`` for ``phi``."""
    params = torch.zeros(phi.shape[1] + 1, dtype=torch.float64)
    params[0] = 0.5 * torch.log(r2.mean() / dim)  # the best single width
    params.requires_grad_(True)
    opt = torch.optim.LBFGS([params], max_iter=500, tolerance_grad=1e-10,
                            line_search_fn="strong_wolfe")  # fmt: skip

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = _nll(params, phi, r2, dim) + lam * (params[1:] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return params.detach()


def fit_event_temperature(
    flow: ConditionalFlow,
    encoding: torch.Tensor,
    truth: torch.Tensor,
    lambdas: tuple[float, ...] = LAMBDAS,
) -> EventTemperatureFit:
    """Fit the event-dependent width of ``flow`` on events ``encoding [B, D]`` with truths
    ``truth [B, dim]`` (metres). ``flow`` is left unchanged; set the result with
    ``flow.set_temperature_weights(fit.weights)``."""
    n = encoding.shape[0]
    if n < MIN_EVENTS:
        raise InputError(f"the event-dependent width needs at least {MIN_EVENTS} events, got {n}")
    with torch.inference_mode():
        z, _ = flow.base_point(truth.to(encoding.device), encoding.to(flow.dtype))
    r2 = (z.to(torch.float64) ** 2).sum(-1).cpu()
    enc = encoding.to(torch.float64).cpu()
    ok = torch.isfinite(r2) & torch.isfinite(enc).all(-1)
    enc, r2 = enc[ok], r2[ok]
    mean, std = enc.mean(0), enc.std(0).clamp_min(1e-6)
    phi = (enc - mean) / std
    half = phi.shape[0] // 2
    folds = ((slice(0, half), slice(half, None)), (slice(half, None), slice(0, half)))
    cv = {}
    with torch.enable_grad():
        for lam in lambdas:
            cv[f"{lam:g}"] = float(
                np.mean(
                    [
                        float(_nll(_fit(phi[a], r2[a], flow.dim, lam), phi[b], r2[b], flow.dim))
                        for a, b in folds
                    ]
                )  # fmt: skip
            )
        lam = min(lambdas, key=lambda v: cv[f"{v:g}"])
        params = _fit(phi, r2, flow.dim, lam)
    w = params[1:] / std  # back to raw encodings: b + w . (e - mean) / std
    weights = torch.cat([(params[0] - (w * mean).sum()).reshape(1), w])
    factor = torch.exp(weights[0] + enc @ weights[1:])
    pct = [float(v) for v in np.percentile(factor.numpy(), [5, 50, 95])]
    logger.info(
        "event-dependent width on %d events: lam %g, factor p5/p50/p95 %.3f / %.3f / %.3f",
        int(ok.sum()), lam, *pct,
    )  # fmt: skip
    return EventTemperatureFit([float(v) for v in weights], float(lam), cv, pct, int(ok.sum()))
