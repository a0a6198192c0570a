"""``llp-gap-reco convert``: I3 files -> converted parquet folder (needs icecube)."""

from __future__ import annotations

import argparse

from . import checks
from .errors import UserError


def run(args: argparse.Namespace) -> int:
    for path in args.input:
        checks.i3_file(path, "-i/--input")
    if args.gcd:
        checks.i3_file(args.gcd, "--gcd")
    if args.feature_config:
        checks.input_file(args.feature_config, "--feature-config")
    try:
        # needs icecube, an optional dependency
        from ..i3.convert import convert_files
    except ImportError as err:
        raise UserError(f"convert needs the IceCube software (import failed: {err}); run it "
                        "inside an icetray environment (env-shell.sh)") from err
    checks.output_folder(args.out, "-o/--out")
    convert_files(args.gcd, args.input, args.out, pulses=args.pulses,
                  feature_config=args.feature_config, events_per_file=args.events_per_file,
                  sub_event_stream=args.sub_event_stream or None)
    print(args.out)
    return 0
