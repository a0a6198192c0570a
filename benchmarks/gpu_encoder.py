"""Encoder speed on a CUDA GPU: xformers vs torch vs padded, batch sizes 256-4096, fp32 and bf16.

Inference (``torch.inference_mode``) and one training step (forward + backward), default and
large configs, realistic lengths (lognormal, median 40, sigma 1.5, clipped to [1, 3000]).
Each point is the median of several CUDA-synchronised runs after warm-up; a point that runs out
of memory is recorded as such (the padded reference does at large batches). Before timing, the
script checks that every backend agrees with ``padded`` on a small batch (fp32, 1e-5 relative).

    python benchmarks/gpu_encoder.py [--quick] [--out benchmarks/results/gpu_encoder.json]

Needs CUDA; xformers is optional (its rows are skipped with the reason when it is missing).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Callable, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_encoder import encoder_flops, realistic_seqlens, settings  # noqa: E402
from llp_gap_reco.encoder import LLPTransformerModel  # noqa: E402
from llp_gap_reco.model.encoder.attention import get_backend  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


#: the padded reference materialises [B, L_max, L_max] scores per head: beyond this batch size
#: (L_max ~ 3000 with realistic lengths) it needs tens of GB and is not timed
PADDED_MAX_BATCH = 256


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def cuda_time(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median seconds of ``fn`` with CUDA synchronisation around each run."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def check_agreement(device: torch.device, backends: list[str]) -> list[dict]:
    """fp32 outputs of each backend vs padded on a small batch with length-1 events."""
    torch.manual_seed(0)
    s = {**settings("default"), "attn_num_heads_per_layer": 4, "attn_dropout": 0.0}
    model = LLPTransformerModel(**s).to(device).eval()
    seqlens = realistic_seqlens(64, seed=1)
    seqlens[::7] = 1
    x = torch.randn(int(seqlens.sum()), s["input_dim"], device=device)
    seqlens = seqlens.to(device)
    rows = []
    with torch.inference_mode():
        model.set_attention_backend("padded")
        ref = model(x, seqlens)
        for name in backends:
            model.set_attention_backend(name)
            try:
                rel = float((model(x, seqlens) - ref).abs().max() / ref.abs().max())
            except Exception as err:  # noqa: BLE001 - e.g. an xformers build without kernels
                rows.append(
                    {
                        "name": f"agreement/{name}_vs_padded",
                        "value": None,
                        "unit": "rel",
                        "ok": False,
                        "error": f"{type(err).__name__}: {err}"[:300],
                    }
                )
                continue
            rows.append(
                {
                    "name": f"agreement/{name}_vs_padded",
                    "value": rel,
                    "unit": "rel",
                    "ok": rel < 1e-5,
                }
            )
    return rows


def time_point(model, x, seqlens, train: bool, repeats: int) -> float:
    if not train:
        with torch.inference_mode():
            return cuda_time(partial(model, x, seqlens), repeats)

    def step():
        model.zero_grad(set_to_none=True)
        model(x, seqlens).float().square().mean().backward()

    return cuda_time(step, repeats)


def run(
    quick: bool = False, device: str = "cuda", batch_sizes: Optional[list[int]] = None
) -> list[dict]:
    """Rows of the agreement checks and the timings (``device="cpu"`` only to try the script)."""
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_encoder.py needs a CUDA GPU (torch.cuda.is_available() is False)")
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (dry run)"
    backends = ["torch", "padded"]
    xf_reason = get_backend("xformers").unavailable_reason(device, torch.float32)
    if xf_reason is None:
        backends.insert(0, "xformers")
    rows: list[dict] = [
        {
            "name": "gpu",
            "value": gpu,
            "unit": "",
            "xformers": xf_reason or "available",
            "torch": torch.__version__,
        }
    ]
    rows += check_agreement(device, [b for b in backends if b != "padded"])
    if batch_sizes is None:
        batch_sizes = [256, 1024] if quick else [256, 1024, 2048, 4096]
    configs = ["default"] if quick else ["default", "large"]
    repeats = 3 if quick else 10
    for cfg in configs:
        for dname, dtype in DTYPES.items():
            torch.manual_seed(0)
            model = LLPTransformerModel(**settings(cfg)).to(device, dtype).eval()
            for b in batch_sizes:
                seqlens = realistic_seqlens(b, seed=b)
                flops = encoder_flops(model, seqlens)
                x = torch.randn(int(seqlens.sum()), model.input_dim, device=device, dtype=dtype)
                lens_dev = seqlens.to(device)
                for backend in backends:
                    if backend == "padded" and b > PADDED_MAX_BATCH:
                        continue
                    model.set_attention_backend(backend)
                    for mode in ("inference", "train_step"):
                        base = {
                            "config": cfg,
                            "dtype": dname,
                            "batch": b,
                            "backend": backend,
                            "mode": mode,
                            "gpu": gpu,
                        }
                        try:
                            t = time_point(model, x, lens_dev, mode == "train_step", repeats)
                        except torch.cuda.OutOfMemoryError:
                            torch.cuda.empty_cache()
                            rows.append(
                                {
                                    "name": f"{cfg}/{dname}/{b}/{backend}/{mode}",
                                    "value": None,
                                    "unit": "events/s",
                                    "oom": True,
                                    **base,
                                }
                            )
                            continue
                        except (NotImplementedError, RuntimeError) as err:
                            rows.append(
                                {
                                    "name": f"{cfg}/{dname}/{b}/{backend}/{mode}",
                                    "value": None,
                                    "unit": "events/s",
                                    **base,
                                    "error": f"{type(err).__name__}: {err}"[:300],
                                }
                            )
                            continue
                        rows.append(
                            {
                                "name": f"{cfg}/{dname}/{b}/{backend}/{mode}",
                                "value": round(b / t, 1),
                                "unit": "events/s",
                                "seconds": t,
                                "useful_tflops": round(flops / t / 1e12, 2)
                                if mode == "inference"
                                else None,
                                **base,
                            }
                        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="default config, batches 256/1024")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/gpu_encoder.json")
    args = parser.parse_args()
    rows = run(quick=args.quick)
    for r in rows:
        extra = f"  {r['useful_tflops']} TFLOP/s" if r.get("useful_tflops") else ""
        print(f"{r['name']:<44} {r['value']!s:>12} {r['unit']}{extra}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
