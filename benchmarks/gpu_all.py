"""Every GPU check and benchmark in one run, for a machine with a CUDA device.

    python benchmarks/gpu_all.py [--out benchmarks/results/gpu.json] [--budget-s 480]
    python benchmarks/gpu_all.py --dry-run      # the same code on the CPU with tiny sizes

Sections, in order (each one's failure is recorded as a row and the next one runs; a section
that would start after ``--budget-s`` seconds is skipped and recorded as such):

1. ``tests``: ``pytest -m cuda`` (CUDA vs CPU flow, bundle reconstruction, bf16/fp16/fp32
   training, attention backends vs the padded reference, loader batches on the device);
2. ``encoder``: ``gpu_encoder.run`` (backend agreement, then events/s per backend, batch size,
   dtype, inference and train step, default and large configs);
3. ``flow``: 512-point posterior summaries, events/s on the GPU and on this machine's CPU;
4. ``reconstruct``: encode + summary through a bundle of the default architecture from raw
   per-event features (what the IceTray module does per batch), GPU vs CPU, events/s;
5. ``training``: optimiser steps per second with the quick and the default model, fp32 and
   bf16 autocast, events/s.

Prints one table and writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Callable

import torch

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))
from _flow_helpers import vertex_labels  # noqa: E402
from gpu_encoder import cuda_time  # noqa: E402
from gpu_encoder import run as encoder_rows  # noqa: E402
from llp_gap_reco.dataset import write_simulated_folder  # noqa: E402
from llp_gap_reco.flow import ConditionalFlow  # noqa: E402
from llp_gap_reco.training import TrainConfig, Trainer  # noqa: E402
from llp_gap_reco.training.config import QUICK  # noqa: E402


def environment(device: str) -> list[dict]:
    row = {
        "name": "environment",
        "value": platform.node(),
        "unit": "",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "device": device,
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        row.update(
            gpu=props.name,
            gpu_memory_GiB=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
        )
    try:
        import xformers

        row["xformers"] = xformers.__version__
    except Exception as err:  # noqa: BLE001 - recorded, not fatal
        row["xformers"] = f"not importable ({type(err).__name__}: {err})"
    return [row]


def cuda_tests(log: pathlib.Path) -> list[dict]:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-m",
        "cuda",
        "-q",
        "-rs",
        "-p",
        "no:cacheprovider",
        str(ROOT / "tests"),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    log.write_text(proc.stdout + proc.stderr)
    last = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
    return [
        {
            "name": "pytest -m cuda",
            "value": last,
            "unit": "",
            "returncode": proc.returncode,
            "seconds": round(time.perf_counter() - t0, 1),
            "log": log.name,
        }
    ]


def flow_rows(device: str, sizes: list[int]) -> list[dict]:
    torch.manual_seed(0)
    flow = ConditionalFlow("gggggt", conditional_input_dim=100)
    flow.init_from_labels(vertex_labels(1000, seed=0), seed=0)
    rows = []
    for dev in dict.fromkeys([device, "cpu"]):
        f = flow.to(dev)
        for b in sizes if dev != "cpu" else sizes[:1]:
            enc = torch.randn(b, 100, dtype=torch.float64, device=dev)
            for dtype in (torch.float32, torch.float64):

                def go(f=f, enc=enc, dtype=dtype, b=b):
                    with torch.inference_mode():
                        f.summarize(enc, n_samples=512, dtype=dtype, chunk_size=max(128, b))

                t = cuda_time(go, repeats=5, warmup=1)
                rows.append(
                    {
                        "name": f"flow summary 512 pts/{dev}/{b}/{str(dtype)[6:]}",
                        "value": round(b / t, 1),
                        "unit": "events/s",
                        "device": dev,
                        "batch": b,
                        "threads": torch.get_num_threads(),
                    }
                )
    return rows


def _folder(tmp: pathlib.Path, n: int) -> str:
    path = tmp / "sim"
    if not path.exists():
        write_simulated_folder(
            str(path), n, seed=7, events_per_file=max(50, n // 8), progress=False
        )
    return str(path)


def _trainer(
    folder: str, out: pathlib.Path, device: str, amp: str, batch: int, default_model: bool
) -> Trainer:
    base = {} if default_model else dict(QUICK)
    cfg = TrainConfig.from_dict(
        dict(
            base,
            progress=False,
            max_minutes=None,
            init_labels=500,
            device=device,
            amp=amp,
            batch_size=batch,
            val_fraction=0.2,
        )
    )
    return Trainer(folder, out, cfg)


def reconstruct_rows(folder: str, tmp: pathlib.Path, device: str, sizes: list[int]) -> list[dict]:
    from llp_gap_reco.bundle import ModelBundle
    from llp_gap_reco.dataset import LoaderConfig, PackedLoader

    tr = _trainer(folder, tmp / "rec", "cpu", "none", 64, default_model=True)
    m = tr.model.eval()
    bundle = ModelBundle(
        m.encoder, m.head, "flow", tr.feature_config, tr.feature_indices, tr.normalization, {}
    )
    raw = PackedLoader(
        folder,
        LoaderConfig(batch_size=max(sizes), shuffle=False, world_size=1, rank=0),
        targets=False,
    )
    batch = next(iter(raw))
    cu = torch.cat([batch.seqlens.new_zeros(1), batch.seqlens.cumsum(0)]).tolist()
    feats = [batch.x[cu[i] : cu[i + 1]].numpy() for i in range(batch.batch_size)]
    rows = []
    for dev in dict.fromkeys([device, "cpu"]):
        bundle.to(dev)
        for b in sizes if dev != "cpu" else sizes[:1]:
            part = feats[:b]
            t = cuda_time(lambda part=part: bundle.reconstruct_features(part), repeats=5, warmup=1)
            rows.append(
                {
                    "name": f"reconstruct (encode + summary)/{dev}/{len(part)}",
                    "value": round(len(part) / t, 1),
                    "unit": "events/s",
                    "device": dev,
                    "batch": len(part),
                    "model": "default encoder + gggggt",
                }
            )
    return rows


def training_rows(folder: str, tmp: pathlib.Path, device: str, steps: int) -> list[dict]:
    rows = []
    for default_model, batch in ((False, 32), (False, 256), (True, 64), (True, 256)):
        for amp in ("none", "bf16"):
            tag = f"{'default' if default_model else 'quick'}/{batch}/{amp}"
            tr = _trainer(
                folder, tmp / f"tr_{tag.replace('/', '_')}", device, amp, batch, default_model
            )
            batches: list = []
            while len(batches) < steps + 1:  # several passes when the folder is small
                batches += list(itertools.islice(tr.train_loader, steps + 1 - len(batches)))
            tr.train_step(batches[0])  # warm-up
            n = sum(b.batch_size for b in batches[1:])

            def loop(tr=tr, batches=batches):
                for b in batches[1:]:
                    tr.train_step(b)

            t = cuda_time(loop, repeats=1, warmup=0)
            rows.append(
                {
                    "name": f"train step/{tag}",
                    "value": round(n / t, 1),
                    "unit": "events/s",
                    "steps_per_s": round(steps / t, 2),
                    "backend": tr.attention_backend,
                    "device": device,
                }
            )
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=pathlib.Path, default=HERE / "results" / "gpu.json")
    p.add_argument("--budget-s", type=float, default=480.0)
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: try the script")
    p.add_argument(
        "--encoder-batches", default="256,1024,4096", help="batch sizes of the encoder section"
    )
    p.add_argument(
        "--sections",
        default="environment,tests,encoder,flow,reconstruct,training",
        help="comma-separated subset of the sections, in the order above",
    )
    args = p.parse_args(argv)
    dry = args.dry_run
    device = "cpu" if dry else "cuda"
    if not dry and not torch.cuda.is_available():
        raise SystemExit("gpu_all.py needs CUDA (or --dry-run)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    rows: list[dict] = []
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="gpu_all_"))
    folder = _folder(tmp, 400 if dry else 6000)
    sections: list[tuple[str, Callable[[], list[dict]]]] = [
        ("environment", lambda: environment(device)),
        ("tests", lambda: [] if dry else cuda_tests(args.out.with_suffix(".pytest.log"))),
        (
            "encoder",
            lambda: encoder_rows(
                quick=dry,
                device=device,
                batch_sizes=[32] if dry else [int(v) for v in args.encoder_batches.split(",")],
            ),
        ),
        ("flow", lambda: flow_rows(device, [64] if dry else [1024, 8192])),
        (
            "reconstruct",
            lambda: reconstruct_rows(folder, tmp, device, [64] if dry else [256, 1024, 4096]),
        ),
        ("training", lambda: training_rows(folder, tmp, device, 2 if dry else 20)),
    ]
    wanted = set(args.sections.split(","))
    for name, fn in sections:
        if name not in wanted:
            continue
        elapsed = time.perf_counter() - t_start
        if elapsed > args.budget_s:
            rows.append(
                {
                    "section": name,
                    "name": f"{name}: skipped",
                    "value": None,
                    "unit": "",
                    "reason": f"budget of {args.budget_s:.0f} s spent",
                }
            )
            continue
        t0 = time.perf_counter()
        try:
            new = fn()
        except Exception as err:  # noqa: BLE001 - one section's failure must not hide the rest
            new = [
                {
                    "name": f"{name}: FAILED",
                    "value": f"{type(err).__name__}: {err}",
                    "unit": "",
                    "traceback": traceback.format_exc(),
                }
            ]
        for r in new:
            r.setdefault("section", name)
        rows += new
        print(f"[{name}] {time.perf_counter() - t0:.1f} s", flush=True)
        args.out.write_text(json.dumps(rows, indent=1, default=str) + "\n")
    for r in rows:
        v = r["value"]
        v = f"{v:12.1f}" if isinstance(v, float) else f"{v!s:>12}"
        print(f"{r['section']:<12} {r['name']:<48} {v} {r['unit']}")
    print(f"total {time.perf_counter() - t_start:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
