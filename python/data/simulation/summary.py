"""Realism summary of simulated events (the numbers ``llp-gap-reco simulate`` prints)."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .events import SimulatedEvent

#: hit-DOM count above which an event counts as the bright tail
TAIL_HIT_DOMS = 300


def realism_summary(events: Iterable[SimulatedEvent]) -> dict[str, float]:
    """Hit DOMs (percentiles, tail above :data:`TAIL_HIT_DOMS`), total charge (PE) range in
    decades, per-event time span (ns) and pulses per event."""
    n_doms, charge, span, n_pulses = [], [], [], []
    for ev in events:
        p = ev.pulses
        n_doms.append(ev.n_hit_doms)
        charge.append(float(p[:, 4].sum()))
        span.append(float(np.ptp(p[:, 3])) if p.shape[0] else 0.0)
        n_pulses.append(p.shape[0])
    if not n_doms:
        return {"events": 0}
    d, q, s = np.array(n_doms), np.array(charge), np.array(span)
    qpos = q[q > 0]
    return {
        "events": len(n_doms),
        "hit_doms_p5": float(np.percentile(d, 5)),
        "hit_doms_median": float(np.median(d)),
        "hit_doms_p95": float(np.percentile(d, 95)),
        "hit_doms_max": int(d.max()),
        "events_above_tail": int((d > TAIL_HIT_DOMS).sum()),
        "total_charge_min_pe": float(q.min()),
        "total_charge_median_pe": float(np.median(q)),
        "total_charge_max_pe": float(q.max()),
        "total_charge_decades": float(np.log10(qpos.max() / qpos.min())) if qpos.size else 0.0,
        "time_span_median_ns": float(np.median(s)),
        "time_span_max_ns": float(s.max()),
        "pulses_median": float(np.median(n_pulses)),
    }
