"""``llp-gap-reco evaluate``: resolution, pulls, coverage and corner plots of a model."""

from __future__ import annotations

import argparse

from ..evaluation.evaluate import evaluate


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="evaluation report of a model on a labeled folder",
        description="Resolution table, pulls, HDR coverage curve and corner plots; writes "
        "REPORT_DIR/report.md, report.json, PNG figures and arrays.npz.")
    p.add_argument("--model", required=True, help="model bundle (.pt) with a flow")
    p.add_argument("--data", required=True, help="labeled converted folder (held-out events)")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--baseline", default=None,
                   help="bundle trained with `train --loss mse` (same encoder), for comparison")
    p.add_argument("--samples", type=int, default=512, help="QMC samples for the summary")
    p.add_argument("--coverage-samples", type=int, default=1000,
                   help="posterior samples per event for the coverage curve")
    p.add_argument("--corner", type=int, default=3, help="events with a corner plot")
    p.add_argument("--max-events", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    rep = evaluate(args.model, args.data, args.out, baseline=args.baseline,
                   n_samples=args.samples, coverage_samples=args.coverage_samples,
                   n_corner=args.corner, seed=args.seed, batch_size=args.batch_size,
                   max_events=args.max_events, device=args.device,
                   progress=not args.no_progress)
    res = {r["quantity"]: r for r in rep["resolution"]["flow"]}
    prior = {r["quantity"]: r for r in rep["resolution"]["prior"]}
    cov = rep["coverage"]
    print(f"events {rep['n_events']} (ok {rep['n_ok']})")
    for q in ("prod_3d", "decay_3d"):
        print(f"{q:10s} median {res[q]['median']:.1f} m (prior {prior[q]['median']:.1f} m)")
    print(f"coverage 68%: {cov['summary_68']:.3f}   90%: {cov['summary_90']:.3f}")
    print(f"report: {args.out}/report.md")
    return 0
