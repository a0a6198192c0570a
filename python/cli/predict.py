"""``llp-gap-reco predict``: posterior summaries of every event of a folder, to parquet."""

from __future__ import annotations

import argparse
import time

from ..evaluation.predictions import predict_folder
from ..model.bundle import load_bundle


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict", help="posterior summaries of a converted folder -> parquet",
        description="Reconstruct every event of a converted folder with a model bundle and "
        "write one parquet row per event (means, sigmas, covariance, gap length, HDR "
        "thresholds, status; truth and log p(truth) when the folder has truth).")
    p.add_argument("--model", required=True, help="model bundle (.pt)")
    p.add_argument("--data", required=True, help="converted folder")
    p.add_argument("--out", required=True, help="output parquet file")
    p.add_argument("--samples", type=int, default=512, help="posterior samples per event")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    bundle = load_bundle(args.model, device=args.device)
    t0 = time.perf_counter()
    n = predict_folder(bundle, args.data, args.out, n_samples=args.samples, seed=args.seed,
                       batch_size=args.batch_size, progress=not args.no_progress)
    dt = time.perf_counter() - t0
    print(f"{n} events -> {args.out} in {dt:.1f} s ({n / dt:.0f} events/s, "
          f"attention backend {bundle.attention_backend})")
    return 0
