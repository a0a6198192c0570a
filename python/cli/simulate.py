"""``llp-gap-reco simulate``: simulate events and print a realism summary."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Optional

from ..core.geometry import Geometry
from ..data.parquet import write_simulated_folder
from ..data.parquet.format import DEFAULT_EVENTS_PER_FILE
from ..data.simulation import KINDS, simulate
from ..data.simulation.summary import TAIL_HIT_DOMS, realism_summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate IceCube-like LLP gap events",
        description="Simulate LLP gap events (or plain muons) and print a summary: hit DOMs, "
        "bright tail, total-charge range, time span, speed.",
    )
    add_simulation_arguments(p)
    p.add_argument("--config", dest="sim_config", default=None, metavar="YAML",
                   help="simulation config (SimulationConfig fields; the defaults are "
                   "configs/simulation.yaml)")
    add_output_arguments(p)
    p.set_defaults(func=run)


def add_output_arguments(p: argparse.ArgumentParser) -> None:
    """``--out DIR``: write a converted parquet folder instead of only summarising."""

    g = p.add_argument_group("converted parquet output")
    g.add_argument("--out", default=None, metavar="DIR",
                   help="write the events (features, truth) as a converted parquet folder")
    g.add_argument("--events-per-file", type=int, default=DEFAULT_EVENTS_PER_FILE, metavar="K",
                   help=f"events per data file (default {DEFAULT_EVENTS_PER_FILE})")
    g.add_argument("--feature-config", default=None, metavar="YAML",
                   help="feature configuration (default: the package default)")
    g.add_argument("--resume", action="store_true",
                   help="continue an interrupted --out folder after its last complete file")
    i = p.add_argument_group("I3 output (needs icecube)")
    i.add_argument("--i3", default=None, metavar="FILE",
                   help="write a real I3 file (.i3, .i3.gz, .i3.zst): G, C, D frames, then Q and "
                   "P frames (InIceSplit with pulses and LLPInfo, plus a NullSplit P frame)")
    i.add_argument("--pulse-key", default="SplitInIcePulses", help="pulse map key in P frames")


def add_simulation_arguments(p: argparse.ArgumentParser, default_events: int = 1000) -> None:
    """Options that choose the simulated events (shared with ``features``)."""
    p.add_argument(
        "--events", type=int, default=default_events,
        help=f"number of events (default {default_events})",
    )  # fmt: skip
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
                    run_id=args.run_id, config=getattr(args, "sim_config", None))  # fmt: skip


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
    print(f"noise-only DOMs        median {s['noise_doms_median']:.0f}")
    print(f"stochastic losses      median {s['stochastic_losses_median']:.0f} per event")
    print(f"dark stretch >= 100 m  {100 * s['dark_stretch_fraction']:.1f}% of events without "
          f"direct light (median longest {s['longest_dark_median_m']:.0f} m), "
          f"{100 * s['unlit_stretch_fraction']:.1f}% without any light")
    for key in (k for k in s if k.startswith("charge_p95_over_p5_")):
        tag = key.removeprefix("charge_p95_over_p5_")
        print(f"at {tag:<16s}   {s['events_' + tag]} events, hit DOMs median "
              f"{s['hit_doms_median_' + tag]:.0f}, charge p95/p5 {s[key]:.1f}")
    print(f"speed                  {n / seconds:.0f} events/s")


def write_folder(args: argparse.Namespace) -> int:

    t0 = time.perf_counter()
    try:
        man = write_simulated_folder(
            args.out, args.events, seed=args.seed, events_per_file=args.events_per_file,
            kind=args.kind, feature_config=args.feature_config, geometry=geometry_from_args(args),
            resume=args.resume, run_id=args.run_id, config=args.sim_config)
    except FileExistsError as err:
        print(f"llp-gap-reco simulate: {err}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - t0
    print(f"folder                 {args.out}")
    print(f"data files             {len(man['files'])}")
    print(f"events written         {man['n_events']} of {man['n_input_events']}")
    skipped = ", ".join(f"{k}: {v}" for k, v in man["skipped_by_status"].items()) or "none"
    print(f"not written (status)   {skipped}")
    print(f"speed                  {man['n_input_events'] / seconds:.0f} events/s")
    return 0


def write_i3(args: argparse.Namespace) -> int:
    try:
        # I3 output needs icecube, an optional dependency
        from ..i3.simulated_i3 import write_simulated_i3
    except ImportError as err:
        print(f"llp-gap-reco simulate: --i3 needs the IceCube software ({err})", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    n = write_simulated_i3(args.i3, args.events, seed=args.seed, kind=args.kind,
                           pulse_key=args.pulse_key, geometry=geometry_from_args(args),
                           run_id=args.run_id, config=args.sim_config)
    print(f"i3 file                {args.i3}")
    print(f"frames                 {n}")
    print(f"speed                  {args.events / (time.perf_counter() - t0):.0f} events/s")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.i3:
        code = write_i3(args)
        if code or not args.out:
            return code
    if args.out:
        return write_folder(args)
    t0 = time.perf_counter()
    summary = realism_summary(events_from_args(args))
    print_summary(summary, time.perf_counter() - t0)
    if args.kind == "signal":  # fake gaps: the same figure for plain muons
        args.kind, args.events = "background", min(args.events, 500)
        bg = realism_summary(events_from_args(args))
        print(f"background, {bg['events']} muons: stretch >= 100 m without direct light in "
              f"{100 * bg['dark_stretch_fraction']:.1f}%, without any light in "
              f"{100 * bg['unlit_stretch_fraction']:.1f}%")
    return 0
