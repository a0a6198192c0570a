"""``llp-gap-reco quickstart``: the main job on built-in simulated events.

Stages (each output is reused when it is already complete, so a rerun continues):

1. simulate a training and a test folder (converted parquet);
2. train the flow model (``configs/train_quick.yaml``) and the MSE baseline with the same encoder,
   each for the same fixed number of optimiser steps (a per-step cosine LR schedule), so the same
   seed gives the same model whatever the machine's speed or load; ``--max-minutes`` is only a
   safety stop, reported loudly when it ends a training early;
3. reconstruct the test set into ``predictions.parquet``;
4. when icecube is importable: simulate an I3 file and reconstruct it in a real tray;
5. evaluate: resolution table, pulls, coverage curve, posterior corner plots, markdown report.

The expected duration is printed at the start, the report folder's path last.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import pathlib
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ..core.atomic import atomic_write_json
from ..data.parquet import write_simulated_folder
from ..evaluation.evaluate import evaluate
from ..evaluation.predictions import predict_folder
from ..model.bundle import load_bundle
from ..training import TrainConfig, train
from ..training.config import QUICK, load_train_config
from ..training.ddp import resolve_device
from . import checks

logger = logging.getLogger(__name__)

#: optimiser steps of each model (flow and MSE baseline) in the default quickstart
DEFAULT_STEPS = 4000
#: step rates of the quick model on an idle 2-core CPU (steps/s, batch 32, validation passes
#: included), the two trainings side by side on one torch thread each, for the expected
#: duration printed at the start (the run itself never depends on them)
STEPS_PER_S = {"flow": 9.0, "mse": 12.5}
#: seconds of the flow's calibration after its training (width per event and temperature ~45 s,
#: region tilt ~25 s, brightness width ~25 s)
CALIBRATION_S = 100.0
#: seconds per 1,000 events of the other stages on the same CPU: simulate (two processes) and
#: the test stages (predict, the tray, evaluate)
OTHER_S_PER_1000_EVENTS = {"simulate": 2.5, "test": 25.0}


#: processes that simulate the folders (the folders do not depend on it)
SIMULATION_WORKERS = 2


def _complete_folder(path: pathlib.Path) -> bool:
    man = path / "manifest.json"
    return man.exists() and bool(json.loads(man.read_text()).get("complete"))


def _stage(name: str) -> None:
    print(f"\n== {name}", flush=True)


def _simulate(out: pathlib.Path, args: argparse.Namespace) -> tuple[pathlib.Path, pathlib.Path]:

    folders = {"train": (args.train_events, args.seed), "test": (args.test_events, args.seed + 1)}
    for name, (n, seed) in folders.items():
        path = out / "data" / name
        if _complete_folder(path):
            print(f"{path}: complete, reused")
            continue
        per_file = max(25, min(1000, n // 20))  # >= 20 files: room for a validation split
        write_simulated_folder(
            str(path),
            n,
            seed=seed,
            events_per_file=per_file,
            resume=True,
            run_id=seed,
            progress=True,
            workers=SIMULATION_WORKERS,
        )
    return out / "data" / "train", out / "data" / "test"


def _train_models(
    data: pathlib.Path, out: pathlib.Path, args: argparse.Namespace, device: str
) -> dict[str, tuple[pathlib.Path, dict[str, Any]]]:
    """The flow model and the MSE baseline: ``{loss: (bundle, what it got)}``.

    On CPU the two train side by side in two processes of one torch thread each, so each model
    is bit-identical on any CPU with the same torch build; on a GPU one after the other.
    """
    runs = {loss: out / "runs" / loss for loss in ("flow", "mse")}
    if device != "cpu":
        return {loss: _train(data, run, args, device, loss) for loss, run in runs.items()}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(runs), mp_context=context) as pool:
        futures = {
            loss: pool.submit(_train_on_one_thread, data, run, args, loss, loss == "flow")
            for loss, run in runs.items()
        }
        return {loss: future.result() for loss, future in futures.items()}


def _train_on_one_thread(
    data: pathlib.Path, run: pathlib.Path, args: argparse.Namespace, loss: str, progress: bool
) -> tuple[pathlib.Path, dict[str, Any]]:
    """:func:`_train` on CPU with one torch thread (a worker process of :func:`_train_models`;
    only the flow's worker shows a progress bar)."""
    import torch

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    return _train(data, run, args, "cpu", loss, progress=progress)


def _train(
    data: pathlib.Path,
    run: pathlib.Path,
    args: argparse.Namespace,
    device: str,
    loss: str,
    progress: bool = True,
) -> tuple[pathlib.Path, dict[str, Any]]:
    """Train one model for ``args.steps`` steps; returns its bundle and what it got."""

    model, record_path = run / "model.pt", run / "quickstart_budget.json"
    if model.exists() and record_path.exists():
        print(f"{model}: exists, reused")
        return model, json.loads(record_path.read_text())
    cfg = quick_config(
        device=device,
        seed=args.seed,
        loss=loss,
        progress=progress,
        **step_budget(args.steps, args.max_minutes),
    )
    t0 = time.perf_counter()
    result = train(data, run, cfg, resume=(run / "checkpoints").exists())
    record = {
        "loss": loss,
        "steps_requested": args.steps,
        "steps_done": result.global_step,
        "stopped": result.stopped,
        "seconds": round(time.perf_counter() - t0, 1),
        "safety_stop_minutes": args.max_minutes,
        "safety_stop_triggered": result.stopped == "budget" and result.global_step < args.steps,
    }
    atomic_write_json(record_path, record)
    print(
        f"{loss} model: best validation loss {result.best_val_loss:.4f} after "
        f"{result.global_step} of {args.steps} steps ({result.stopped}, "
        f"{record['seconds']:.0f} s)"
    )
    if record["safety_stop_triggered"]:
        banner = "!" * 78
        print(
            f"{banner}\nWARNING: the {args.max_minutes:g}-minute safety stop ended the {loss} "
            f"training after {result.global_step} of {args.steps} steps: this machine is "
            f"slower or busier than expected, and the model is NOT the one the same seed gives "
            f"elsewhere. Rerun with a larger --max-minutes for the reproducible model.\n"
            f"{banner}",
            flush=True,
        )
        logger.warning(
            "%s training stopped by the safety limit after %d of %d steps",
            loss,
            result.global_step,
            args.steps,
        )
    if result.bundle_path is None:  # only a DDP rank other than 0 writes no bundle
        raise RuntimeError(f"{loss} training wrote no model bundle")
    return pathlib.Path(result.bundle_path), record


def step_budget(steps: int, max_minutes: float) -> dict[str, Any]:
    """Training-config overrides of a fixed step budget: ``max_steps``, a per-step cosine LR
    over exactly those steps, no early stopping and enough epochs; ``max_minutes`` is a safety
    stop only (the LR never depends on elapsed time)."""
    return {
        "max_steps": int(steps),
        "scheduler": "cosine",
        "epochs": 10_000,
        "early_stopping_patience": 0,
        "max_minutes": float(max_minutes),
    }


def expected_minutes(args: argparse.Namespace) -> float:
    """Expected duration of the whole run on an idle 2-core CPU (minutes)."""
    train_s = max(args.steps / rate for rate in STEPS_PER_S.values()) + CALIBRATION_S
    other_s = (
        OTHER_S_PER_1000_EVENTS["simulate"] * (args.train_events + args.test_events)
        + OTHER_S_PER_1000_EVENTS["test"] * (args.test_events + args.i3_events)
    ) / 1000
    return (train_s + other_s) / 60


def quick_config(**overrides: Any) -> TrainConfig:
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
    # uncompressed output: i3.tray.reconstruct_files writes through "<name>.part", and I3Writer
    # picks the compression from the name it is given, so a ".zst" name would hold plain I3
    infile, outfile = out / "i3" / "simulated.i3.zst", out / "i3" / "reconstructed.i3.zst"
    if outfile.exists():
        print(f"{outfile}: exists, reused")
        return
    if not infile.exists():
        write_simulated_i3(str(infile), n_events, seed=seed + 2, run_id=seed + 2)
    seconds = reconstruct_files([infile], outfile, model, SubEventStream="InIceSplit")
    print(
        f"{outfile}: {n_events} events through I3Reader -> LLPGapReco -> I3Writer in "
        f"{seconds:.1f} s"
    )


def run(args: argparse.Namespace) -> int:

    t_start = time.perf_counter()
    device = str(resolve_device(checks.available_device(args.device)))
    checks.output_folder(args.out)
    out = pathlib.Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"quickstart: {args.train_events:,} training and {args.test_events:,} test events, "
        f"{args.steps:,} optimiser steps for each model; expected duration about "
        f"{expected_minutes(args):.1f} min on an idle 2-core CPU (safety stop: "
        f"{args.max_minutes:g} min per training)",
        flush=True,
    )

    _stage("1/5 simulate training and test events")
    train_dir, test_dir = _simulate(out, args)

    _stage(f"2/5 train the flow model and the MSE baseline ({args.steps:,} steps each)")
    trained = _train_models(train_dir, out, args, device)
    (model, flow_budget), (baseline, mse_budget) = trained["flow"], trained["mse"]

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
    # what each model got, beside the numbers it produced
    report = json.loads((report_dir / "report.json").read_text())
    report["training_budget"] = {"flow": flow_budget, "mse_baseline": mse_budget}
    atomic_write_json(report_dir / "report.json", report, indent=2)

    shutil.copy2(model, report_dir / "model.pt")
    _print_headline(rep)
    print(f"\nfinished in {(time.perf_counter() - t_start) / 60:.1f} min")
    print(f"report: {report_dir}")
    sys.stdout.flush()
    return 0


def _print_headline(rep: dict) -> None:
    try:
        cov = rep["coverage"]
        print(
            f"coverage of the 68% / 90% regions: {100 * cov['summary_68']:.1f}% / "
            f"{100 * cov['summary_90']:.1f}%"
        )
    except (KeyError, TypeError):
        pass
