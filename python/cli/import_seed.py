"""``llp-gap-reco import-seed``: a model bundle from the original research code's artefacts."""

from __future__ import annotations

import argparse

from ..data.features.convention import CONVENTIONS, ORIGINAL
from ..model.bundle import save_bundle
from ..model.seed_import import import_seed


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-seed", help="bundle an original trained model (settings, state dicts)",
        description="Build a model bundle from the original code's artefacts so an existing "
        "trained model runs in this package unchanged (state dicts load strictly; features are "
        "computed in the original convention, TotalCharge = log(1 + log(1 + Q))).")
    p.add_argument("--settings", required=True,
                   help="original model YAML: 'settings' and, for a flow model, 'flow: "
                   "{flow_str: ...}'")
    p.add_argument("--encoder-state", required=True, help="encoder state dict (.pth)")
    p.add_argument("--flow-state", default=None,
                   help="flow state dict (flow_best.pth); omit for an encoder-only model "
                   "(no 'flow' section, output_dim: 6), which becomes a point bundle")
    p.add_argument("--normalization", required=True, help="normalization_args.yaml")
    p.add_argument("--feature-indices", required=True, help="feature_indices.yaml")
    p.add_argument("--feature-config", default=None,
                   help="feature config YAML the data was converted with (an original "
                   "feature_configs.py entry works as it is; default: its llp_no_percentile)")
    p.add_argument("--convention", choices=CONVENTIONS, default=ORIGINAL,
                   help="input convention the model was trained in (default: original)")
    p.add_argument("--target-scaled", action="store_true",
                   help="the model was trained on labels multiplied by the position scale "
                   "(original normalize_target=True)")
    p.add_argument("--out", required=True, help="bundle to write (.pt)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    bundle = import_seed(args.settings, args.encoder_state, args.flow_state, args.normalization,
                         args.feature_indices, args.feature_config, args.target_scaled,
                         convention=args.convention)
    path = save_bundle(bundle, args.out)
    head = (f"flow {bundle.flow.flow_defs}" if bundle.kind == "flow"
            else "point estimate (no flow)")
    print(f"wrote {path} (encoder {bundle.encoder.input_dim}->{bundle.encoder.encoding_dim}, "
          f"{head}, convention {bundle.convention})")
    return 0
