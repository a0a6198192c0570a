"""Photons to pulses: Pandel delays, PMT jitter, SPE charges, dark noise, merging per DOM."""

from __future__ import annotations

import numpy as np

from .constants import (
    C_ICE,
    PANDEL_LAMBDA,
    PANDEL_LAMBDA_A,
    PANDEL_TAU,
    PMT_JITTER_NS,
    PULSE_MERGE_NS,
    SPE_LOG_SIGMA,
)


def pandel_delay(
    rng: np.random.Generator,
    dist: np.ndarray,
    lam: np.ndarray | float = PANDEL_LAMBDA,
    lam_a: np.ndarray | float = PANDEL_LAMBDA_A,
) -> np.ndarray:
    """Photon delays (ns) after the direct time at photon path lengths ``dist`` (m):
    ``Gamma(shape = dist / lam, scale = 1 / (1/tau + c_ice / lam_a))`` (``lam``, ``lam_a`` in m,
    scalars or arrays like ``dist``)."""
    dist = np.asarray(dist, dtype=np.float64)
    lam, lam_a = np.asarray(lam, dtype=np.float64), np.asarray(lam_a, dtype=np.float64)
    if lam.shape != dist.shape or lam_a.shape != dist.shape:
        lam, lam_a = np.broadcast_to(lam, dist.shape), np.broadcast_to(lam_a, dist.shape)
    shape = dist / lam
    out = np.zeros_like(dist)
    pos = shape > 0
    scale = 1.0 / (1.0 / PANDEL_TAU + C_ICE / lam_a[pos])
    out[pos] = rng.gamma(shape[pos], scale)
    return out


def spe_charges(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` single-photoelectron charges (PE), log-normal with mean 1."""
    return rng.lognormal(-0.5 * SPE_LOG_SIGMA**2, SPE_LOG_SIGMA, n)


def dark_noise(
    rng: np.random.Generator, rate_hz: np.ndarray, t_start: float, t_end: float
) -> tuple[np.ndarray, np.ndarray]:
    """Dark-noise hits for DOMs with rates ``rate_hz [n]``: ``(dom index [k], time [k] ns)``,
    uniform in ``[t_start, t_end)`` (one Poisson process for the whole detector, each hit
    assigned to a DOM with probability proportional to its rate)."""
    cum = np.cumsum(np.asarray(rate_hz, dtype=np.float64))
    if cum.shape[0] == 0 or cum[-1] <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    total = rng.poisson(cum[-1] * (t_end - t_start) * 1e-9)
    dom = np.searchsorted(cum, rng.uniform(0.0, cum[-1], total), side="right")
    return np.minimum(dom, cum.shape[0] - 1), rng.uniform(t_start, t_end, total)


def photons_to_pulses(
    rng: np.random.Generator, dom: np.ndarray, t: np.ndarray, string: np.ndarray, om: np.ndarray
) -> np.ndarray:
    """Merge photons (geometry row ``dom``, time ``t`` ns) into pulses.

    Each photon gets PMT jitter and an SPE charge; per DOM, photons within
    ``PULSE_MERGE_NS`` of a pulse's first photon form that pulse (time: its first photon,
    charge: the sum, width: ``PULSE_MERGE_NS``). Returns float64 ``[N, 6]``
    ``(string, om, pmt, time, charge, width)`` sorted by ``(string, om, pmt, time)``
    (geometry rows are in OMKey order).
    """
    t = t + rng.normal(0.0, PMT_JITTER_NS, t.shape[0])
    q = spe_charges(rng, t.shape[0])
    order = np.lexsort((t, dom))
    dom, t, q = dom[order], t[order], q[order]
    if dom.shape[0] == 0:
        return np.zeros((0, 6))
    new_dom = np.concatenate(([True], dom[1:] != dom[:-1]))
    first = np.maximum.accumulate(np.where(new_dom, np.arange(dom.shape[0]), 0))
    tbin = np.floor((t - t[first]) / PULSE_MERGE_NS).astype(np.int64)
    starts = np.flatnonzero(new_dom | np.concatenate(([True], tbin[1:] != tbin[:-1])))
    rows = dom[starts]
    out = np.empty((starts.shape[0], 6))
    out[:, 0] = string[rows]
    out[:, 1] = om[rows]
    out[:, 2] = 0.0
    out[:, 3] = t[starts]
    out[:, 4] = np.add.reduceat(q, starts)
    out[:, 5] = PULSE_MERGE_NS
    return out
