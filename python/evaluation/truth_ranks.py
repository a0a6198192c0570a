"""HDR ranks of true vertices under a flow at any base temperature, from Monte Carlo samples.

The rank of a truth is the fraction of posterior samples whose density exceeds the truth's:
the truth lies inside the ``alpha`` highest-density region iff its rank is below ``alpha``.
Each event gets its own ``n_samples`` standard-normal base points (shared points would make the
Monte Carlo errors of all events move together: with 256 shared points the coverage at 68%
moved by 5 points between two draws); the same points serve every temperature. The samples'
densities are computed in ``dtype`` (float32: ~1e-4 relative, far below the Monte Carlo error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

import numpy as np
import torch

from ..model.flow import ConditionalFlow
from ..model.flow.gap_prior import gap_lengths
from ..model.flow.region_tilt import region_scores
from ..model.flow.summary import Prepared, prepare_tabulated, push_base_points
from .coverage import hdr_rank


@dataclass
class _Chunk:
    """A chunk of events with what every temperature reuses: the truths' base points
    ``[b, dim]`` and log-Jacobians ``[b]``, the base points ``[b, n, dim]``, the g tables."""

    encoding: torch.Tensor
    gap_truth: torch.Tensor
    z_truth: torch.Tensor
    log_jac: torch.Tensor
    z: torch.Tensor
    prepared: Prepared


def _chunks(
    flow: ConditionalFlow,
    encoding: torch.Tensor,
    truth: torch.Tensor,
    n_samples: int,
    seed: int,
    dtype: torch.dtype,
    chunk_size: int,
) -> Iterator[_Chunk]:
    gen = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        for s in range(0, encoding.shape[0], chunk_size):
            enc = encoding[s : s + chunk_size].to(flow.dtype)
            z_truth, log_jac = flow.base_point(truth[s : s + chunk_size].to(enc.device), enc)
            z = torch.randn(
                enc.shape[0], n_samples, flow.dim, generator=gen, dtype=torch.float64
            ).to(enc.device)
            gap = gap_lengths(truth[s : s + chunk_size].to(torch.float64))
            yield _Chunk(enc, gap, z_truth, log_jac, z, prepare_tabulated(flow, enc, dtype))


def _densities(
    flow: ConditionalFlow, chunk: _Chunk, t: float, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Samples ``[b, dim, n]`` (m), their ``log p [b, n]`` and the truths' ``log p [b]`` at
    base temperature ``t``."""
    with torch.inference_mode():
        lt = flow.log_base(chunk.z_truth, flow.temperature(chunk.encoding, base=t)) + chunk.log_jac
        x, lp = push_base_points(flow, chunk.prepared, chunk.z, dtype, t)
        return x, lp, lt


def _ranks(flow: ConditionalFlow, chunk: _Chunk, t: float, dtype: torch.dtype) -> np.ndarray:
    x, lp, lt = _densities(flow, chunk, t, dtype)
    tilt = getattr(flow, "region_tilt", None)
    score, weight = region_scores(tilt, x, lp)
    if tilt is not None:
        lt = lt + tilt(chunk.gap_truth.to(lt.device)).to(lt.dtype)
    return hdr_rank(score.cpu(), lt.cpu(), None if weight is None else weight.cpu())


def hdr_ranks(
    flow: ConditionalFlow,
    encoding: torch.Tensor,
    truth: torch.Tensor,
    n_samples: int = 256,
    temperatures: Optional[Iterable[float]] = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    chunk_size: int = 500,
) -> np.ndarray:
    """HDR ranks ``[len(temperatures), B]`` of the truths ``truth [B, dim]`` (m) of events
    ``encoding [B, D]`` at each base temperature (default: the flow's own; times each event's
    factor when the flow has an event-dependent width). Memory is bounded by ``chunk_size``."""
    temps = [flow.base_temperature] if temperatures is None else [float(t) for t in temperatures]
    out = np.empty((len(temps), encoding.shape[0]))
    s = 0
    for chunk in _chunks(flow, encoding, truth, n_samples, seed, dtype, chunk_size):
        b = chunk.encoding.shape[0]
        for i, t in enumerate(temps):
            out[i, s : s + b] = _ranks(flow, chunk, t, dtype)
        s += b
    return out


class RankTable:
    """HDR ranks of the truths at any base temperature, one temperature at a time, for a
    search over temperatures: the g tables and base points of all events are built once and
    kept (about 40 kB per event at 256 samples). ``table(t)`` equals
    ``hdr_ranks(..., temperatures=[t])[0]`` with the same arguments."""

    def __init__(
        self,
        flow: ConditionalFlow,
        encoding: torch.Tensor,
        truth: torch.Tensor,
        n_samples: int = 256,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        chunk_size: int = 500,
    ) -> None:
        self.flow, self.dtype = flow, dtype
        self.chunks = list(_chunks(flow, encoding, truth, n_samples, seed, dtype, chunk_size))

    def __call__(self, temperature: float) -> np.ndarray:
        """Ranks ``[B]`` at base temperature ``temperature`` (of the flow's region tilt, when it
        has one)."""
        t = float(temperature)
        return np.concatenate([_ranks(self.flow, c, t, self.dtype) for c in self.chunks])

    def refresh_event_factor(self) -> None:
        """Take each event's width factor from the flow's current ``temperature_weights``
        (after they changed; the tables and base points stay)."""
        for c in self.chunks:
            factor = self.flow.event_factor(c.encoding)
            c.prepared = c.prepared._replace(
                event_factor=None if factor is None else factor.to(self.dtype)
            )

    def densities(self, temperature: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                     torch.Tensor]:  # fmt: skip
        """At base temperature ``temperature``: the samples' ``log p [B, n]`` and gap lengths
        ``[B, n]`` (m), the truths' ``log p [B]`` and gap lengths ``[B]`` (float64, CPU)."""
        parts = []
        for c in self.chunks:
            x, lp, lt = _densities(self.flow, c, float(temperature), self.dtype)
            parts.append((lp.double(), gap_lengths(x.double()), lt.double(), c.gap_truth))
        return tuple(torch.cat([p[i].cpu() for p in parts]) for i in range(4))  # type: ignore
