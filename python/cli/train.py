"""``llp-gap-reco train``: train encoder + flow (or the MSE baseline) on a converted folder."""

from __future__ import annotations

import argparse

from ..training import load_train_config, train


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a model on a converted folder",
        description="Train the transformer encoder and conditional flow on a converted parquet "
        "folder; leaves RUN_DIR/model.pt (the bundle), metrics.csv and checkpoints. Under "
        "torchrun the same command trains with DDP (each rank reads its own files).")
    p.add_argument("--data", required=True, help="converted folder with truth")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--config", default=None,
                   help="training YAML (configs/train_default.yaml, configs/train_quick.yaml)")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    p.add_argument("--resume", action="store_true",
                   help="continue from RUN_DIR/checkpoints/last.pt")
    p.add_argument("--loss", choices=("flow", "mse"), default=None,
                   help="flow: -log p (default); mse: point baseline for the evaluation report")
    p.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    cfg = load_train_config(args.config, epochs=args.epochs, loss=args.loss,
                            max_minutes=args.max_minutes, device=args.device, seed=args.seed,
                            progress=False if args.no_progress else None)
    result = train(args.data, args.out, cfg, resume=args.resume)
    if result.bundle_path is not None:  # rank 0
        last = result.history[-1] if result.history else {}
        print(f"epochs {len(result.history)}  steps {result.global_step}  "
              f"stopped: {result.stopped}  skipped batches {result.skipped_batches}")
        print(f"val loss: initial {result.initial_val_loss:.4f}  best {result.best_val_loss:.4f}"
              f"  last {last.get('val_loss', float('nan')):.4f}")
        print(f"model bundle: {result.bundle_path}")
    return 0
