"""The argument parsers of every ``llp-gap-reco`` subcommand, without their implementations.

This module imports nothing heavy (no torch, numpy or pyarrow), so ``llp-gap-reco --help`` and
``llp-gap-reco COMMAND --help`` stay fast; :mod:`.main` imports the one implementation module
the command line chose (``args.module``). Values are checked here as far as argparse can (counts,
fractions, device names); paths are checked by the implementation before any long work.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn, Optional, Sequence

from ..core.version import __version__
from .arguments import (
    CONVENTIONS,
    DEFAULT_EVENTS_PER_FILE,
    ON_ERROR,
    ORIGINAL_CONVENTION,
    PROG,
    QUICKSTART_STEPS,
    SIMULATION_KINDS,
    SUBCOMMANDS,
    command,
    count,
    device,
    fraction,
    minutes,
    positive,
)
from .parsers_model import (
    add_calibrate,
    add_evaluate,
    add_export_seed,
    add_import_seed,
    add_predict,
    add_train,
)

__all__ = [
    "CONVENTIONS",
    "DEFAULT_EVENTS_PER_FILE",
    "ORIGINAL_CONVENTION",
    "QUICKSTART_STEPS",
    "SIMULATION_KINDS",
    "SUBCOMMANDS",
    "add_simulation_arguments",
    "build_parser",
    "count",
    "device",
    "fraction",
    "minutes",
    "positive",
    "print_error",
]


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line: ``PROG CMD: error: ...`` (exit 2)."""

    #: subcommand name -> its parser (on the top-level parser)
    commands: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(  # type: ignore[override]
        self, args: Optional[Sequence[str]] = None, namespace: Optional[argparse.Namespace] = None
    ) -> argparse.Namespace:
        """As ``ArgumentParser.parse_args``; unknown arguments are reported by the subcommand."""
        ns, extra = self.parse_known_args(args, namespace)
        if extra:
            target = getattr(self, "commands", {}).get(getattr(ns, "command", None), self)
            target.error(f"unrecognized arguments: {' '.join(extra)}")
        return ns


def build_parser() -> argparse.ArgumentParser:
    """The ``llp-gap-reco`` parser with every subcommand."""
    parser = Parser(
        prog=PROG,
        description="LLP production/decay vertex reconstruction with an event-by-event posterior.",
    )
    parser.add_argument("--version", action="version", version=f"llp_gap_reco {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="-v: info logging, -vv: debug logging"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error (also after the subcommand)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _simulate,
        _features,
        _convert,
        add_train,
        add_predict,
        add_evaluate,
        add_import_seed,
        add_export_seed,
        add_calibrate,
        _quickstart,
        _bench,
    ):
        add(sub)
    parser.commands = dict(sub.choices)
    return parser


def add_simulation_arguments(p: argparse.ArgumentParser, default_events: int = 1000) -> None:
    """Options that choose the simulated events (``simulate`` and ``features``)."""
    p.add_argument(
        "--events",
        type=count,
        default=default_events,
        help=f"number of events (default {default_events})",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--kind", choices=SIMULATION_KINDS, default="signal", help="signal (LLP) or background"
    )
    p.add_argument("--run-id", type=int, default=0, help="run id of the events (default 0)")
    p.add_argument(
        "--geometry",
        default=None,
        help="DOM table (parquet/CSV: string, om, x, y, z); default: generated IceCube-86-like",
    )


def _simulate(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "simulate",
        help="simulate IceCube-like LLP gap events",
        description="Simulate LLP gap events (or plain muons) and print a summary: hit "
        "DOMs, bright tail, total-charge range, time span, speed.",
    )
    add_simulation_arguments(p)
    p.add_argument(
        "--config",
        dest="sim_config",
        default=None,
        metavar="YAML",
        help="simulation config (SimulationConfig fields; the defaults are "
        "configs/simulation.yaml)",
    )
    g = p.add_argument_group("converted parquet output")
    g.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="write the events (features, truth) as a converted parquet folder",
    )
    g.add_argument(
        "--events-per-file",
        type=positive,
        default=DEFAULT_EVENTS_PER_FILE,
        metavar="K",
        help=f"events per data file (default {DEFAULT_EVENTS_PER_FILE})",
    )
    g.add_argument(
        "--feature-config",
        default=None,
        metavar="YAML",
        help="feature configuration (default: the package default)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted --out folder after its last complete file",
    )
    i = p.add_argument_group("I3 output (needs icecube)")
    i.add_argument(
        "--i3",
        default=None,
        metavar="FILE",
        help="write a real I3 file (.i3, .i3.gz, .i3.zst): G, C, D frames, then Q and "
        "P frames (InIceSplit with pulses and LLPInfo, plus a NullSplit P frame)",
    )
    i.add_argument("--pulse-key", default="SplitInIcePulses", help="pulse map key in P frames")


