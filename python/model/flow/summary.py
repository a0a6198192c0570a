"""Per-event posterior summaries by quasi-Monte Carlo through the flow.

Base points: ``n_samples`` scrambled Sobol points (``torch.quasirandom.SobolEngine``, seeded),
Gaussianised with ``Phi^-1``, the same points for every event; deterministic given the seed.
They are pushed through each event's flow; the summary is computed from the resulting samples
and their log densities. The fast path (default) inverts the g layers by per-event tabulation
(``flow.tabulated``) in float32; ``exact=True`` uses the Newton inversion in the flow's dtype.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Dict, List, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch

from ...core.status import Status
from .g_layer import GParams
from .level_map import hdr_levels
from .region_tilt import region_scores, weighted_thresholds
from .t_layer import TParams
from .tabulated import TabulatedInverse

if TYPE_CHECKING:  # annotation only: conditional_flow imports this module
    from .conditional_flow import ConditionalFlow

logger = logging.getLogger(__name__)

#: names of the six coordinates, in order (metres)
COORDINATES = ("prod_x", "prod_y", "prod_z", "decay_x", "decay_y", "decay_z")


@dataclass
class PosteriorSummary:
    """Posterior summary of B events (label units: metres; log densities in log(1/m^6))."""

    mean: torch.Tensor  #: [B, 6] posterior mean
    cov: torch.Tensor  #: [B, 6, 6] posterior covariance
    sigma: torch.Tensor  #: [B, 6] sqrt of the covariance diagonal
    gap_length_mean: torch.Tensor  #: [B] mean of |decay - production|
    gap_length_sigma: torch.Tensor  #: [B] standard deviation of |decay - production|
    #: [B] log p level of the 68% region: the HDR enclosing 68% of the posterior mass, or the
    #: calibrated level's HDR for a flow with a level map; for a flow with a region tilt, the
    #: level of its ``region_score`` (``log p + h(gap)``, :mod:`.region_tilt`)
    logp_threshold_68: torch.Tensor
    logp_threshold_90: torch.Tensor  #: [B] the same for 90%
    status: torch.Tensor  #: [B] int64, Status.OK or Status.NONFINITE

    def __len__(self) -> int:
        return int(self.mean.shape[0])

    def to_numpy(self) -> Dict[str, np.ndarray]:
        """Each field as a numpy array (float64; status int64)."""
        return {
            f.name: getattr(self, f.name)
            .detach()
            .cpu()
            .numpy()
            .astype(np.int64 if f.name == "status" else np.float64)
            for f in fields(self)
        }

    def as_dict(self) -> List[Dict[str, float]]:
        """One flat row per event: ``mean_prod_x``, ``sigma_...``, ``cov_i_j`` (i <= j), ..."""
        arrays = self.to_numpy()
        rows = []
        for b in range(len(self)):
            row: Dict[str, float] = {}
            for i, name in enumerate(COORDINATES):
                row[f"mean_{name}"] = float(arrays["mean"][b, i])
                row[f"sigma_{name}"] = float(arrays["sigma"][b, i])
            for i in range(6):
                for j in range(i, 6):
                    row[f"cov_{i}_{j}"] = float(arrays["cov"][b, i, j])
            for key in (
                "gap_length_mean",
                "gap_length_sigma",
                "logp_threshold_68",
                "logp_threshold_90",
            ):
                row[key] = float(arrays[key][b])
            row["status"] = int(arrays["status"][b])
            rows.append(row)
        return rows

    @classmethod
    def concat(cls, parts: Sequence[PosteriorSummary]) -> PosteriorSummary:
        """Concatenate summaries along the event axis."""
        if not parts:
            raise ValueError("PosteriorSummary.concat needs at least one summary")
        return cls(**{f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in fields(cls)})


def sobol_normal(n: int, dim: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``n`` scrambled Sobol points in ``dim`` dimensions mapped to N(0, I), ``[n, dim]``."""
    engine = torch.quasirandom.SobolEngine(dim, scramble=True, seed=seed)
    u = engine.draw(n, dtype=torch.float64).clamp(1e-12, 1.0 - 1e-12)
    return (torch.special.ndtri(u)).to(dtype)


