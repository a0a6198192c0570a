"""Shared pieces of the command line's parsers: the subcommand table, constants mirrored from
the package (without importing it), value types for argparse and the subcommand factory.
Imports nothing heavy."""

from __future__ import annotations

import argparse
import re
from typing import Any, Callable

PROG = "llp-gap-reco"

#: subcommand -> implementation module inside :mod:`llp_gap_reco.cli`, in ``--help`` order
SUBCOMMANDS = {
    "simulate": "simulate",
    "features": "features",
    "convert": "convert",
    "train": "train",
    "predict": "predict",
    "evaluate": "evaluate",
    "import-seed": "import_seed",
    "export-seed": "export_seed",
    "calibrate": "calibrate",
    "quickstart": "quickstart",
    "bench": "bench",
}

#: ``data.simulation.KINDS``, ``data.parquet.format.DEFAULT_EVENTS_PER_FILE`` and
#: ``data.features.convention.CONVENTIONS`` / ``ORIGINAL`` (not imported here: they pull in
#: numpy and torch; tests/test_cli_errors.py checks they agree)
SIMULATION_KINDS = ("signal", "background")
DEFAULT_EVENTS_PER_FILE = 1000
CONVENTIONS = ("package", "original")
ORIGINAL_CONVENTION = "original"
#: ``cli.quickstart.DEFAULT_STEPS``
QUICKSTART_STEPS = 4000
#: what the I3 modules do with an event they cannot process (mirrors llp_gap_reco.i3.engine)
ON_ERROR = ("raise", "flag")

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def _number(
    kind: Callable[[str], Any], ok: Callable[[Any], bool], rule: str
) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {rule}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value

    parse.__name__ = rule  # argparse names the type in some messages
    return parse


count = _number(int, lambda v: v >= 0, "an integer >= 0")
positive = _number(int, lambda v: v >= 1, "an integer >= 1")
minutes = _number(float, lambda v: v > 0, "a number of minutes > 0")
fraction = _number(float, lambda v: 0 <= v < 1, "a fraction in [0, 1)")


def device(text: str) -> str:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda, cuda:N or mps, got {text!r}")
    return text


def command(sub: argparse._SubParsersAction, name: str, **kw: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(name, **kw)
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of an error",
    )
    p.set_defaults(module=SUBCOMMANDS[name])
    return p
