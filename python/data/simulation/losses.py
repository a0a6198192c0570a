"""Muon energy losses in ice: continuous below a relative cut ``v_cut``, stochastic above it.

Total loss ``dE/dx = a + b E`` (:data:`~.constants.MUON_LOSS_A`, :data:`~.constants.MUON_LOSS_B`,
b ≈ 3.3e-4 /m). The radiative part ``b E`` is split between bremsstrahlung, e+e- pair
production and photonuclear interactions in the proportions 0.36 : 0.48 : 0.16 of ``b`` at
~10 TeV in water/ice (Groom, Mokhov & Striganov, At. Data Nucl. Data Tables 78 (2001) 183;
Lipari & Stanev, Phys. Rev. D 44 (1991) 3543), taken as energy-independent. The energy-weighted
spectrum ``v dsigma/dv`` in the relative loss ``v``, normalised per process:

* bremsstrahlung (complete screening, PDG "Passage of particles through matter"):
  ``p(v) = 4/3 - 4/3 v + v^2``;
* photonuclear (leading ``1/v`` behaviour of Bezrukov & Bugaev, Sov. J. Nucl. Phys. 33 (1981)
  635): ``p(v) ∝ 1 - v + v^2/2``;
* pair production (Kokoulin & Petrukhin; shape as in Lipari & Stanev Fig. 1): energy per
  ``ln v`` rising ``∝ v`` below ``v_p = 1e-3`` and falling ``∝ v^-1/2`` above,
  ``v p(v) ∝ (v/v_p) / (1 + (v/v_p)^1.5)``.

Losses with ``v >= v_cut`` are sampled (a Poisson process along the track whose rate does not
depend on the energy, since ``b`` does not); the rest, with ionisation, is continuous with
``b_cont = b (1 - F(v_cut))``. The muon's energy drops by every stochastic loss.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .constants import MUON_LOSS_A, MUON_LOSS_B

#: share of b per process: bremsstrahlung, pair production, photonuclear
PROCESS_FRACTIONS = (0.36, 0.48, 0.16)
#: pair production: relative loss where its energy-weighted spectrum per ln v peaks
PAIR_V_PEAK = 1.0e-3
_GRID = np.geomspace(1e-9, 1.0, 4001)


def _pair_per_lnv(v: np.ndarray) -> np.ndarray:
    x = v / PAIR_V_PEAK
    return x / (1.0 + x**1.5)


@functools.cache
def _pair_norm() -> float:
    return float(np.trapezoid(_pair_per_lnv(_GRID), np.log(_GRID)))


def energy_weighted_spectrum(v: np.ndarray) -> np.ndarray:
    """``sum_i f_i p_i(v)``: the fraction of ``b`` per unit ``v`` at relative loss ``v``
    (integrates to 1 over ``(0, 1]``)."""
    v = np.asarray(v, dtype=np.float64)
    fb, fp, fn = PROCESS_FRACTIONS
    brems = 4.0 / 3.0 - 4.0 / 3.0 * v + v * v
    nucl = 1.5 * (1.0 - v + 0.5 * v * v)
    pair = _pair_per_lnv(v) / v / _pair_norm()
    return fb * brems + fp * pair + fn * nucl


class LossModel:
    """Stochastic losses above ``v_cut``: rate per metre, sampler of ``v``, continuous ``b``."""

    def __init__(self, v_cut: float) -> None:
        if not 0 < v_cut < 1:
            raise ValueError(f"v_cut must lie in (0, 1), got {v_cut}")
        self.v_cut = float(v_cut)
        v = np.geomspace(v_cut, 1.0, 2001)
        per_lnv = energy_weighted_spectrum(v) * v  # fraction of b per unit ln v
        lnv = np.log(v)
        #: fraction of b carried by losses above v_cut
        self.stochastic_fraction = float(np.trapezoid(per_lnv, lnv))
        number = per_lnv / v  # losses per metre per unit ln v, in units of b
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (number[1:] + number[:-1]) * np.diff(lnv))])
        #: stochastic losses per metre of track
        self.rate_per_m = float(MUON_LOSS_B * cdf[-1])
        self._cdf, self._lnv = cdf / cdf[-1], lnv
        #: continuous radiative coefficient, 1/m
        self.b_cont = MUON_LOSS_B * (1.0 - self.stochastic_fraction)

    def sample_v(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` relative losses ``v`` in ``[v_cut, 1)``."""
        v = np.exp(np.interp(rng.uniform(size=n), self._cdf, self._lnv))
        return np.minimum(v, 1.0 - 1e-9)


