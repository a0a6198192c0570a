"""Pulses of many DOMs, sorted and segmented: the common input of every per-DOM feature."""

from __future__ import annotations

from functools import cached_property

import numpy as np


class DomPulses:
    """Cleaned pulses grouped by DOM, sorted by time (then charge) inside each DOM.

    Attributes:
        t: float64 ``[N]`` pulse times, ns (already shifted by the pulse modifier, if any).
        q: float64 ``[N]`` pulse charges, PE (all finite and > 0).
        starts: int64 ``[n_doms]`` index of each DOM's first pulse; DOM ``k`` owns
            ``t[starts[k]:starts[k+1]]``.
    """

    def __init__(self, t: np.ndarray, q: np.ndarray, starts: np.ndarray) -> None:
        self.t = t
        self.q = q
        self.starts = starts

    @property
    def n_doms(self) -> int:
        return int(self.starts.shape[0])

    @cached_property
    def ends(self) -> np.ndarray:
        """int64 ``[n_doms]`` one past each DOM's last pulse."""
        return np.append(self.starts[1:], self.t.shape[0])

    @cached_property
    def counts(self) -> np.ndarray:
        return self.ends - self.starts

    @cached_property
    def dom_of_pulse(self) -> np.ndarray:
        """int64 ``[N]`` DOM index of every pulse."""
        return np.repeat(np.arange(self.n_doms), self.counts)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-DOM sum of a per-pulse array, ``[N] -> [n_doms]``."""
        return np.add.reduceat(values, self.starts) if self.n_doms else values[:0]

    @cached_property
    def total_charge(self) -> np.ndarray:
        """``Σq`` per DOM, PE."""
        return self.sum(self.q)

    @cached_property
    def t_first(self) -> np.ndarray:
        return self.t[self.starts]

    @cached_property
    def t_last(self) -> np.ndarray:
        return self.t[self.ends - 1]

    @cached_property
    def weighted_mean_time(self) -> np.ndarray:
        """``Σqt / Σq`` per DOM, ns."""
        return self.sum(self.q * self.t) / self.total_charge

    @cached_property
    def cumulative_fraction(self) -> np.ndarray:
        """``[N]`` fraction of the DOM's charge in its pulses up to and including this one.

        A cumulative sum of per-DOM fractions, so the rounding error grows with the number of
        DOMs (about 1e-16 per DOM), not with the charge; the DOM's last pulse is exactly 1.
        """
        w = self.q / self.total_charge[self.dom_of_pulse]
        c = np.cumsum(w)
        frac = c - (c[self.starts] - w[self.starts])[self.dom_of_pulse]
        frac[self.ends - 1] = 1.0
        return frac

    def first_index_where(self, mask: np.ndarray) -> np.ndarray:
        """Per DOM, the pulse index of the first True in ``mask`` (its last pulse if none)."""
        idx = np.where(mask, np.arange(mask.shape[0]), mask.shape[0])
        return np.minimum(np.minimum.reduceat(idx, self.starts), self.ends - 1)