def summary_from_samples(
    x: torch.Tensor,
    log_p: torch.Tensor,
    weight: Optional[torch.Tensor] = None,
    hdr_levels: Sequence[float] = (0.68, 0.90),
    region: Optional[tuple[torch.Tensor, Optional[torch.Tensor]]] = None,
) -> PosteriorSummary:
    """Summary statistics from samples ``x [B, dim, n]`` and their ``log_p [B, n]``.

    ``weight [B, n]`` (summing to 1 per event): importance weights of the samples for the
    moments (mean, covariance, gap length; unbiased weighted covariance); the HDR thresholds
    are those of the sampled density itself. ``None``: equal weights. ``hdr_levels``: the
    sampled density's HDR levels reported as the 68% and 90% regions (a calibrated flow's
    :class:`.level_map.LevelMap` values). ``region``: the samples' region scores and weights
    (:func:`.region_tilt.region_scores`) when the regions are not the HDR of ``log_p`` itself.
    """
    if region is None:
        region = (log_p, None)
    n = x.shape[-1]
    if weight is None:
        weight = torch.full(log_p.shape, 1.0 / n, dtype=x.dtype, device=x.device)
    weight = weight.to(x.dtype)
    unbias = 1.0 / (1.0 - (weight * weight).sum(-1))  # n / (n - 1) for equal weights
    mean = (x * weight[:, None]).sum(-1)
    centred = x - mean.unsqueeze(-1)
    cov = (centred * weight[:, None]) @ centred.transpose(1, 2) * unbias[:, None, None]
    sigma = cov.diagonal(dim1=-2, dim2=-1).clamp_min(0.0).sqrt()
    diff = x[:, 3:6] - x[:, 0:3]
    gap = (diff * diff).sum(1).sqrt()
    gap_mean = (gap * weight).sum(-1)
    gap_var = ((gap - gap_mean[:, None]) ** 2 * weight).sum(-1) * unbias
    thresholds = weighted_thresholds(region[0], hdr_levels, region[1])  # [2, B]
    finite = (
        torch.isfinite(mean).all(-1)
        & torch.isfinite(cov).flatten(1).all(-1)
        & torch.isfinite(thresholds).all(0)
    )
    status = torch.where(finite, int(Status.OK), int(Status.NONFINITE)).to(torch.int64)
    return PosteriorSummary(
        mean=mean,
        cov=cov,
        sigma=sigma,
        gap_length_mean=gap_mean,
        gap_length_sigma=gap_var.clamp_min(0.0).sqrt(),
        logp_threshold_68=thresholds[0],
        logp_threshold_90=thresholds[1],
        status=status,
    )


class Prepared(NamedTuple):
    """What :func:`push_base_points` needs of a batch of events (see :func:`prepare_tabulated`)."""

    batch_size: int
    #: per-event ``(offset, TabulatedInverse | TParams)`` from the base outward
    layers: list
    #: the event factor of the base width ``[B]`` (``None``: one width for all events)
    event_factor: Optional[torch.Tensor]


def prepare_tabulated(
    flow: ConditionalFlow, encoding: torch.Tensor, dtype: torch.dtype
) -> Prepared:
    """The per-event layers for :func:`push_base_points` (the g tables built once; building them
    is most of the work, so reuse them for several sets of base points) and the event factor of
    the base width."""
    theta = flow.flow_parameters(encoding).to(dtype)
    layers = [
        (offset, TabulatedInverse(layer) if isinstance(layer, GParams) else layer)
        for offset, layer in flow.layer_parameters(theta)
    ]
    factor = flow.event_factor(encoding)
    return Prepared(theta.shape[0], layers, None if factor is None else factor.to(dtype))