def _features(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "features",
        help="print the per-DOM feature columns and their statistics on simulated events",
        description="Build the per-DOM features of a configuration (default: the "
        "package default) on simulated events and print names, groups and per-column "
        "statistics.",
    )
    p.add_argument("--config", default=None, help="feature configuration YAML")
    add_simulation_arguments(p, default_events=200)


def _convert(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "convert",
        help="convert I3 files to the parquet training format",
        description="Compute per-DOM features of the P frames of I3 files and write a "
        "converted parquet folder (resumes an interrupted folder). Needs icecube.",
    )
    p.add_argument("--gcd", default=None, help="GCD file (omit when the inputs hold G frames)")
    p.add_argument(
        "--geometry-table",
        default=None,
        help="geometry table for inputs without GCD (e.g. graphnet's icecube86.parquet)",
    )
    p.add_argument("-i", "--input", nargs="+", required=True, help="I3 data files")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--pulses", default=None, help="pulse key (default: the feature config's)")
    p.add_argument("--feature-config", default=None, help="feature config YAML")
    p.add_argument(
        "--model",
        default=None,
        help="model bundle: compute the features in its own config and input "
        "convention (instead of --feature-config)",
    )
    p.add_argument("--events-per-file", type=positive, default=DEFAULT_EVENTS_PER_FILE)
    p.add_argument(
        "--sub-event-stream", default="InIceSplit", help="sub-event stream to convert ('' for all)"
    )
    p.add_argument(
        "--on-error",
        choices=ON_ERROR,
        default="raise",
        help="an event that cannot be converted (unreadable truth, unexpected error): stop "
        "('raise') or count it as ERROR in the manifest and go on ('flag')",
    )


def _quickstart(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "quickstart",
        help="simulate, train, reconstruct and evaluate (main job)",
        description="The main job on built-in simulated events: simulate a training "
        "and a test folder, train the flow model and an MSE baseline, reconstruct the "
        "test set (and an I3 file in a tray when icecube is importable), evaluate. "
        "Complete stages are reused, so a rerun continues; the report folder's path is "
        "printed last.",
    )
    p.add_argument("--out", default="quickstart_output", help="working folder")
    p.add_argument("--train-events", type=positive, default=30000)
    p.add_argument("--test-events", type=positive, default=2000)
    p.add_argument(
        "--steps",
        type=positive,
        default=QUICKSTART_STEPS,
        help="optimiser steps of the flow model and of the MSE baseline (each; "
        f"default {QUICKSTART_STEPS})",
    )
    p.add_argument(
        "--max-minutes",
        type=minutes,
        default=10.0,
        help="safety stop: wall-clock limit of each training (reported loudly when "
        "it triggers; the step count is the budget)",
    )
    p.add_argument("--device", type=device, default="auto", help="auto, cpu or cuda")
    p.add_argument(
        "--i3-events",
        type=count,
        default=300,
        help="events of the I3 file reconstructed in a tray (0: skip)",
    )
    p.add_argument("--seed", type=int, default=1)


def _bench(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "bench",
        help="run the CPU benchmark suite (source checkout)",
        description="Runs benchmarks/run_all.py: one table, JSON in benchmarks/results/.",
    )
    p.add_argument("--quick", action="store_true", help="smaller sizes")
    p.add_argument("--only", default=None, help="comma-separated topics")


def print_error(command: str, message: str) -> None:
    """``llp-gap-reco COMMAND: error: MESSAGE`` on stderr (one line)."""
    print(f"{PROG} {command}: error: {' '.join(str(message).split())}", file=sys.stderr)
