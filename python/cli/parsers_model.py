"""Parsers of the model subcommands (train, predict, evaluate, import-seed, export-seed,
calibrate), without their implementations; see :mod:`.parsers`."""

from __future__ import annotations

import argparse

from .arguments import (
    CONVENTIONS,
    ORIGINAL_CONVENTION,
    command,
    count,
    device,
    fraction,
    minutes,
    positive,
)


def add_train(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "train",
        help="train a model on a converted folder",
        description="Train the transformer encoder and conditional flow on a converted "
        "parquet folder; leaves RUN_DIR/model.pt (the bundle), metrics.csv and "
        "checkpoints. Under torchrun the same command trains with DDP (each rank reads "
        "its own files).",
    )
    p.add_argument("--data", required=True, help="converted folder with truth")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument(
        "--config",
        default=None,
        help="training YAML (configs/train_default.yaml, configs/train_quick.yaml)",
    )
    p.add_argument("--epochs", type=positive, default=None, help="override the number of epochs")
    p.add_argument(
        "--resume", action="store_true", help="continue from RUN_DIR/checkpoints/last.pt"
    )
    p.add_argument(
        "--loss",
        choices=("flow", "mse"),
        default=None,
        help="flow: -log p (default); mse: point baseline for the evaluation report",
    )
    p.add_argument("--max-minutes", type=minutes, default=None, help="wall-clock budget")
    p.add_argument("--max-steps", type=positive, default=None, help="optimiser step budget")
    p.add_argument(
        "--val-fraction",
        type=fraction,
        default=None,
        help="share held out for validation (by files; by events when the folder "
        "has too few files); 0: no validation, no early stopping, no calibration",
    )
    p.add_argument("--device", type=device, default=None, help="auto (default), cpu, cuda")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_inference_options(p: argparse.ArgumentParser) -> None:
    """Options of the commands that run a model over a folder (predict, evaluate)."""
    p.add_argument("--batch-size", type=positive, default=256, help="events per model call")
    p.add_argument("--seed", type=int, default=0, help="seed of the posterior samples")
    p.add_argument("--device", type=device, default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_predict(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "predict",
        help="posterior summaries of a converted folder -> parquet",
        description="Reconstruct every event of a converted folder with a model bundle "
        "and write one parquet row per event (means, sigmas, covariance, gap length, "
        "HDR thresholds, status; truth and log p(truth) when the folder has truth).",
    )
    p.add_argument("--model", required=True, help="model bundle (.pt)")
    p.add_argument("--data", required=True, help="converted folder")
    p.add_argument("--out", required=True, help="output parquet file")
    p.add_argument("--samples", type=positive, default=512, help="posterior samples per event")
    add_inference_options(p)


def add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "evaluate",
        help="evaluation report of a model on a labeled folder",
        description="Resolution table, pulls, HDR coverage curve and corner plots; "
        "writes REPORT_DIR/report.md, report.json, PNG figures and arrays.npz.",
    )
    p.add_argument("--model", required=True, help="model bundle (.pt) with a flow")
    p.add_argument("--data", required=True, help="labeled converted folder (held-out events)")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument(
        "--baseline",
        default=None,
        help="bundle trained with `train --loss mse` (same encoder), for comparison",
    )
    p.add_argument("--samples", type=positive, default=512, help="QMC samples for the summary")
    p.add_argument(
        "--coverage-samples",
        type=positive,
        default=1000,
        help="posterior samples per event for the coverage curve",
    )
    p.add_argument("--corner", type=count, default=3, help="events with a corner plot")
    p.add_argument("--max-events", type=positive, default=None)
    add_inference_options(p)


def add_import_seed(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "import-seed",
        help="bundle an original trained model (settings, state dicts)",
        description="Build a model bundle from the original code's artefacts so an "
        "existing trained model runs in this package unchanged (state dicts load "
        "strictly; features are computed in the original convention, TotalCharge = "
        "log(1 + log(1 + Q))).",
    )
    p.add_argument(
        "--settings",
        required=True,
        help="original model YAML: 'settings' and, for a flow model, 'flow: {flow_str: ...}'",
    )
    p.add_argument("--encoder-state", required=True, help="encoder state dict (.pth)")
    p.add_argument(
        "--flow-state",
        default=None,
        help="flow state dict (flow_best.pth); omit for an encoder-only model "
        "(no 'flow' section, output_dim: 6), which becomes a point bundle",
    )
    p.add_argument("--normalization", required=True, help="normalization_args.yaml")
    p.add_argument("--feature-indices", required=True, help="feature_indices.yaml")
    p.add_argument(
        "--feature-config",
        default=None,
        help="feature config YAML the data was converted with (an original "
        "feature_configs.py entry works as it is; default: its llp_no_percentile)",
    )
    p.add_argument(
        "--convention",
        choices=CONVENTIONS,
        default=ORIGINAL_CONVENTION,
        help="input convention the model was trained in (default: original)",
    )
    p.add_argument(
        "--target-scaled",
        action="store_true",
        help="the model was trained on labels multiplied by the position scale "
        "(original normalize_target=True)",
    )
    p.add_argument("--out", required=True, help="bundle to write (.pt)")


def add_export_seed(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "export-seed",
        help="write a model as the original code's files",
        description="Write a model bundle as the original research code's file set "
        "(model_settings.yaml with 'settings' and 'flow', model_best.pth, "
        "flow_best.pth, normalization_args.yaml, feature_indices.yaml, "
        "feature_config.yaml) so that code loads and runs it. Models it cannot express "
        "are refused with the reason.",
    )
    p.add_argument("--model", required=True, help="model bundle (.pt)")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument(
        "--drop-calibration",
        action="store_true",
        help="export a calibrated flow with its base temperature reset to 1 (the "
        "original flow has no temperature)",
    )


def add_calibrate(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "calibrate",
        help="fit the posterior width (base temperature) of a model",
        description="Fit the flow's posterior width on a labeled folder the model was not "
        "trained on and write a new bundle: a width per event from its encoding (maximum "
        "likelihood of the truths), then the base temperature T on top (least squares of "
        "the HDR coverage at 68% and 90%). `train` does this on its validation events already; "
        "use this for imported models.",
    )
    p.add_argument("--model", required=True, help="model bundle (.pt) with a flow")
    p.add_argument("--data", required=True, help="labeled converted folder (not trained on)")
    p.add_argument("--out", required=True, help="calibrated bundle to write")
    p.add_argument("--max-events", type=positive, default=4000)
    p.add_argument("--samples", type=positive, default=256, help="posterior samples per event")
    p.add_argument(
        "--global-only",
        action="store_true",
        help="one base temperature for all events (no event-dependent width)",
    )
    p.add_argument(
        "--no-level-map",
        action="store_true",
        help="report the flow's own HDR at each level (no map from nominal to HDR levels)",
    )
    p.add_argument(
        "--no-region-tilt",
        action="store_true",
        help="regions of the posterior itself (no gap-length tilt fitted on the true gap lengths)",
    )
    p.add_argument(
        "--no-brightness-width",
        action="store_true",
        help="event width from the maximum-likelihood fit alone (no term in the number of hit "
        "DOMs fitted for the coverage per hit-DOM quintile)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", type=device, default="cpu")
