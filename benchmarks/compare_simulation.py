"""This checkout's simulator against another checkout's, in one process: speed and identity.

    git worktree add /tmp/before <commit>
    python benchmarks/compare_simulation.py /tmp/before [--events 300] [--passes 7]

Loads the other checkout's ``python/`` folder as a second package and simulates the same
events with both, alternating event by event so that a shared host's changing load hits both
alike; each event's time is its fastest of ``--passes`` passes. Per case (signal, background,
no stochastic losses, homogeneous ice): events/s of each version, their speed ratio, and
whether the two give the same events bit for bit (pulses, losses, truth, stretches). Prints a
table and writes ``benchmarks/results/simulation_versions.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import pathlib
import subprocess
import sys
import time
from types import ModuleType
from typing import Any

import llp_gap_reco.simulation as this_simulation
import numpy as np
from _common import write_rows
from bench_simulation import CASES

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "simulation_versions.json"


def load_checkout(root: pathlib.Path, name: str = "llp_gap_reco_other") -> ModuleType:
    """The simulation module of the package in ``root/python``, that package imported as
    ``name`` (its imports are relative)."""
    src = root / "python"
    spec = importlib.util.spec_from_file_location(
        name, src / "__init__.py", submodule_search_locations=[str(src)]
    )
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no package at {src}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return importlib.import_module(f"{name}.simulation")


def _digest(event: Any) -> bytes:
    h = hashlib.sha256(event.pulses.tobytes() + event.losses.tobytes())
    h.update(repr(sorted(event.truth.items())).encode())
    h.update(repr((event.noise_doms, event.longest_dark_m, event.longest_unlit_m,
                   event.decay_asymmetry)).encode())  # fmt: skip
    return h.digest()


def compare(other: ModuleType, kind: str, config: dict, events: int, passes: int) -> dict:
    """Events/s (sum over events of each one's fastest pass) of both simulators and whether
    their events are identical."""
    sims = {  # both on their default geometry, Geometry.icecube86_like()
        "this": this_simulation.simulate(1, kind=kind, config=config).simulator,
        "other": other.simulate(1, kind=kind, config=config).simulator,
    }
    seeds = [np.random.SeedSequence([1, 0, 0, i]) for i in range(events)]
    best = {k: np.full(events, np.inf) for k in sims}
    same = True
    for p in range(passes):
        for i, seed in enumerate(seeds):
            digests = {}
            for k in ("this", "other") if (i + p) % 2 else ("other", "this"):
                rng = np.random.default_rng(seed)
                t0 = time.perf_counter()
                event = sims[k].event(rng, kind, 0, i)
                best[k][i] = min(best[k][i], time.perf_counter() - t0)
                if p == 0:
                    digests[k] = _digest(event)
            if p == 0:
                same &= digests["this"] == digests["other"]
    rate = {k: events / float(v.sum()) for k, v in best.items()}
    return {
        "this_events_per_s": rate["this"],
        "other_events_per_s": rate["other"],
        "speed_ratio": rate["this"] / rate["other"],
        "identical_events": bool(same),
    }


def _commit(root: pathlib.Path) -> str:
    out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    return out.stdout.strip() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("other", type=pathlib.Path, help="root of the other checkout")
    ap.add_argument("--events", type=int, default=300)
    ap.add_argument("--passes", type=int, default=7)
    args = ap.parse_args()
    other = load_checkout(args.other.resolve())
    here = pathlib.Path(__file__).resolve().parents[1]
    commits = {"this_commit": _commit(here), "other_commit": _commit(args.other)}
    print(f"this {commits['this_commit']} against {commits['other_commit']}: "
          f"{args.events} events, fastest of {args.passes} passes each")  # fmt: skip
    print(f"{'case':24s} {'this ev/s':>10s} {'other ev/s':>10s} {'ratio':>6s} {'identical':>9s}")
    rows = []
    for name, kind, config in CASES:
        r = compare(other, kind, config, args.events, args.passes)
        print(f"{name:24s} {r['this_events_per_s']:10.0f} {r['other_events_per_s']:10.0f} "
              f"{r['speed_ratio']:6.3f} {str(r['identical_events']):>9s}")  # fmt: skip
        rows.append({"name": name, "value": round(r["speed_ratio"], 3),
                     "unit": "x (events/s, this / other)", "events": args.events,
                     "passes": args.passes, "config": config, **commits,
                     **{k: round(v, 1) if isinstance(v, float) else v
                        for k, v in r.items() if k != "speed_ratio"}})  # fmt: skip
    write_rows(rows, RESULTS)


if __name__ == "__main__":
    main()
