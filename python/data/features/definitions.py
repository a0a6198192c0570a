"""Per-DOM summary statistics, named after IceCube's event-feature classes.

Each feature maps a :class:`~.segments.DomPulses` to a float64 ``[n_doms, k]`` block. Times are
in ns and, with the ``ChargeWeightedMeanTimePulseModifier`` on, relative to the event's
charge-weighted mean time. Charges are stored as ``log(1 + q)`` with ``q`` in PE (the
``original`` convention logs TotalCharge once more, see :mod:`.convention`).
Definitions (``t_first``, ``t_last``: the DOM's earliest and latest pulse times):

==========================  ===================================================  ============
class                       value                                                group
==========================  ===================================================  ============
TotalCharge                 ``log(1 + Σq)``                                      log_total_charge
ChargeUntilT(times)         ``log(1 + Σ_{t ≤ t_first + T} q)`` for each T (ns)   log_charges
TSpread                     ``t_last - t_first``                                 time_widths
ChargeWeightedStd           ``sqrt(Σq (t - m)² / Σq)``, ``m = Σqt / Σq``         time_widths
ChargeWeightedMean          ``Σqt / Σq``                                         abs_times
TFirstPulse                 ``t_first``                                          abs_times
TLastPulse                  ``t_last``                                           abs_times
TimeAtChargePercentile(p)   time of the first pulse (in time order) at which     abs_times
                            the cumulative charge fraction reaches ``p``
==========================  ===================================================  ============
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Sequence, Union

import numpy as np

from .segments import DomPulses

#: feature groups, in the order ``feature_indices`` lists them
GROUPS = ("position", "log_total_charge", "log_charges", "time_widths", "abs_times")

#: slack when comparing a cumulative charge fraction with a percentile (rounding of the sum)
PERCENTILE_SLACK = 1e-9


def _fmt(v: float) -> str:
    return f"{v:g}"


class Feature:
    """Base class: a per-DOM statistic producing ``len(names)`` columns in one group."""

    group: ClassVar[str]

    def __init__(self) -> None:
        pass

    @property
    def kwargs(self) -> dict[str, Any]:
        """Constructor arguments as plain YAML-serialisable values."""
        return {}

    @property
    def names(self) -> list[str]:
        return [type(self).__name__]

    def compute(self, doms: DomPulses) -> np.ndarray:
        """float64 ``[n_doms, len(names)]``."""
        raise NotImplementedError


class TotalCharge(Feature):
    """``log(1 + Σq)`` over the DOM's pulses."""

    group = "log_total_charge"

    def compute(self, doms: DomPulses) -> np.ndarray:
        return np.log1p(doms.total_charge)[:, None]


class ChargeUntilT(Feature):
    """``log(1 + Σq)`` over pulses with ``t ≤ t_first + T``, one column per ``T`` (ns)."""

    group = "log_charges"

    def __init__(self, times: Union[float, Sequence[float]] = (10, 50, 100)) -> None:
        super().__init__()
        vals: list[Any] = list(times) if isinstance(times, (list, tuple)) else [times]
        if not vals or not all(
            isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in vals
        ):
            raise ValueError(f"ChargeUntilT: times must be finite numbers >= 0 (ns), got {vals}")
        self.times = [float(v) if isinstance(v, float) else int(v) for v in vals]

    @property
    def kwargs(self) -> dict[str, Any]:
        return {"times": list(self.times)}

    @property
    def names(self) -> list[str]:
        return [f"ChargeUntilT_{_fmt(v)}" for v in self.times]

    def compute(self, doms: DomPulses) -> np.ndarray:
        t_first = doms.t_first[doms.dom_of_pulse]
        cols = [doms.sum(np.where(doms.t <= t_first + T, doms.q, 0.0)) for T in self.times]
        return np.log1p(np.stack(cols, axis=1))


class TSpread(Feature):
    """``t_last - t_first`` (ns); 0 for a one-pulse DOM."""

    group = "time_widths"

    def compute(self, doms: DomPulses) -> np.ndarray:
        return (doms.t_last - doms.t_first)[:, None]


class ChargeWeightedStd(Feature):
    """``sqrt(Σq (t - m)² / Σq)`` with ``m`` the charge-weighted mean time (ns)."""

    group = "time_widths"

    def compute(self, doms: DomPulses) -> np.ndarray:
        dt = doms.t - doms.weighted_mean_time[doms.dom_of_pulse]
        return np.sqrt(doms.sum(doms.q * dt * dt) / doms.total_charge)[:, None]


class ChargeWeightedMean(Feature):
    """``Σqt / Σq`` (ns)."""

    group = "abs_times"

    def compute(self, doms: DomPulses) -> np.ndarray:
        return doms.weighted_mean_time[:, None]


class TFirstPulse(Feature):
    """Time of the DOM's earliest pulse (ns)."""

    group = "abs_times"

    def compute(self, doms: DomPulses) -> np.ndarray:
        return doms.t_first[:, None]


class TLastPulse(Feature):
    """Time of the DOM's latest pulse (ns)."""

    group = "abs_times"

    def compute(self, doms: DomPulses) -> np.ndarray:
        return doms.t_last[:, None]


class TimeAtChargePercentile(Feature):
    """Time (ns) of the first pulse, in time order, at which the DOM's cumulative charge
    fraction reaches ``p`` (``0 < p ≤ 1``), one column per ``p``."""

    group = "abs_times"

    def __init__(self, percentiles: Union[float, Sequence[float]] = (0.5,)) -> None:
        super().__init__()
        ps: list[Any] = (
            list(percentiles) if isinstance(percentiles, (list, tuple)) else [percentiles]
        )
        if not ps or not all(isinstance(p, (int, float)) and 0 < p <= 1 for p in ps):
            raise ValueError(
                f"TimeAtChargePercentile: percentiles must be fractions in (0, 1], got {ps}"
            )
        self.percentiles = [float(p) for p in ps]

    @property
    def kwargs(self) -> dict[str, Any]:
        return {"percentiles": list(self.percentiles)}

    @property
    def names(self) -> list[str]:
        return [f"TimeAtChargePercentile_{_fmt(p)}" for p in self.percentiles]

    def compute(self, doms: DomPulses) -> np.ndarray:
        frac = doms.cumulative_fraction
        cols = [
            doms.t[doms.first_index_where(frac >= p - PERCENTILE_SLACK)] for p in self.percentiles
        ]
        return np.stack(cols, axis=1)


#: config ``class`` name -> feature class
FEATURE_CLASSES: dict[str, type[Feature]] = {
    c.__name__: c
    for c in (
        TotalCharge,
        ChargeUntilT,
        TSpread,
        ChargeWeightedStd,
        ChargeWeightedMean,
        TFirstPulse,
        TLastPulse,
        TimeAtChargePercentile,
    )
}
