"""Conditional flow speed and posterior-summary accuracy on CPU.

The default model: ``gggggt``, D = 100 (encoding size), initialised from 1,000 synthetic vertex
labels (correlated production vertex, exponential gap) with small random last-layer weights so
that events differ. Rows:

* ``summary_*``: posterior summaries (scrambled Sobol, tabulated g inversion, float32) in
  events/s for 256 and 512 samples, on the default threads and on one thread (on a shared,
  oversubscribed machine two OpenMP threads can be far slower than one);
* ``summary_512_threads1_region_tilt``: the 512-sample summary on one thread of the same flow
  with a gap-length region tilt (the quickstart's fitted one), next to ``summary_512_threads1``;
* ``summary_exact_512``: the same with Newton inversion (float64);
* ``log_prob`` (float64, events/s) and ``sample_newton`` (float64, samples/s);
* accuracy of 256/512-sample summaries against an 8,192-sample Newton reference: worst mean
  error in sigma, worst covariance-element error relative to sigma_i sigma_j, and the worst
  relative Frobenius error of the sigma-scaled covariance;
* ``jammy_marginal_moments_300``: the original ``marginal_moments(samplesize=300)``, measured
  only when jammy_flows is importable (no row otherwise).

    python benchmarks/bench_flow.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from llp_gap_reco.flow import ConditionalFlow
from llp_gap_reco.model.flow.jammy_backend import jammy_available
from llp_gap_reco.model.flow.region_tilt import RegionTilt

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "flow.json"
sys.path.insert(0, str(ROOT / "tests"))
from _common import best_time, write_rows  # noqa: E402
from _flow_helpers import vertex_labels  # noqa: E402

D = 100
#: the region tilt of the committed quickstart model (m; resources/reports/quickstart)
QUICKSTART_TILT = {"gap_knots": [68.0, 109.4, 164.0, 242.6, 408.9],
                   "values": [0.15, -0.78, -0.66, -0.32, 1.60]}  # fmt: skip


def build_flow(label_standardization: bool = True) -> ConditionalFlow:
    torch.manual_seed(0)
    flow = ConditionalFlow(
        "gggggt", conditional_input_dim=D, label_standardization=label_standardization
    )
    flow.init_from_labels(vertex_labels(1000, seed=0), seed=0)
    with torch.no_grad():
        last = flow.mlp_predictors[0][-1].weight
        last.add_(0.05 * torch.randn(last.shape, dtype=last.dtype))
    return flow


def _accuracy(flow: ConditionalFlow, n_events: int) -> list[dict]:
    enc = torch.randn(n_events, D, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    ref = flow.summarize(enc, n_samples=8192, seed=123, exact=True)
    rows = []
    for n in (256, 512):
        s = flow.summarize(enc, n_samples=n, seed=0)
        norm = ref.sigma[:, :, None] * ref.sigma[:, None, :]
        rows.append(
            {
                "name": f"summary_{n}_mean_error",
                "value": round(float(((s.mean - ref.mean) / ref.sigma).abs().max()), 4),
                "unit": "sigma",
                "reference": "8192-sample Newton summary",
                "n_events": n_events,
            }
        )
        rows.append(
            {
                "name": f"summary_{n}_cov_error",
                "value": round(float(((s.cov - ref.cov) / norm).abs().max()), 4),
                "unit": "of sigma_i sigma_j",
                "reference": "8192-sample Newton summary",
                "n_events": n_events,
            }
        )
        scaled = (s.cov - ref.cov) / norm
        frobenius = scaled.norm(dim=(1, 2)) / (ref.cov / norm).norm(dim=(1, 2))
        rows.append(
            {
                "name": f"summary_{n}_cov_error_frobenius",
                "value": round(float(frobenius.max()), 4),
                "unit": "relative",
                "reference": "8192-sample Newton summary",
                "n_events": n_events,
            }
        )
    return rows


def run(quick: bool = False) -> list[dict]:
    flow = build_flow()
    threads = torch.get_num_threads()
    n_events = 512 if quick else 1024
    repeats = 1 if quick else 2
    enc = torch.randn(n_events, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    common = {
        "flow_defs": "gggggt",
        "conditional_input_dim": D,
        "n_events": n_events,
        "device": "cpu",
    }
    rows: list[dict] = []
    with torch.inference_mode():
        for nt in sorted({threads, 1}, reverse=True):
            torch.set_num_threads(nt)
            for n in (256, 512):
                t = best_time(lambda n=n: flow.summarize(enc, n_samples=n), repeats)
                rows.append(
                    {
                        "name": f"summary_{n}_threads{nt}",
                        "value": round(n_events / t, 1),
                        "unit": "events/s",
                        "threads": nt,
                        "n_samples": n,
                        "dtype": "float32",
                        **common,
                    }
                )
        torch.set_num_threads(1)
        flow.region_tilt = RegionTilt(QUICKSTART_TILT["gap_knots"], QUICKSTART_TILT["values"])
        t = best_time(lambda: flow.summarize(enc, n_samples=512), repeats)
        flow.region_tilt = None
        rows.append(
            {
                "name": "summary_512_threads1_region_tilt",
                "value": round(n_events / t, 1),
                "unit": "events/s",
                "threads": 1,
                "n_samples": 512,
                "dtype": "float32",
                **common,
            }
        )
        torch.set_num_threads(threads)
        n_exact = 8 if quick else 64
        t = best_time(lambda: flow.summarize(enc[:n_exact], n_samples=512, exact=True), 1)
        rows.append(
            {
                "name": "summary_exact_512",
                "value": round(n_exact / t, 1),
                "unit": "events/s",
                "threads": threads,
                "n_samples": 512,
                "dtype": "float64",
                **common,
                "n_events": n_exact,
            }
        )
        x = vertex_labels(n_events, seed=2)
        t = best_time(lambda: flow.log_prob(x, enc), repeats)
        rows.append(
            {
                "name": "log_prob",
                "value": round(n_events / t, 1),
                "unit": "events/s",
                "threads": threads,
                "dtype": "float64",
                **common,
            }
        )
        t = best_time(lambda: flow.sample(enc[:64], 64), 1)
        rows.append(
            {
                "name": "sample_newton",
                "value": round(64 * 64 / t, 1),
                "unit": "samples/s",
                "threads": threads,
                "dtype": "float64",
                "tolerance": 1e-10,
                **common,
                "n_events": 64,
            }
        )
    rows += [{**common, "threads": threads, **r} for r in _accuracy(flow, 4 if quick else 8)]
    if jammy_available():
        rows.append(_jammy_row(quick))
    else:
        print(
            "jammy_flows is not importable here: no jammy_marginal_moments_300 row", file=sys.stderr
        )
    return rows


def _jammy_row(quick: bool) -> dict:
    """The original's ``marginal_moments(samplesize=300)`` timed (needs jammy_flows)."""
    name = "jammy_marginal_moments_300"
    from llp_gap_reco.model.flow.jammy_backend import JammyFlow

    # jammy_flows: optional, only for this row
    jammy = JammyFlow("gggggt", conditional_input_dim=D)
    jammy.load_state_dict(build_flow(label_standardization=False).state_dict())
    n_events = 2 if quick else 8
    enc = torch.randn(n_events, D, dtype=torch.float64)
    t0 = time.perf_counter()
    jammy.pdf.marginal_moments(enc, samplesize=300)
    return {
        "name": name,
        "value": round(n_events / (time.perf_counter() - t0), 2),
        "unit": "events/s",
        "threads": torch.get_num_threads(),
        "n_events": n_events,
        "source": "measured",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and repeats")
    args = parser.parse_args()
    rows = run(quick=args.quick)
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['value']:>10} {r['unit']}")
    write_rows(rows, RESULTS)


if __name__ == "__main__":
    main()
