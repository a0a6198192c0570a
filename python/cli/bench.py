"""``llp-gap-reco bench``: the benchmark suite of a source checkout (benchmarks/run_all.py)."""

from __future__ import annotations

import argparse
import pathlib
import runpy
import sys


def _runner() -> pathlib.Path:
    return pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "run_all.py"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run the CPU benchmark suite (source checkout)",
                       description="Runs benchmarks/run_all.py: one table, JSON in "
                       "benchmarks/results/.")
    p.add_argument("--quick", action="store_true", help="smaller sizes")
    p.add_argument("--only", default=None, help="comma-separated topics")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = _runner()
    if not path.exists():
        print("error: bench needs a source checkout (benchmarks/run_all.py not found next to the "
              "package); clone the repository and install it with pip install -e .",
              file=sys.stderr)
        return 2
    argv = [str(path)] + (["--quick"] if args.quick else []) + (
        ["--only", args.only] if args.only else [])
    old = sys.argv
    sys.argv = argv
    try:
        mod = runpy.run_path(str(path), run_name="llp_bench")
        return int(mod["main"](argv[1:]))
    finally:
        sys.argv = old
