"""Training and bulk-inference speed on CPU with the quick model (configs/train_quick.yaml).

Rows: optimiser steps of encoder + float64 gggggt flow (events/s, wall and per CPU-second of
this process, which is robust against other load on a shared machine), the same with a float32
flow, posterior reconstruction through a bundle (encode + 512-point QMC summary, events/s),
``predict`` end to end (parquet, events/s) and an atomic checkpoint write (ms, MB).

    python benchmarks/bench_training.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import tempfile
import time

import torch
from _common import run_stamp, stamp_rows
from llp_gap_reco.bundle import save_bundle
from llp_gap_reco.dataset import LoaderConfig, PackedLoader, write_simulated_folder
from llp_gap_reco.evaluation.predictions import predict_folder
from llp_gap_reco.training import Trainer
from llp_gap_reco.training.config import QUICK, TrainConfig

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "training.json"


def _timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def _train_rows(folder: str, out: pathlib.Path, flow_dtype: str, steps: int) -> list[dict]:
    cfg = TrainConfig.from_dict(
        dict(QUICK, progress=False, flow_dtype=flow_dtype, max_minutes=None, init_labels=500)
    )
    trainer = Trainer(folder, out, cfg)
    batches = [b for _, b in zip(range(steps + 2), trainer.train_loader)]
    for b in batches[:2]:  # warm-up
        trainer.train_step(b)
    n = sum(b.batch_size for b in batches[2:])

    def loop():
        for b in batches[2:]:
            trainer.train_step(b)

    wall, cpu = _timed(loop)
    ctx = {
        "batch_size": cfg.batch_size,
        "steps": len(batches) - 2,
        "flow_dtype": flow_dtype,
        "threads": torch.get_num_threads(),
        "backend": trainer.attention_backend,
    }
    rows = [
        {
            "name": f"train step, quick model, {flow_dtype} flow",
            "value": n / wall,
            "unit": "events/s",
            **ctx,
        },
        {
            "name": f"train step, quick model, {flow_dtype} flow (per CPU-second)",
            "value": n / cpu,
            "unit": "events/CPU-s",
            **ctx,
        },
    ]
    if flow_dtype == "float64":
        w, _ = _timed(lambda: trainer.save_checkpoint("bench"))
        size = (out / "checkpoints" / "bench.pt").stat().st_size / 2**20
        rows.append(
            {"name": "atomic checkpoint write", "value": 1e3 * w, "unit": "ms", "size_MB": size}
        )
        from llp_gap_reco.bundle import ModelBundle

        m = trainer.model.eval()
        bundle = ModelBundle(
            m.encoder,
            m.head,
            "flow",
            trainer.feature_config,
            trainer.feature_indices,
            trainer.normalization,
            {},
        )
        path = save_bundle(bundle, out / "model.pt")
        rows += _inference_rows(folder, bundle, out)
        rows[-1]["bundle"] = str(path.name)
    return rows


def _inference_rows(folder: str, bundle, out: pathlib.Path) -> list[dict]:
    loader = PackedLoader(
        folder, LoaderConfig(batch_size=256, shuffle=False), bundle.normalization, targets=False
    )
    batches = list(loader)
    n = sum(b.batch_size for b in batches)
    bundle.reconstruct(batches[0], n_samples=512)  # warm-up

    def rec():
        for b in batches:
            bundle.reconstruct(b, n_samples=512)

    wall, cpu = _timed(rec)
    pw, _ = _timed(lambda: predict_folder(bundle, folder, out / "preds.parquet", progress=False))
    return [
        {
            "name": "reconstruct (encode + 512-point summary)",
            "value": n / wall,
            "unit": "events/s",
            "events": n,
        },
        {"name": "reconstruct (per CPU-second)", "value": n / cpu, "unit": "events/CPU-s"},
        {"name": "predict to parquet, end to end", "value": n / pw, "unit": "events/s"},
    ]


def run(quick: bool = False) -> list[dict]:
    n_events, steps = (600, 6) if quick else (3000, 30)
    with tempfile.TemporaryDirectory() as tmp:
        folder = str(pathlib.Path(tmp) / "sim")
        write_simulated_folder(folder, n_events, seed=7, events_per_file=300, progress=False)
        rows = _train_rows(folder, pathlib.Path(tmp) / "run64", "float64", steps)
        rows += _train_rows(folder, pathlib.Path(tmp) / "run32", "float32", steps)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    rows = run(quick=args.quick)
    for r in rows:
        print(f"{r['name']:<55s} {r['value']:>10.1f} {r['unit']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"rows": stamp_rows(rows, *run_stamp()), "quick": args.quick}, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
