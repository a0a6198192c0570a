"""DOM exclusions: which pulses are removed before the per-DOM features are computed.

The feature config names the exclusions in the structure of IceCube's event-feature configs:

.. code-block:: yaml

    dom_exclusions:
      exclusions: [SaturationWindows, BadDomsList, CalibrationErrata]   # frame keys
      partial_exclusion: false

Each key names a frame object of one of two kinds:

* a list of OMKeys (``I3VectorOMKey``, e.g. ``BadDomsList``/``BadDomsListSLC`` in D frames):
  every pulse of those DOMs is removed;
* a map OMKey -> time windows (``I3TimeWindowSeriesMap``, e.g. ``SaturationWindows``,
  ``CalibrationErrata``): with ``partial_exclusion: false`` every pulse of a listed DOM is removed
  (however short its windows), with ``partial_exclusion: true`` only the pulses whose time lies in
  one of the DOM's windows (``start <= t <= stop``, ns) are removed.

Keys match the pulse's full OMKey ``(string, om, pmt)``. This module is pure numpy: the frame side
(:mod:`llp_gap_reco.i3.exclusion_reader`) turns frame objects into :class:`Exclusions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

#: the exclusions of the original converter (feature configs of the LLP research code)
DEFAULT_DOM_EXCLUSIONS: dict[str, Any] = {
    "exclusions": ["SaturationWindows", "BadDomsList", "CalibrationErrata"],
    "partial_exclusion": False,
}


def normalise_dom_exclusions(raw: Any, source: str) -> dict[str, Any]:
    """Validate a ``dom_exclusions`` entry; ``None`` -> no exclusion. Raises ``ValueError``."""
    if raw is None:
        return {"exclusions": [], "partial_exclusion": False}
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: dom_exclusions must be a mapping, got {raw!r}")
    unknown = set(raw) - {"exclusions", "partial_exclusion"}
    if unknown:
        raise ValueError(f"{source}: dom_exclusions: unknown key(s) {sorted(unknown)}")
    keys = raw.get("exclusions") or []
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise ValueError(
            f"{source}: dom_exclusions.exclusions must be a list of frame keys, got {keys!r}"
        )
    partial = raw.get("partial_exclusion", False)
    if not isinstance(partial, bool):
        raise ValueError(
            f"{source}: dom_exclusions.partial_exclusion must be true or false, got {partial!r}"
        )
    return {"exclusions": list(dict.fromkeys(keys)), "partial_exclusion": partial}


def omkey_code(string: Any, om: Any, pmt: Any) -> np.ndarray:
    """int64 code of ``(string, om, pmt)``: one integer per OMKey, order-preserving."""
    s = np.asarray(string, dtype=np.int64)
    o = np.asarray(om, dtype=np.int64)
    p = np.asarray(pmt, dtype=np.int64)
    return (s << 40) + ((o & 0xFFFFFF) << 16) + (p & 0xFFFF)


@dataclass
class Exclusions:
    """The excluded DOMs and time windows that apply to one event.

    Attributes:
        doms: int64 ``[K]`` :func:`omkey_code` of DOMs excluded as a whole.
        window_doms: int64 ``[W]`` codes of DOMs with exclusion windows (sorted).
        window_start, window_stop: float64 ``[W]`` window bounds, ns.
        missing: configured keys absent from the frame.
    """

    doms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    window_doms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    window_start: np.ndarray = field(default_factory=lambda: np.zeros(0))
    window_stop: np.ndarray = field(default_factory=lambda: np.zeros(0))
    missing: tuple[str, ...] = ()

    @classmethod
    def combine(
        cls, parts: list[tuple[str, np.ndarray]], missing: tuple[str, ...] = ()
    ) -> Exclusions:
        """From ``[("doms", int64 [K, 3]) | ("windows", float64 [W, 5])]`` parts: OMKey lists
        (string, om, pmt) and window tables (string, om, pmt, start, stop)."""
        doms = [np.zeros(0, np.int64)]
        wins = [np.zeros((0, 5))]
        for kind, arr in parts:
            if kind == "doms":
                a = np.asarray(arr, dtype=np.int64).reshape(-1, 3)
                doms.append(omkey_code(a[:, 0], a[:, 1], a[:, 2]))
            elif kind == "windows":
                wins.append(np.asarray(arr, dtype=np.float64).reshape(-1, 5))
            else:
                raise ValueError(f"unknown exclusion kind {kind!r}")
        w = np.concatenate(wins)
        codes = omkey_code(w[:, 0], w[:, 1], w[:, 2])
        order = np.argsort(codes, kind="stable")
        return cls(
            np.unique(np.concatenate(doms)), codes[order], w[order, 3], w[order, 4], tuple(missing)
        )

    @property
    def empty(self) -> bool:
        return self.doms.size == 0 and self.window_doms.size == 0


def excluded_pulses(
    pulses: np.ndarray, exclusions: Optional[Exclusions], partial: bool
) -> np.ndarray:
    """bool ``[N]``: True for each pulse (rows of ``float64 [N, 6]`` string, om, pmt, time,
    charge, width) that the exclusions remove. Vectorised over pulses and windows."""
    n = pulses.shape[0]
    if exclusions is None or exclusions.empty or n == 0:
        return np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(pulses[:, :3]).all(axis=1)
        keys = np.where(finite[:, None], pulses[:, :3], -1).astype(np.int64)
    code = omkey_code(keys[:, 0], keys[:, 1], keys[:, 2])
    out = np.isin(code, exclusions.doms)
    wd = exclusions.window_doms
    if wd.size == 0:
        return out
    lo = np.searchsorted(wd, code, side="left")
    hi = np.searchsorted(wd, code, side="right")
    if not partial:
        return out | (hi > lo)
    # every (pulse, window of its DOM) pair; only pulses on DOMs with windows take part
    counts = hi - lo
    pulse_of_pair = np.repeat(np.arange(n), counts)
    first = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    window_of_pair = first + np.arange(pulse_of_pair.shape[0])
    t = pulses[pulse_of_pair, 3]
    inside = (t >= exclusions.window_start[window_of_pair]) & (
        t <= exclusions.window_stop[window_of_pair]
    )
    hit = np.bincount(pulse_of_pair[inside], minlength=n) > 0
    return out | hit


def apply_exclusions(
    pulses: np.ndarray, exclusions: Optional[Exclusions], partial: bool
) -> tuple[np.ndarray, int]:
    """``(kept pulses [M, 6], number of hit DOMs (string, om) removed entirely)``."""
    drop = excluded_pulses(pulses, exclusions, partial)
    if not drop.any():
        return pulses, 0
    kept = pulses[~drop]
    return kept, _n_modules(pulses) - _n_modules(kept)


def _n_modules(pulses: np.ndarray) -> int:
    """Number of distinct (string, om) modules among the pulses."""
    if pulses.shape[0] == 0:
        return 0
    return int(np.unique(pulses[:, 0] * 1e6 + pulses[:, 1]).shape[0])
