"""``llp-gap-reco import-seed``: a model bundle from the original research code's artefacts."""

from __future__ import annotations

import argparse

from ..model.bundle import save_bundle
from ..model.seed_import import import_seed
from . import checks


def run(args: argparse.Namespace) -> int:
    for option in (
        "settings",
        "encoder_state",
        "flow_state",
        "normalization",
        "feature_indices",
        "feature_config",
    ):
        if getattr(args, option):
            checks.input_file(getattr(args, option), "--" + option.replace("_", "-"))
    checks.output_file(args.out)
    bundle = import_seed(
        args.settings,
        args.encoder_state,
        args.flow_state,
        args.normalization,
        args.feature_indices,
        args.feature_config,
        args.target_scaled,
        convention=args.convention,
    )
    path = save_bundle(bundle, args.out)
    head = (
        f"flow {bundle.flow.flow_defs}" if bundle.flow is not None else "point estimate (no flow)"
    )
    print(
        f"wrote {path} (encoder {bundle.encoder.input_dim}->{bundle.encoder.encoding_dim}, "
        f"{head}, convention {bundle.convention})"
    )
    return 0
