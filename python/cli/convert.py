"""``llp-gap-reco convert``: I3 files -> converted parquet folder (needs icecube)."""

from __future__ import annotations

import argparse

from ..model.bundle import load_bundle
from . import checks
from .errors import UserError


def run(args: argparse.Namespace) -> int:
    for path in args.input:
        checks.i3_file(path, "-i/--input")
    if args.gcd:
        checks.i3_file(args.gcd, "--gcd")
    if args.geometry_table:
        checks.input_file(args.geometry_table, "--geometry-table")
    if args.model is not None and args.feature_config is not None:
        raise UserError("give --feature-config or --model, not both")
    if args.feature_config:
        checks.input_file(args.feature_config, "--feature-config")
    feature_config = args.feature_config
    if args.model is not None:
        checks.input_file(args.model, "--model")
        feature_config = load_bundle(args.model).feature_config
    try:
        # needs icecube, an optional dependency
        from ..i3.convert import convert_files
    except ImportError as err:
        raise UserError(
            f"convert needs the IceCube software (import failed: {err}); run it "
            "inside an icetray environment (env-shell.sh)"
        ) from err
    checks.output_folder(args.out, "-o/--out")
    convert_files(
        args.gcd,
        args.input,
        args.out,
        pulses=args.pulses,
        feature_config=feature_config,
        events_per_file=args.events_per_file,
        sub_event_stream=args.sub_event_stream or None,
        geometry_table=args.geometry_table,
        on_error=args.on_error,
    )
    print(args.out)
    return 0
