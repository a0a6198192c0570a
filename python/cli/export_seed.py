"""``llp-gap-reco export-seed``: a model bundle as the original research code's file set."""

from __future__ import annotations

import argparse
import os

from ..model.bundle import load_bundle
from ..model.seed_export import export_seed
from . import checks
from .errors import UserError


def run(args: argparse.Namespace) -> int:
    checks.input_file(args.model, "--model")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UserError(f"--out {args.out}: exists and is not a folder; choose a folder path")
    bundle = load_bundle(args.model)
    # SeedExportError (a model the original code cannot express) is a user error: one line
    files = export_seed(bundle, args.out, drop_calibration=args.drop_calibration)
    for f in files:
        print(f)
    return 0