def push_base_points(
    flow: ConditionalFlow,
    prepared: Prepared,
    z: torch.Tensor,
    dtype: torch.dtype,
    temperature: Optional[float] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Standard-normal base points, shared ``[n, dim]`` or per event ``[B, n, dim]``, scaled by
    the base temperature (the flow's unless given) times each event's factor -> samples
    ``[B, dim, n]`` (label units) and ``log p [B, n]``."""
    b, layers, factor = prepared
    n = z.shape[-2]
    t0 = flow.base_temperature if temperature is None else float(temperature)
    t: Union[float, torch.Tensor] = t0 if factor is None else t0 * factor
    if isinstance(t, torch.Tensor):  # one width per event: per-event points
        z = z.to(dtype).expand(b, n, z.shape[-1]) * t[:, None, None]
        y = z.transpose(1, 2)
        log_p = flow.log_base(z, t)
    else:
        z = z.to(dtype) * t  # standard normal -> N(0, T^2)
        y = z.T.unsqueeze(0).expand(b, -1, -1) if z.dim() == 2 else z.transpose(1, 2)
        log_p = flow.log_base(z, t).expand(b, n)
    for offset, layer in layers:
        if isinstance(layer, TabulatedInverse):
            y, log_det = layer.from_base(y)
            log_p = log_p - log_det
        else:
            assert isinstance(layer, TParams)
            y = layer.scale_tril @ y
            log_p = log_p - layer.log_diag.sum(-1, keepdim=True)
        if offset is not None:
            y = y + offset.unsqueeze(-1)
    if flow.label_standardization:
        scale = flow.label_scale.to(dtype)
        y = y * scale[:, None] + flow.label_offset.to(dtype)[:, None]
        log_p = log_p - scale.log().sum()
    return y, log_p


def tabulated_samples(
    flow: ConditionalFlow, encoding: torch.Tensor, z: torch.Tensor, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``[B, dim, n]`` and ``log p [B, n]`` via tabulated g inversion, in ``dtype``."""
    return push_base_points(flow, prepare_tabulated(flow, encoding, dtype), z, dtype)


@torch.no_grad()
def summarize(
    flow: ConditionalFlow,
    encoding: torch.Tensor,
    n_samples: int = 512,
    seed: int = 0,
    exact: bool = False,
    dtype: Optional[torch.dtype] = torch.float32,
    chunk_size: int = 128,
) -> PosteriorSummary:
    """Posterior summary of every event of ``encoding [B, D]``.

    Args:
        n_samples: Sobol points per event (a power of two keeps the Sobol balance).
        seed: scrambling seed; equal seeds give identical summaries.
        exact: invert the g layers by Newton iteration (flow dtype) instead of tabulation.
        dtype: precision of the fast path (float32: accurate to ~1e-4 sigma, about twice as fast
            as float64); ignored with ``exact``.
        chunk_size: events per chunk (bounds memory: ~100 bytes per event and sample).
    """
    z = sobol_normal(n_samples, flow.dim, seed).to(encoding.device)
    parts = []
    for start in range(0, encoding.shape[0], chunk_size):
        enc = encoding[start : start + chunk_size]
        if exact:
            zb = z.to(flow.dtype).unsqueeze(0).expand(enc.shape[0], -1, -1)
            x, log_p = flow.sample_base(zb, enc)
            x = x.transpose(1, 2)
        else:
            x, log_p = tabulated_samples(flow, enc, z, dtype or flow.dtype)
        weight = None if flow.gap_prior is None else flow.gap_prior.sample_weights(x)
        region = region_scores(getattr(flow, "region_tilt", None), x, log_p)
        summary = summary_from_samples(x, log_p, weight, hdr_levels(flow), region)
        bad_input = ~torch.isfinite(enc).all(-1)
        summary.status[bad_input] = int(Status.NONFINITE)
        parts.append(summary)
    if not parts:
        raise ValueError("summarize needs at least one event")
    out = PosteriorSummary.concat(parts)
    n_bad = int((out.status != int(Status.OK)).sum())
    if n_bad:
        logger.warning("posterior summary: %d of %d events not finite", n_bad, len(out))
    return out
