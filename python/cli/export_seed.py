"""``llp-gap-reco export-seed``: a model bundle as the original research code's file set."""

from __future__ import annotations

import argparse
import sys

from ..model.bundle import load_bundle
from ..model.seed_export import SeedExportError, export_seed


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-seed", help="write a model as the original code's files",
        description="Write a model bundle as the original research code's file set "
        "(model_settings.yaml with 'settings' and 'flow', model_best.pth, flow_best.pth, "
        "normalization_args.yaml, feature_indices.yaml, feature_config.yaml) so that code "
        "loads and runs it. Models it cannot express are refused with the reason.")
    p.add_argument("--model", required=True, help="model bundle (.pt)")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--drop-calibration", action="store_true",
                   help="export a calibrated flow with its base temperature reset to 1 (the "
                   "original flow has no temperature)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.model)
    try:
        files = export_seed(bundle, args.out, drop_calibration=args.drop_calibration)
    except SeedExportError as err:
        print(f"error: {args.model} cannot be exported to the original code: {err}",
              file=sys.stderr)
        return 2
    for f in files:
        print(f)
    return 0
