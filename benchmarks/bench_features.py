"""Per-DOM feature extraction speed (events/s on one core) for simulated events.

``python benchmarks/bench_features.py [--quick]`` prints a table and writes
``benchmarks/results/features.json``. Rows: the batched path on median-size events (the
figure the issue targets: >= 20,000 events/s/core), the batched path on the natural mix of
simulated events, and the per-event ``extract`` path (Python overhead per call).
"""

from __future__ import annotations

import argparse
import os
import pathlib

import numpy as np
from _common import timings, write_rows
from llp_gap_reco.features import FeatureExtractor
from llp_gap_reco.geometry import Geometry
from llp_gap_reco.simulation import simulate

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "features.json"


def _pack(events):
    pulses = np.concatenate([e.pulses for e in events])
    offsets = np.cumsum([0] + [e.pulses.shape[0] for e in events])
    return pulses, offsets


def _best_rate(fn, n_events: int, repeats: int) -> tuple[float, float]:
    """(best, median) events/s over ``repeats`` timed calls after one warm-up call."""
    times = timings(fn, repeats)
    return n_events / min(times), n_events / float(np.median(times))


def run(quick: bool = False) -> list[dict]:
    geometry = Geometry.icecube86_like()
    extractor = FeatureExtractor()
    n_sim = 300 if quick else 1000
    events = list(simulate(n_sim, seed=0, geometry=geometry))
    n_pulses = np.array([e.pulses.shape[0] for e in events])
    median = float(np.median(n_pulses))
    typical = [e for e, n in zip(events, n_pulses) if abs(n - median) <= 0.1 * median]
    n_batch = 5_000 if quick else 20_000
    repeats = 3 if quick else 7
    median_batch = (typical * (n_batch // len(typical) + 1))[:n_batch]
    mix_batch = (events * (n_batch // len(events) + 1))[:n_batch]
    rows = []
    common = {
        "median_pulses_per_event": median,
        "median_hit_doms": float(np.median([e.n_hit_doms for e in events])),
        "features": extractor.dim,
        "cpu_count": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0],
    }
    batches = {"batched_median_events": median_batch, "batched_mixed_events": mix_batch}
    for name, batch in batches.items():
        pulses, offsets = _pack(batch)
        best, med = _best_rate(
            lambda p=pulses, o=offsets: extractor.batch_features(p, o, geometry), n_batch, repeats
        )
        rows.append(
            {"name": name, "value": round(best), "unit": "events/s", "median_of_runs": round(med),
             "events_per_call": n_batch, "pulses_per_call": int(pulses.shape[0]), **common}
        )  # fmt: skip
    n_single = 500 if quick else 2000
    single = mix_batch[:n_single]
    best, med = _best_rate(
        lambda: [extractor.extract(e.pulses, geometry) for e in single], n_single, repeats
    )
    rows.append(
        {"name": "per_event_extract", "value": round(best), "unit": "events/s",
         "median_of_runs": round(med), **common}
    )  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller batches and fewer repeats")
    rows = run(quick=ap.parse_args().quick)
    print(f"{'name':26s} {'value':>10s} {'unit':10s} {'median run':>11s}")
    for r in rows:
        print(f"{r['name']:26s} {r['value']:>10d} {r['unit']:10s} {r['median_of_runs']:>11d}")
    c = rows[0]
    print(f"(median event: {c['median_pulses_per_event']:.0f} pulses on "
          f"{c['median_hit_doms']:.0f} DOMs; load average {c['load_avg_1min']:.1f})")  # fmt: skip
    write_rows(rows, RESULTS)


if __name__ == "__main__":
    main()
