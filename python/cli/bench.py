"""``llp-gap-reco bench``: the benchmark suite of a source checkout (benchmarks/run_all.py)."""

from __future__ import annotations

import argparse
import pathlib
import runpy
import sys

from .errors import UserError


def _runner() -> pathlib.Path:
    return pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "run_all.py"


def run(args: argparse.Namespace) -> int:
    path = _runner()
    if not path.exists():
        raise UserError(
            "bench needs a source checkout (benchmarks/run_all.py not found next to "
            "the package); clone the repository and install it with pip install -e ."
        )
    argv = (
        [str(path)]
        + (["--quick"] if args.quick else [])
        + (["--only", args.only] if args.only else [])
    )
    old = sys.argv
    sys.argv = argv
    try:
        mod = runpy.run_path(str(path), run_name="llp_bench")
        return int(mod["main"](argv[1:]))
    finally:
        sys.argv = old
