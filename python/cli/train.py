"""``llp-gap-reco train``: train encoder + flow (or the MSE baseline) on a converted folder."""

from __future__ import annotations

import argparse
import math

from ..training import TrainConfig, load_train_config, train
from . import checks
from .errors import UserError

FOLDER_HINT = "make one with `llp-gap-reco simulate --out DIR` or `llp-gap-reco convert`"


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The training config: ``--config`` (or the defaults) with the command-line overrides."""
    if args.config:
        checks.input_file(args.config, "--config")
    try:
        return load_train_config(
            args.config,
            epochs=args.epochs,
            loss=args.loss,
            max_minutes=args.max_minutes,
            max_steps=args.max_steps,
            val_fraction=args.val_fraction,
            device=args.device,
            seed=args.seed,
            progress=False if args.no_progress else None,
        )
    except (TypeError, ValueError) as err:  # TrainConfig's checks of names and values
        named = (args.config and str(args.config) in str(err)) or str(err).startswith(
            "training config"
        )
        raise UserError(str(err) if named else f"training config: {err}") from err


def run(args: argparse.Namespace) -> int:
    checks.input_folder(args.data, "--data", FOLDER_HINT)
    cfg = config_from_args(args)
    checks.available_device(cfg.device)
    checks.output_folder(args.out)
    result = train(args.data, args.out, cfg, resume=args.resume)
    if result.bundle_path is not None:  # rank 0
        last = result.history[-1] if result.history else {}
        print(
            f"epochs {len(result.history)}  steps {result.global_step}  "
            f"stopped: {result.stopped}  skipped batches {result.skipped_batches}"
        )
        if math.isfinite(result.best_val_loss):
            print(
                f"val loss: initial {result.initial_val_loss:.4f}  best "
                f"{result.best_val_loss:.4f}  last {last.get('val_loss', math.nan):.4f}"
            )
        else:
            print("no validation events (val_fraction 0): the bundle holds the last weights")
        print(f"model bundle: {result.bundle_path}")
    return 0
