"""``llp-gap-reco predict``: posterior summaries of every event of a folder, to parquet."""

from __future__ import annotations

import argparse
import time

from ..evaluation.predictions import predict_folder
from ..model.bundle import load_bundle
from . import checks

FOLDER_HINT = "give a converted folder (`llp-gap-reco simulate --out DIR` or `convert`)"


def run(args: argparse.Namespace) -> int:
    checks.input_file(args.model, "--model")
    checks.input_folder(args.data, "--data", FOLDER_HINT)
    checks.available_device(args.device)
    checks.output_file(args.out)
    bundle = load_bundle(args.model, device=args.device)
    t0 = time.perf_counter()
    n = predict_folder(
        bundle,
        args.data,
        args.out,
        n_samples=args.samples,
        seed=args.seed,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    dt = time.perf_counter() - t0
    print(
        f"{n} events -> {args.out} in {dt:.1f} s ({n / max(dt, 1e-9):.0f} events/s, "
        f"attention backend {bundle.attention_backend})"
    )
    return 0
