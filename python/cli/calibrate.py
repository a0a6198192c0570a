"""``llp-gap-reco calibrate``: fit a flow bundle's posterior width on held-out labeled events."""

from __future__ import annotations

import argparse
import os

from ..evaluation.calibration import calibrate_bundle
from ..model.bundle import load_bundle, save_bundle
from . import checks
from .errors import UserError
from .predict import FOLDER_HINT


def run(args: argparse.Namespace) -> int:
    checks.input_file(args.model, "--model")
    checks.input_folder(args.data, "--data", FOLDER_HINT)
    if os.path.abspath(args.out) == os.path.abspath(args.model):
        raise UserError("--out must differ from --model (the input bundle stays as it is)")
    checks.available_device(args.device)
    checks.output_file(args.out)
    bundle = load_bundle(args.model, device=args.device)
    cal = calibrate_bundle(
        bundle,
        args.data,
        max_events=args.max_events,
        n_samples=args.samples,
        seed=args.seed,
        event_temperature=not args.global_only,
        level_map=not args.no_level_map,
        region_tilt=not args.no_region_tilt,
        brightness_width=not args.no_brightness_width,
    )
    path = save_bundle(bundle, args.out)
    ev = cal.event_temperature
    if ev:
        p5, p50, p95 = ev["factor_p5_p50_p95"]
        print(f"event-dependent width factor: {p5:.3f} / {p50:.3f} / {p95:.3f} (p5 / p50 / p95)")
    print(f"base temperature {cal.temperature:.3f} from {cal.n_events} events")
    print("nominal  " + " ".join(f"{v:5.2f}" for v in cal.levels))
    print("T = 1    " + " ".join(f"{v:5.3f}" for v in cal.coverage_before))
    print("fitted   " + " ".join(f"{v:5.3f}" for v in cal.coverage_after))
    if cal.region_tilt:
        rt = cal.region_tilt
        print("region tilt h " + " ".join(f"{v:+.2f}" for v in rt["values"]) + " at gap lengths "
              + " ".join(f"{v:.0f}" for v in rt["gap_knots"]) + " m; 68% per true gap-length "
              + "quintile " + " ".join(f"{100 * v:.0f}" for v in rt["coverage_before"][0])
              + " -> " + " ".join(f"{100 * v:.0f}" for v in rt["coverage_after"][0]))  # fmt: skip
    if cal.brightness_width:
        bw = cal.brightness_width
        print("brightness width g " + " ".join(f"{v:+.3f}" for v in bw["values"])
              + f" (R^2 of log n_doms from the encoding {bw['r2_log_n_doms']:.2f}); 68% per "
              + "hit-DOM quintile " + " ".join(f"{100 * v:.0f}" for v in bw["coverage_before"][0])
              + " -> " + " ".join(f"{100 * v:.0f}" for v in bw["coverage_after"][0]))  # fmt: skip
    if cal.coverage_mapped:
        print("mapped   " + " ".join(f"{v:5.3f}" for v in cal.coverage_mapped))
    print(f"wrote {path}")
    return 0
