"""HDR coverage per true gap-length quintile of a flow's posterior tilted by ``L^k``.

    python resources/reports/gap_tilt_coverage.py MODEL.pt TEST_FOLDER [--events 2000] [--k 0,1,2]

For each ``k`` the posterior ``p(x) L(x)^k`` (``L``: gap length, m) is represented by the flow's
samples importance-weighted by ``L^k``; the truth lies in its ``alpha`` HDR iff the weighted
fraction of samples with a higher tilted density is below ``alpha``. The base temperature is
refitted on an 11-point grid (the flow's own times ``exp(-0.25 ... 0.25)``) for 68% / 90%
overall. ``k = 0`` is the flow's own HDR (its level map and region tilt are not applied). Prints
one row per ``k`` (the table of ``resources/docs/evaluation.md``, "A prior tilted towards long
gaps").
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from llp_gap_reco.evaluation.calibration import collect_encodings
from llp_gap_reco.evaluation.predictions import batches
from llp_gap_reco.model.bundle import load_bundle
from llp_gap_reco.model.flow import ConditionalFlow
from llp_gap_reco.model.flow.gap_prior import gap_lengths
from llp_gap_reco.model.flow.summary import prepare_tabulated, push_base_points

N_SAMPLES, CHUNK = 256, 250


def tilted_ranks(
    flow: ConditionalFlow, enc: torch.Tensor, truth: torch.Tensor, k: float, t: float, seed: int
) -> np.ndarray:
    """HDR ranks ``[N]`` of ``truth [N, 6]`` under the flow's posterior times ``L^k`` at base
    temperature ``t``."""
    gen, out = torch.Generator().manual_seed(seed), []
    with torch.inference_mode():
        for s in range(0, enc.shape[0], CHUNK):
            e, x_true = enc[s : s + CHUNK].to(flow.dtype), truth[s : s + CHUNK]
            z = torch.randn(e.shape[0], N_SAMPLES, 6, generator=gen, dtype=torch.float64)
            x, log_p = push_base_points(flow, prepare_tabulated(flow, e, torch.float64), z,
                                        torch.float64, t)  # fmt: skip
            z_true, log_jac = flow.base_point(x_true.to(flow.dtype), e)
            log_p_true = flow.log_base(z_true, flow.temperature(e, base=t)) + log_jac
            gap, gap_true = gap_lengths(x).numpy(), gap_lengths(x_true.numpy())
            w = gap**k / (gap**k).sum(1, keepdims=True)
            above = (
                log_p.numpy() + k * np.log(gap)
                > (log_p_true.numpy() + k * np.log(gap_true))[:, None]
            )
            out.append((w * above).sum(1))
    return np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("test_folder")
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--k", default="0,0.5,1,1.5,2", help="comma-separated tilt exponents")
    args = ap.parse_args()
    bundle = load_bundle(args.model)
    flow = bundle.flow_head
    it, _ = batches(bundle, args.test_folder, 256, targets=True)
    enc, truth = collect_encodings(bundle.encode, it, args.events)
    gap_true = gap_lengths(truth.numpy())
    edges = np.quantile(gap_true, np.linspace(0, 1, 6))
    quintile = np.clip(np.searchsorted(edges[1:-1], gap_true, side="right"), 0, 4)
    print("gap-length quintiles [m]:", " ".join(f"{e:.0f}" for e in edges))
    for k in (float(v) for v in args.k.split(",")):
        fits = []
        for t in flow.base_temperature * np.exp(np.linspace(-0.25, 0.25, 11)):
            r = tilted_ranks(flow, enc, truth, k, float(t), seed=0)
            fits.append((abs((r < 0.68).mean() - 0.68) + abs((r < 0.9).mean() - 0.9), t, r))
        _, t, r = min(fits, key=lambda f: f[0])
        per_q = [
            " ".join(f"{100 * (r[quintile == i] < a).mean():.0f}" for i in range(5))
            for a in (0.68, 0.9)
        ]
        print(f"k={k:g} T={t:.3f} overall {100 * (r < 0.68).mean():.1f} / "
              f"{100 * (r < 0.9).mean():.1f}  68%: {per_q[0]}  90%: {per_q[1]}")  # fmt: skip


if __name__ == "__main__":
    main()
