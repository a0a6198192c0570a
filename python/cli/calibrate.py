"""``llp-gap-reco calibrate``: fit a flow bundle's posterior width on held-out labeled events."""

from __future__ import annotations

import argparse
import os

from ..evaluation.calibration import calibrate_bundle
from ..model.bundle import load_bundle, save_bundle


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate", help="fit the posterior width (base temperature) of a model",
        description="Fit the flow's base temperature T on a labeled folder the model was not "
        "trained on (least squares of the HDR coverage at 0.1..0.9) and write a new bundle. "
        "`train` does this on its validation files already; use this for imported models.")
    p.add_argument("--model", required=True, help="model bundle (.pt) with a flow")
    p.add_argument("--data", required=True, help="labeled converted folder (not trained on)")
    p.add_argument("--out", required=True, help="calibrated bundle to write")
    p.add_argument("--max-events", type=int, default=4000)
    p.add_argument("--samples", type=int, default=256, help="posterior samples per event")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:


    if os.path.abspath(args.out) == os.path.abspath(args.model):
        raise SystemExit("calibrate: --out must differ from --model (the input stays as it is)")
    bundle = load_bundle(args.model, device=args.device)
    cal = calibrate_bundle(bundle, args.data, max_events=args.max_events,
                           n_samples=args.samples, seed=args.seed)
    path = save_bundle(bundle, args.out)
    print(f"base temperature {cal.temperature:.3f} from {cal.n_events} events")
    print("nominal  " + " ".join(f"{v:5.2f}" for v in cal.levels))
    print("T = 1    " + " ".join(f"{v:5.3f}" for v in cal.coverage_before))
    print("fitted   " + " ".join(f"{v:5.3f}" for v in cal.coverage_after))
    print(f"wrote {path}")
    return 0
