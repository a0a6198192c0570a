"""``llp-gap-reco convert``: I3 files -> converted parquet folder (needs icecube)."""

from __future__ import annotations

import argparse
import sys

from ..model.bundle import load_bundle


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert I3 files to the parquet training format",
                       description="Compute per-DOM features of the P frames of I3 files and "
                       "write a converted parquet folder (resumes an interrupted folder).")
    p.add_argument("--gcd", default=None, help="GCD file (omit when the inputs hold G frames)")
    p.add_argument("--geometry-table", default=None,
                   help="geometry table for inputs without GCD (e.g. icecube86.parquet)")
    p.add_argument("-i", "--input", nargs="+", required=True, help="I3 data files")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--pulses", default=None, help="pulse key (default: the feature config's)")
    p.add_argument("--feature-config", default=None, help="feature config YAML")
    p.add_argument("--model", default=None,
                   help="model bundle: compute the features in its own config and input "
                   "convention (instead of --feature-config)")
    p.add_argument("--events-per-file", type=int, default=1000)
    p.add_argument("--sub-event-stream", default="InIceSplit",
                   help="sub-event stream to convert ('' for all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        # needs icecube, an optional dependency
        from ..i3.convert import convert_files
    except ImportError as err:
        print(f"error: convert needs the IceCube software (import icecube failed: {err})",
              file=sys.stderr)
        return 2
    feature_config = args.feature_config
    if args.model is not None:
        if feature_config is not None:
            print("error: give --feature-config or --model, not both", file=sys.stderr)
            return 2
        feature_config = load_bundle(args.model).feature_config
    try:
        convert_files(args.gcd, args.input, args.out, pulses=args.pulses,
                      feature_config=feature_config, events_per_file=args.events_per_file,
                      sub_event_stream=args.sub_event_stream or None,
                      geometry_table=args.geometry_table)
    except FileNotFoundError as err:
        print(f"error: no such file: {err}", file=sys.stderr)
        return 2
    print(args.out)
    return 0
