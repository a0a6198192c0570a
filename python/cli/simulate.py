"""``llp-gap-reco simulate``: simulate events and print a realism summary."""

from __future__ import annotations

import argparse
import time
from typing import Optional

from ..core.geometry import Geometry
from ..data.parquet import write_simulated_folder
from ..data.simulation import simulate
from ..data.simulation.events import SimulatedEvents
from ..data.simulation.summary import TAIL_HIT_DOMS, realism_summary
from . import checks
from .errors import UserError


def geometry_from_args(args: argparse.Namespace) -> Geometry:
    return Geometry.from_table(args.geometry) if args.geometry else Geometry.icecube86_like()


def events_from_args(
    args: argparse.Namespace, geometry: Optional[Geometry] = None
) -> SimulatedEvents:
    """The events chosen by :func:`.parsers.add_simulation_arguments` (a lazy iterable)."""
    geometry = geometry if geometry is not None else geometry_from_args(args)
    return simulate(args.events, seed=args.seed, geometry=geometry, kind=args.kind,
                    run_id=args.run_id, config=getattr(args, "sim_config", None))  # fmt: skip


def _longer_dark(s: dict) -> str:
    """The fractions of events with longer dark stretches, as ``a% / b% / c%``."""
    return " / ".join(
        f"{100 * s[k]:.1f}%" for k in sorted(s) if k.startswith("dark_stretch_fraction_")
    )


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
    print(
        f"dark stretch >= 100 m  {100 * s['dark_stretch_fraction']:.1f}% of events without "
        f"direct light (median longest {s['longest_dark_median_m']:.0f} m), "
        f"{100 * s['unlit_stretch_fraction']:.1f}% without any light"
    )
    print("dark stretch >= 200/300/400 m  " + _longer_dark(s))
    for key in (k for k in s if k.startswith("charge_p95_over_p5_")):
        tag = key.removeprefix("charge_p95_over_p5_")
        print(
            f"at {tag:<16s}   {s['events_' + tag]} events, hit DOMs median "
            f"{s['hit_doms_median_' + tag]:.0f}, charge p95/p5 {s[key]:.1f}"
        )
    print(f"speed                  {n / seconds:.0f} events/s")


def write_folder(args: argparse.Namespace) -> int:

    t0 = time.perf_counter()
    man = write_simulated_folder(
        args.out,
        args.events,
        seed=args.seed,
        events_per_file=args.events_per_file,
        kind=args.kind,
        feature_config=args.feature_config,
        geometry=geometry_from_args(args),
        resume=args.resume,
        run_id=args.run_id,
        config=args.sim_config,
    )
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
        raise UserError(
            f"--i3 needs the IceCube software (import failed: {err}); run inside an "
            "icetray environment, or leave out --i3"
        ) from err
    t0 = time.perf_counter()
    n = write_simulated_i3(
        args.i3,
        args.events,
        seed=args.seed,
        kind=args.kind,
        pulse_key=args.pulse_key,
        geometry=geometry_from_args(args),
        run_id=args.run_id,
        config=args.sim_config,
    )
    print(f"i3 file                {args.i3}")
    print(f"frames                 {n}")
    print(f"speed                  {args.events / (time.perf_counter() - t0):.0f} events/s")
    return 0


def check_inputs(args: argparse.Namespace) -> None:
    """The optional input files of the simulation options exist."""
    if args.geometry:
        checks.input_file(args.geometry, "--geometry")
    if getattr(args, "feature_config", None):
        checks.input_file(args.feature_config, "--feature-config")
    if getattr(args, "sim_config", None):
        checks.input_file(args.sim_config, "--config")


def run(args: argparse.Namespace) -> int:
    check_inputs(args)
    if args.out:
        checks.output_folder(args.out)
    if args.i3:
        checks.output_file(args.i3, "--i3")
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
        print(
            f"background, {bg['events']} muons: stretch >= 100 m without direct light in "
            f"{100 * bg['dark_stretch_fraction']:.1f}%, without any light in "
            f"{100 * bg['unlit_stretch_fraction']:.1f}%; >= 200/300/400 m: {_longer_dark(bg)}"
        )
    return 0
