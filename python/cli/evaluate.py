"""``llp-gap-reco evaluate``: resolution, pulls, coverage and corner plots of a model."""

from __future__ import annotations

import argparse
import pathlib

from ..evaluation.evaluate import evaluate
from . import checks
from .predict import FOLDER_HINT


def run(args: argparse.Namespace) -> int:
    checks.input_file(args.model, "--model")
    if args.baseline:
        checks.input_file(args.baseline, "--baseline")
    checks.input_folder(args.data, "--data", FOLDER_HINT)
    checks.available_device(args.device)
    checks.output_folder(args.out)
    rep = evaluate(
        args.model,
        args.data,
        args.out,
        baseline=args.baseline,
        n_samples=args.samples,
        coverage_samples=args.coverage_samples,
        n_corner=args.corner,
        seed=args.seed,
        batch_size=args.batch_size,
        max_events=args.max_events,
        device=args.device,
        progress=not args.no_progress,
    )
    res = {r["quantity"]: r for r in rep["resolution"]["flow"]}
    prior = {r["quantity"]: r for r in rep["resolution"]["prior"]}
    cov = rep["coverage"]
    print(f"events {rep['n_events']} (ok {rep['n_ok']})")
    for q in ("prod_3d", "decay_3d"):
        print(f"{q:10s} median {res[q]['median']:.1f} m (prior {prior[q]['median']:.1f} m)")
    print(f"coverage 68%: {cov['summary_68']:.3f}   90%: {cov['summary_90']:.3f}")
    for w in rep.get("warnings") or []:
        print(f"WARNING {w}")
    print(f"report: {pathlib.Path(args.out) / 'report.md'}")
    return 0
