"""Encoder inference speed on CPU: events/s per attention backend and achieved GFLOP/s.

A realistic batch: 256 events with lognormal DOM counts (median 40, sigma 1.5, clipped to
[1, 3000]), features N(0, 1), the default encoder config (and the large one). Throughput is
``B / t`` with ``t`` the best of several ``torch.inference_mode`` forwards; the useful
arithmetic is counted as

    FLOPs = 2 N_total * sum(d_in * d_out over the row-wise linear layers)
            + 4 C * sum_b L_b^2 * n_layers        (q k^T and p v, per head summed)

and compared with a large float32 matmul (2048 x 2048) timed on the same threads.

    python benchmarks/bench_encoder.py [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import yaml
from _common import best_time, write_rows
from llp_gap_reco.encoder import BucketPolicy, LLPTransformerModel
from llp_gap_reco.model.encoder.attention import BucketedAttention

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "encoder.json"


def realistic_seqlens(n_events: int, seed: int = 0) -> torch.Tensor:
    """``[B]`` DOM counts: lognormal, median 40, sigma 1.5, clipped to [1, 3000]."""
    rng = np.random.default_rng(seed)
    lens = np.clip(np.rint(rng.lognormal(np.log(40.0), 1.5, n_events)), 1, 3000)
    return torch.as_tensor(lens.astype(np.int64))


def settings(name: str) -> dict:
    return yaml.safe_load((ROOT / "configs" / f"encoder_{name}.yaml").read_text())["settings"]


def encoder_flops(model: LLPTransformerModel, seqlens: torch.Tensor) -> float:
    """Useful multiply-adds x 2 of one forward (padding not counted)."""
    n = float(seqlens.sum())
    linear = sum(
        m.in_features * m.out_features
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and not name.startswith("attention_to_output_mlp")
    )
    attn = 4.0 * model.computational_dim * float((seqlens.double() ** 2).sum())
    return 2.0 * n * linear + attn * len(model.transformer_encoder.layers)


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2.0 * n**3 / best_time(lambda: a @ b, repeats) / 1e9


def run(quick: bool = False, threads: Optional[int] = None) -> list[dict]:
    """Rows for one thread count (``None``: torch's current setting).

    The machine's load may drift, so the variants are timed round-robin (``rounds`` rounds,
    one forward each, after a warm-up) and each keeps its best time; the matmul reference is
    timed in every round too and keeps its best. The padded reference runs once.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()
    n_events = 64 if quick else 256
    rounds = 2 if quick else 5
    common = {"threads": threads, "n_events": n_events, "device": "cpu"}
    seqlens = realistic_seqlens(n_events)
    cases = []  # (config, variant name, forward, useful FLOPs)
    for cfg in ("default", "large"):
        torch.manual_seed(0)
        s = settings(cfg)
        model = LLPTransformerModel(**s).eval()
        x = torch.randn(int(seqlens.sum()), s["input_dim"])
        variants = {"torch": "torch"}
        if cfg == "default":  # 15 layers: the large padded reference would take minutes here
            variants["padded"] = "padded"
            if not quick:  # the other exact groupings of the torch backend, for the record
                variants["torch_per_event"] = BucketedAttention(BucketPolicy(solo_min_len=2))
                variants["torch_buckets_only"] = BucketedAttention(BucketPolicy(solo_min_len=10**9))
        for name, backend in variants.items():

            def forward(model=model, x=x, backend=backend):
                model.set_attention_backend(backend)
                return model(x, seqlens)

            cases.append((cfg, name, forward, encoder_flops(model, seqlens)))

    best = {(cfg, name): float("inf") for cfg, name, _, _ in cases}
    peak = 0.0
    with torch.inference_mode():
        for round_ in range(rounds):
            peak = max(peak, matmul_gflops(repeats=2))
            for cfg, name, forward, _ in cases:
                if name == "padded" and round_ > 0:
                    continue
                if round_ == 0 and name != "padded":
                    forward()  # warm-up
                best[cfg, name] = min(best[cfg, name], best_time(forward, 1, warmup=0))

    rows: list[dict] = [
        {
            "name": f"matmul_2048_fp32/threads={threads}",
            "value": round(peak, 1),
            "unit": "GFLOP/s",
            **common,
        }
    ]
    for cfg, name, _, flops in cases:
        t = best[cfg, name]
        gflops = flops / t / 1e9
        extra = {"config": cfg, "backend": name, "seconds": round(t, 4), **common}
        rows.append(
            {
                "name": f"{cfg}/{name}/events_per_s/threads={threads}",
                "value": round(n_events / t, 1),
                "unit": "events/s",
                **extra,
            }
        )
        rows.append(
            {
                "name": f"{cfg}/{name}/useful_gflops/threads={threads}",
                "value": round(gflops, 1),
                "unit": "GFLOP/s",
                "fraction_of_matmul": round(gflops / peak, 3),
                **extra,
            }
        )
    if ("default", "padded") in best:
        rows.append(
            {
                "name": f"default/speedup_torch_vs_padded/threads={threads}",
                "value": round(best["default", "padded"] / best["default", "torch"], 1),
                "unit": "x",
                **common,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 events, fewer variants")
    parser.add_argument(
        "--threads", default="", help="comma-separated thread counts, e.g. 1,2 (default: torch's)"
    )
    args = parser.parse_args()
    counts = [int(t) for t in args.threads.split(",") if t] or [None]
    rows = [row for n in counts for row in run(quick=args.quick, threads=n)]
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        frac = f"  ({r['fraction_of_matmul']:.0%} of matmul)" if "fraction_of_matmul" in r else ""
        print(f"{r['name']:<{width}}  {r['value']:>10} {r['unit']}{frac}")
    write_rows(rows, RESULTS)


if __name__ == "__main__":
    main()
