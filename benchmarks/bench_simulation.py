"""Simulator speed (events/s on one core) and the realism summary of the simulated events.

``python benchmarks/bench_simulation.py [--quick]`` prints a table and writes
``benchmarks/results/simulation.json``. Target: >= 200 events/s on one core.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import time

from _common import write_rows
from llp_gap_reco.data.simulation.summary import realism_summary
from llp_gap_reco.geometry import Geometry
from llp_gap_reco.simulation import simulate

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "simulation.json"


def run(quick: bool = False) -> list[dict]:
    geometry = Geometry.icecube86_like()
    n = 300 if quick else 2000
    rows = []
    for kind in ("signal", "background"):
        events = simulate(n, seed=1, geometry=geometry, kind=kind)
        t0 = time.perf_counter()
        events = list(events)
        seconds = time.perf_counter() - t0
        summary = realism_summary(events)
        rows.append(
            {"name": f"simulate_{kind}", "value": round(n / seconds, 1), "unit": "events/s",
             "events": n, "cpu_count": os.cpu_count(), "load_avg_1min": os.getloadavg()[0],
             **{k: v for k, v in summary.items() if k != "events"}}
        )  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="300 instead of 2000 events per kind")
    rows = run(quick=ap.parse_args().quick)
    print(f"{'name':20s} {'value':>9s} {'unit':9s} {'hit DOMs median':>16s} {'> 300':>6s} "
          f"{'charge decades':>15s}")  # fmt: skip
    for r in rows:
        print(f"{r['name']:20s} {r['value']:9.1f} {r['unit']:9s} {r['hit_doms_median']:16.0f} "
              f"{r['events_above_tail']:6d} {r['total_charge_decades']:15.2f}")  # fmt: skip
    write_rows(rows, RESULTS)


if __name__ == "__main__":
    main()