def continuous_energy(e0: ArrayLike, x: ArrayLike, b: float = MUON_LOSS_B) -> np.ndarray:
    """Energy (GeV) after ``x`` m of continuous loss ``a + b E`` from ``e0``; 0 once stopped."""
    crit = MUON_LOSS_A / b
    return np.maximum((np.asarray(e0) + crit) * np.exp(-b * np.asarray(x)) - crit, 0.0)


def continuous_range(e0: ArrayLike, b: float = MUON_LOSS_B) -> np.ndarray:
    """Distance (m) until continuous loss ``a + b E`` stops a muon of ``e0`` GeV."""
    return np.log1p(np.asarray(e0) * b / MUON_LOSS_A) / b


@dataclass
class Track:
    """A muon on ``[s0, s1]`` (m along its line; ``s1``: where it stops or leaves) with energy
    ``e0`` at ``s0``, continuous coefficient ``b``, and stochastic losses at ``s_loss [K]``
    of ``e_loss [K]`` GeV leaving ``e_after [K]`` GeV."""

    s0: float
    s1: float
    e0: float
    b: float
    s_loss: np.ndarray
    e_loss: np.ndarray
    e_after: np.ndarray

    def energy_at(self, s: float | np.ndarray) -> np.ndarray:
        """Muon energy (GeV) at ``s`` (clipped into the track; 0 beyond its end)."""
        s = np.asarray(s, dtype=np.float64)
        if self.s_loss.size == 0:
            base_s, base_e = np.full(s.shape, self.s0), np.full(s.shape, self.e0)
        else:
            k = np.searchsorted(self.s_loss, s, side="right") - 1
            kk = np.maximum(k, 0)
            base_s = np.where(k >= 0, self.s_loss[kk], self.s0)
            base_e = np.where(k >= 0, self.e_after[kk], self.e0)
        e = continuous_energy(base_e, np.maximum(s - base_s, 0.0), self.b)
        return np.where(s <= self.s1, e, 0.0)

    @property
    def energy_at_end(self) -> float:
        return float(self.energy_at(self.s1))


def propagate(
    rng: np.random.Generator, model: LossModel | None, s0: float, s_max: float, e0: float
) -> Track:
    """The muon of ``e0`` GeV from ``s0`` until it stops or reaches ``s_max``; stochastic
    losses from ``model`` (``None``: continuous only, ``b`` = the total). Vectorised: the
    energies before each loss follow from a product of affine maps."""
    empty = np.zeros(0)
    if model is None:
        s1 = min(s_max, s0 + float(continuous_range(e0)))
        return Track(s0, s1, e0, MUON_LOSS_B, empty, empty, empty)
    b = model.b_cont
    length = max(s_max - s0, 0.0)
    n = rng.poisson(model.rate_per_m * length)
    if n == 0:
        return Track(s0, min(s_max, s0 + float(continuous_range(e0, b))), e0, b, empty, empty,
                     empty)  # fmt: skip
    s = np.sort(rng.uniform(s0, s0 + length, n))
    v = model.sample_v(rng, n)
    # between losses E -> alpha E + beta (continuous), at a loss E -> (1 - v) E
    alpha = np.exp(-b * np.diff(np.concatenate([[s0], s])))
    beta = (MUON_LOSS_A / b) * (alpha - 1.0)
    m = (1.0 - v) * alpha
    log_p = np.maximum(np.cumsum(np.log(m)), -700.0)
    p = np.exp(log_p)
    e_after = p * (e0 + np.cumsum((1.0 - v) * beta / p))
    e_prev = np.concatenate([[e0], e_after[:-1]])
    e_before = alpha * e_prev + beta
    alive = np.cumprod(e_before > 0).astype(bool)
    s, v, e_before, e_after = s[alive], v[alive], e_before[alive], e_after[alive]
    last_s, last_e = (s[-1], e_after[-1]) if s.size else (s0, e0)
    s1 = min(s_max, last_s + float(continuous_range(last_e, b)))
    return Track(s0, s1, e0, b, s, v * e_before, e_after)
