"""``llp-gap-reco simulate``: simulate events and print a realism summary."""

from __future__ import annotations

import argparse
import time
from typing import Optional

from ..geometry import Geometry
from ..simulation import KINDS, simulate
from ..simulation.summary import TAIL_HIT_DOMS, realism_summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate IceCube-like LLP gap events",
        description="Simulate LLP gap events (or plain muons) and print a summary: hit DOMs, "
        "bright tail, total-charge range, time span, speed.",
    )
    add_simulation_arguments(p)
    p.set_defaults(func=run)


def add_simulation_arguments(p: argparse.ArgumentParser) -> None:
    """Options that choose the simulated events (shared with ``features``)."""
    p.add_argument("--events", type=int, default=1000, help="number of events (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--kind", choices=KINDS, default="signal", help="signal (LLP) or background")
    p.add_argument("--run-id", type=int, default=0, help="run id of the events (default 0)")
    p.add_argument(
        "--geometry",
        default=None,
        help="DOM table (parquet/CSV: string, om, x, y, z); default: generated IceCube-86-like",
    )


def geometry_from_args(args: argparse.Namespace) -> Geometry:
    return Geometry.from_table(args.geometry) if args.geometry else Geometry.icecube86_like()


def events_from_args(args: argparse.Namespace, geometry: Optional[Geometry] = None):
    """The events chosen by :func:`add_simulation_arguments` (a lazy iterable)."""
    geometry = geometry if geometry is not None else geometry_from_args(args)
    return simulate(args.events, seed=args.seed, geometry=geometry, kind=args.kind,
                    run_id=args.run_id)  # fmt: skip


def print_summary(s: dict, seconds: float) -> None:
    n = s["events"]
    print(f"events                 {n}")
    if not n:
        return
    print(
        f"hit DOMs               median {s['hit_doms_median']:.0f}  "
        f"(5%: {s['hit_doms_p5']:.0f}, 95%: {s['hit_doms_p95']:.0f}, max {s['hit_doms_max']})"
    )
    print(f"events > {TAIL_HIT_DOMS} hit DOMs   {s['events_above_tail']}")
    print(
        f"total charge [PE]      {s['total_charge_min_pe']:.3g} .. {s['total_charge_max_pe']:.3g}"
        f"  (median {s['total_charge_median_pe']:.3g}; {s['total_charge_decades']:.2f} decades)"
    )
    print(
        f"time span [us]         median {s['time_span_median_ns'] / 1e3:.2f}, "
        f"max {s['time_span_max_ns'] / 1e3:.2f}"
    )
    print(f"pulses per event       median {s['pulses_median']:.0f}")
    print(f"speed                  {n / seconds:.0f} events/s")


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    summary = realism_summary(events_from_args(args))
    print_summary(summary, time.perf_counter() - t0)
    return 0
