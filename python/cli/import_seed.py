"""``llp-gap-reco import-seed``: a model bundle from the original research code's artefacts."""

from __future__ import annotations

import argparse

from ..model.bundle import save_bundle
from ..model.seed_import import import_seed


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-seed", help="bundle an original trained model (settings, state dicts)",
        description="Build a model bundle from the original code's artefacts so an existing "
        "trained model runs in this package unchanged (state dicts load strictly).")
    p.add_argument("--settings", required=True, help="YAML with 'settings' and 'flow' sections")
    p.add_argument("--encoder-state", required=True, help="encoder state dict (.pth)")
    p.add_argument("--flow-state", required=True, help="flow state dict (flow_best.pth)")
    p.add_argument("--normalization", required=True, help="normalisation YAML")
    p.add_argument("--feature-indices", required=True, help="feature_indices.yaml")
    p.add_argument("--feature-config", default=None,
                   help="feature config YAML the model was trained with (default: package "
                   "default, 11 columns)")
    p.add_argument("--target-scaled", action="store_true",
                   help="the flow was trained on labels multiplied by the position scale "
                   "(original normalize_target=True)")
    p.add_argument("--out", required=True, help="bundle to write (.pt)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    bundle = import_seed(args.settings, args.encoder_state, args.flow_state, args.normalization,
                         args.feature_indices, args.feature_config, args.target_scaled)
    path = save_bundle(bundle, args.out)
    print(f"wrote {path} (encoder {bundle.encoder.input_dim}->{bundle.encoder.encoding_dim}, "
          f"flow {bundle.flow.flow_defs})")
    return 0
