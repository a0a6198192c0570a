"""Realism summary of simulated events (the numbers ``llp-gap-reco simulate`` prints)."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .events import SimulatedEvent

#: hit-DOM count above which an event counts as the bright tail
TAIL_HIT_DOMS = 300
#: a stretch of track at least this long without direct light counts as a fake gap, m
DARK_STRETCH_M = 100.0
#: longer dark stretches also counted (IceCube strings are ~125 m apart, so a 100 m stretch
#: without direct light is common on any muon)
LONGER_DARK_STRETCHES_M = (200.0, 300.0, 400.0)
#: muon energy bins (GeV at the generation cylinder) for the fixed-energy figures
ENERGY_BINS = ((1000.0, 1500.0), (5000.0, 15000.0))


def _energy_bin_figures(
    energy: np.ndarray, n_doms: np.ndarray, charge: np.ndarray
) -> dict[str, float]:
    out: dict[str, float] = {}
    for lo, hi in ENERGY_BINS:
        tag = f"{lo / 1e3:g}_{hi / 1e3:g}tev"
        m = (energy >= lo) & (energy < hi) & (charge > 0)
        out[f"events_{tag}"] = int(m.sum())
        if m.sum() >= 10:
            q5, q95 = np.percentile(charge[m], [5, 95])
            out[f"hit_doms_median_{tag}"] = float(np.median(n_doms[m]))
            out[f"charge_p95_over_p5_{tag}"] = float(q95 / q5)
            out[f"log10_charge_std_{tag}"] = float(np.std(np.log10(charge[m])))
    return out


def realism_summary(events: Iterable[SimulatedEvent]) -> dict[str, float]:
    """Hit DOMs (percentiles, tail above :data:`TAIL_HIT_DOMS`, noise-only DOMs), total charge
    (PE) range in decades, per-event time span (ns), pulses per event, stochastic losses per
    event, the fraction of events whose track has a stretch of at least
    :data:`DARK_STRETCH_M` without direct light (``dark``) or without any detected light
    (``unlit``), and per muon-energy bin the median hit DOMs and the charge spread."""
    rows = []
    for ev in events:
        p = ev.pulses
        rows.append((ev.n_hit_doms, float(p[:, 4].sum()), float(np.ptp(p[:, 3])) if len(p) else 0.0,
                     p.shape[0], ev.noise_doms, ev.longest_dark_m, ev.longest_unlit_m,
                     ev.losses.shape[0], ev.truth["muon_energy"]))  # fmt: skip
    if not rows:
        return {"events": 0}
    d, q, s, n_pulses, noise, dark, unlit, n_loss, energy = (np.array(c) for c in zip(*rows))
    qpos = q[q > 0]
    dark, unlit = dark[np.isfinite(dark)], unlit[np.isfinite(unlit)]
    return {
        "events": len(rows),
        "hit_doms_p5": float(np.percentile(d, 5)),
        "hit_doms_median": float(np.median(d)),
        "hit_doms_p95": float(np.percentile(d, 95)),
        "hit_doms_max": int(d.max()),
        "events_above_tail": int((d > TAIL_HIT_DOMS).sum()),
        "noise_doms_median": float(np.median(noise)),
        "total_charge_min_pe": float(q.min()),
        "total_charge_median_pe": float(np.median(q)),
        "total_charge_max_pe": float(q.max()),
        "total_charge_decades": float(np.log10(qpos.max() / qpos.min())) if qpos.size else 0.0,
        "time_span_median_ns": float(np.median(s)),
        "time_span_max_ns": float(s.max()),
        "pulses_median": float(np.median(n_pulses)),
        "stochastic_losses_median": float(np.median(n_loss)),
        "dark_stretch_fraction": float((dark >= DARK_STRETCH_M).mean()) if dark.size else 0.0,
        "longest_dark_median_m": float(np.median(dark)) if dark.size else float("nan"),
        "unlit_stretch_fraction": float((unlit >= DARK_STRETCH_M).mean()) if unlit.size else 0.0,
        **{
            f"dark_stretch_fraction_{int(m)}m": float((dark >= m).mean()) if dark.size else 0.0
            for m in LONGER_DARK_STRETCHES_M
        },
        **_energy_bin_figures(energy, d, q),
    }
