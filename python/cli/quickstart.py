"""``llp-gap-reco quickstart``: the main job on built-in simulated events.

Stages (each output is reused when it is already complete, so a rerun continues):

1. simulate a training and a test folder (converted parquet);
2. train the flow model (``configs/train_quick.yaml``) for a few minutes, and the MSE baseline
   with the same encoder;
3. reconstruct the test set into ``predictions.parquet``;
4. when icecube is importable: simulate an I3 file and reconstruct it in a real tray;
5. evaluate: resolution table, pulls, coverage curve, posterior corner plots, markdown report.

The report folder's path is printed last.
"""

from __future__ import annotations

import argparse
import json
import logging
import pathlib
import shutil
import sys
import time

from ..data.parquet import write_simulated_folder
from ..evaluation.evaluate import evaluate
from ..evaluation.predictions import predict_folder
from ..model.bundle import load_bundle
from ..training import train
from ..training.config import QUICK, load_train_config
from ..training.ddp import resolve_device
from . import checks

logger = logging.getLogger(__name__)


def _complete_folder(path: pathlib.Path) -> bool:
    man = path / "manifest.json"
    return man.exists() and bool(json.loads(man.read_text()).get("complete"))


def _stage(name: str) -> None:
    print(f"\n== {name}", flush=True)


def _simulate(out: pathlib.Path, args) -> tuple[pathlib.Path, pathlib.Path]:

    folders = {"train": (args.train_events, args.seed), "test": (args.test_events, args.seed + 1)}
    for name, (n, seed) in folders.items():
        path = out / "data" / name
        if _complete_folder(path):
            print(f"{path}: complete, reused")
            continue
        per_file = max(25, min(1000, n // 20))  # >= 20 files: room for a validation split
        write_simulated_folder(str(path), n, seed=seed, events_per_file=per_file, resume=True,
                               run_id=seed, progress=True)
    return out / "data" / "train", out / "data" / "test"


def _train(data: pathlib.Path, run: pathlib.Path, minutes: float, device: str, seed: int,
           loss: str) -> pathlib.Path:

    model = run / "model.pt"
    if model.exists():
        print(f"{model}: exists, reused")
        return model
    cfg = quick_config(max_minutes=minutes, device=device, seed=seed, loss=loss)
    result = train(data, run, cfg, resume=(run / "checkpoints").exists())
    print(f"{loss} model: best validation loss {result.best_val_loss:.4f} after "
          f"{result.global_step} steps ({result.stopped})")
    return model  # the bundle train wrote (one process: always rank 0)


def quick_config(**overrides):
    """``configs/train_quick.yaml`` (its Python mirror when installed without configs/)."""

    path = pathlib.Path(__file__).resolve().parents[2] / "configs" / "train_quick.yaml"
    if path.exists():
        return load_train_config(path, **overrides)
    return load_train_config(None, **{**QUICK, **overrides})


def _i3(out: pathlib.Path, model: pathlib.Path, n_events: int, seed: int) -> None:
    try:
        # the tray stage needs icecube, an optional dependency
        from ..i3.simulated_i3 import write_simulated_i3
        from ..i3.tray import reconstruct_files
    except ImportError:
        print("icecube is not importable here: skipping the I3 tray stage")
        return
    (out / "i3").mkdir(parents=True, exist_ok=True)
    infile, outfile = out / "i3" / "simulated.i3.zst", out / "i3" / "reconstructed.i3.zst"
    if outfile.exists():
        print(f"{outfile}: exists, reused")
        return
    if not infile.exists():
        write_simulated_i3(str(infile), n_events, seed=seed + 2, run_id=seed + 2)
    seconds = reconstruct_files([infile], outfile, model, SubEventStream="InIceSplit")
    print(f"{outfile}: {n_events} events through I3Reader -> LLPGapReco -> I3Writer in "
          f"{seconds:.1f} s")


def run(args: argparse.Namespace) -> int:

    t_start = time.perf_counter()
    device = str(resolve_device(checks.available_device(args.device)))
    checks.output_folder(args.out)
    out = pathlib.Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    _stage("1/5 simulate training and test events")
    train_dir, test_dir = _simulate(out, args)

    _stage(f"2/5 train the flow model ({args.minutes:g} min budget) and the MSE baseline")
    model = _train(train_dir, out / "runs" / "flow", args.minutes, device, args.seed, "flow")
    baseline = _train(train_dir, out / "runs" / "mse", args.minutes / 3, device, args.seed,
                      "mse")

    _stage("3/5 reconstruct the test set")

    preds = out / "predictions.parquet"
    if not preds.exists():
        predict_folder(load_bundle(model, device=device), test_dir, preds)
    print(f"{preds}")

    _stage("4/5 reconstruct an I3 file in a tray")
    if args.i3_events > 0:
        _i3(out, model, args.i3_events, args.seed)

    _stage("5/5 evaluate")
    report_dir = out / "report"
    rep = evaluate(model, test_dir, report_dir, baseline=baseline, device=device)

    shutil.copy2(model, report_dir / "model.pt")
    _print_headline(rep)
    print(f"\nfinished in {(time.perf_counter() - t_start) / 60:.1f} min")
    print(f"report: {report_dir}")
    sys.stdout.flush()
    return 0


def _print_headline(rep: dict) -> None:
    try:
        cov = rep["coverage"]
        print(f"coverage of the 68% / 90% regions: {100 * cov['summary_68']:.1f}% / "
              f"{100 * cov['summary_90']:.1f}%")
    except (KeyError, TypeError):
        pass
