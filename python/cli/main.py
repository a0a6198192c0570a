"""``llp-gap-reco``: one console script, one module per subcommand.

Each subcommand module defines ``register(subparsers)`` which adds its parser and sets
``func`` to a callable ``(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Optional, Sequence

from ..core.version import __version__

#: subcommand modules inside :mod:`llp_gap_reco.cli`, in the order ``--help`` lists them
SUBCOMMANDS = [
    "simulate",
    "features",
    "convert",
    "train",
    "predict",
    "evaluate",
    "import_seed",
    "export_seed",
    "calibrate",
    "quickstart",
    "bench",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llp-gap-reco",
        description="LLP production/decay vertex reconstruction with an event-by-event posterior.",
    )
    parser.add_argument("--version", action="version", version=f"llp_gap_reco {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="-v: info logging, -vv: debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f".{name}", __package__).register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
