"""The argument parsers of every ``llp-gap-reco`` subcommand, without their implementations.

This module imports nothing heavy (no torch, numpy or pyarrow), so ``llp-gap-reco --help`` and
``llp-gap-reco COMMAND --help`` stay fast; :mod:`.main` imports the one implementation module
the command line chose (``args.module``). Values are checked here as far as argparse can (counts,
fractions, device names); paths are checked by the implementation before any long work.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any, Callable, NoReturn, Optional, Sequence

from ..core.version import __version__

PROG = "llp-gap-reco"

#: subcommand -> implementation module inside :mod:`llp_gap_reco.cli`, in ``--help`` order
SUBCOMMANDS = {
    "simulate": "simulate",
    "features": "features",
    "convert": "convert",
    "train": "train",
    "predict": "predict",
    "evaluate": "evaluate",
    "import-seed": "import_seed",
    "export-seed": "export_seed",
    "calibrate": "calibrate",
    "quickstart": "quickstart",
    "bench": "bench",
}

#: ``data.simulation.KINDS``, ``data.parquet.format.DEFAULT_EVENTS_PER_FILE`` and
#: ``data.features.convention.CONVENTIONS`` / ``ORIGINAL`` (not imported here: they pull in
#: numpy and torch; tests/test_cli_errors.py checks they agree)
SIMULATION_KINDS = ("signal", "background")
DEFAULT_EVENTS_PER_FILE = 1000
CONVENTIONS = ("package", "original")
ORIGINAL_CONVENTION = "original"
#: ``cli.quickstart.DEFAULT_STEPS``
QUICKSTART_STEPS = 8000

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line: ``PROG CMD: error: ...`` (exit 2)."""

    #: subcommand name -> its parser (on the top-level parser)
    commands: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(  # type: ignore[override]
        self, args: Optional[Sequence[str]] = None, namespace: Optional[argparse.Namespace] = None
    ) -> argparse.Namespace:
        """As ``ArgumentParser.parse_args``; unknown arguments are reported by the subcommand."""
        ns, extra = self.parse_known_args(args, namespace)
        if extra:
            target = getattr(self, "commands", {}).get(getattr(ns, "command", None), self)
            target.error(f"unrecognized arguments: {' '.join(extra)}")
        return ns


def _number(
    kind: Callable[[str], Any], ok: Callable[[Any], bool], rule: str
) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {rule}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value

    parse.__name__ = rule  # argparse names the type in some messages
    return parse


count = _number(int, lambda v: v >= 0, "an integer >= 0")
positive = _number(int, lambda v: v >= 1, "an integer >= 1")
minutes = _number(float, lambda v: v > 0, "a number of minutes > 0")
fraction = _number(float, lambda v: 0 <= v < 1, "a fraction in [0, 1)")


def device(text: str) -> str:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda, cuda:N or mps, got {text!r}")
    return text


def _command(sub: argparse._SubParsersAction, name: str, **kw: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(name, **kw)
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of an error",
    )
    p.set_defaults(module=SUBCOMMANDS[name])
    return p


def build_parser() -> argparse.ArgumentParser:
    """The ``llp-gap-reco`` parser with every subcommand."""
    parser = Parser(
        prog=PROG,
        description="LLP production/decay vertex reconstruction with an event-by-event posterior.",
    )
    parser.add_argument("--version", action="version", version=f"llp_gap_reco {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="-v: info logging, -vv: debug logging"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error (also after the subcommand)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _simulate,
        _features,
        _convert,
        _train,
        _predict,
        _evaluate,
        _import_seed,
        _export_seed,
        _calibrate,
        _quickstart,
        _bench,
    ):
        add(sub)
    parser.commands = dict(sub.choices)
    return parser


def add_simulation_arguments(p: argparse.ArgumentParser, default_events: int = 1000) -> None:
    """Options that choose the simulated events (``simulate`` and ``features``)."""
    p.add_argument(
        "--events",
        type=count,
        default=default_events,
        help=f"number of events (default {default_events})",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--kind", choices=SIMULATION_KINDS, default="signal", help="signal (LLP) or background"
    )
    p.add_argument("--run-id", type=int, default=0, help="run id of the events (default 0)")
    p.add_argument(
        "--geometry",
        default=None,
        help="DOM table (parquet/CSV: string, om, x, y, z); default: generated IceCube-86-like",
    )


def _simulate(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "simulate",
        help="simulate IceCube-like LLP gap events",
        description="Simulate LLP gap events (or plain muons) and print a summary: hit "
        "DOMs, bright tail, total-charge range, time span, speed.",
    )
    add_simulation_arguments(p)
    p.add_argument(
        "--config",
        dest="sim_config",
        default=None,
        metavar="YAML",
        help="simulation config (SimulationConfig fields; the defaults are "
        "configs/simulation.yaml)",
    )
    g = p.add_argument_group("converted parquet output")
    g.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="write the events (features, truth) as a converted parquet folder",
    )
    g.add_argument(
        "--events-per-file",
        type=positive,
        default=DEFAULT_EVENTS_PER_FILE,
        metavar="K",
        help=f"events per data file (default {DEFAULT_EVENTS_PER_FILE})",
    )
    g.add_argument(
        "--feature-config",
        default=None,
        metavar="YAML",
        help="feature configuration (default: the package default)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted --out folder after its last complete file",
    )
    i = p.add_argument_group("I3 output (needs icecube)")
    i.add_argument(
        "--i3",
        default=None,
        metavar="FILE",
        help="write a real I3 file (.i3, .i3.gz, .i3.zst): G, C, D frames, then Q and "
        "P frames (InIceSplit with pulses and LLPInfo, plus a NullSplit P frame)",
    )
    i.add_argument("--pulse-key", default="SplitInIcePulses", help="pulse map key in P frames")


def _features(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "features",
        help="print the per-DOM feature columns and their statistics on simulated events",
        description="Build the per-DOM features of a configuration (default: the "
        "package default) on simulated events and print names, groups and per-column "
        "statistics.",
    )
    p.add_argument("--config", default=None, help="feature configuration YAML")
    add_simulation_arguments(p, default_events=200)


def _convert(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "convert",
        help="convert I3 files to the parquet training format",
        description="Compute per-DOM features of the P frames of I3 files and write a "
        "converted parquet folder (resumes an interrupted folder). Needs icecube.",
    )
    p.add_argument("--gcd", default=None, help="GCD file (omit when the inputs hold G frames)")
    p.add_argument(
        "--geometry-table",
        default=None,
        help="geometry table for inputs without GCD (e.g. graphnet's icecube86.parquet)",
    )
    p.add_argument("-i", "--input", nargs="+", required=True, help="I3 data files")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--pulses", default=None, help="pulse key (default: the feature config's)")
    p.add_argument("--feature-config", default=None, help="feature config YAML")
    p.add_argument(
        "--model",
        default=None,
        help="model bundle: compute the features in its own config and input "
        "convention (instead of --feature-config)",
    )
    p.add_argument("--events-per-file", type=positive, default=DEFAULT_EVENTS_PER_FILE)
    p.add_argument(
        "--sub-event-stream", default="InIceSplit", help="sub-event stream to convert ('' for all)"
    )


def _train(sub: argparse._SubParsersAction) -> None:
    p = _command(
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


def _predict(sub: argparse._SubParsersAction) -> None:
    p = _command(
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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=positive, default=256)
    p.add_argument("--device", type=device, default="cpu")
    p.add_argument("--no-progress", action="store_true")


def _evaluate(sub: argparse._SubParsersAction) -> None:
    p = _command(
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
    p.add_argument("--batch-size", type=positive, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", type=device, default="cpu")
    p.add_argument("--no-progress", action="store_true")


def _import_seed(sub: argparse._SubParsersAction) -> None:
    p = _command(
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


def _export_seed(sub: argparse._SubParsersAction) -> None:
    p = _command(
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


def _calibrate(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "calibrate",
        help="fit the posterior width (base temperature) of a model",
        description="Fit the flow's base temperature T on a labeled folder the model "
        "was not trained on (least squares of the HDR coverage at 0.1..0.9) and write a "
        "new bundle. `train` does this on its validation events already; use this for "
        "imported models.",
    )
    p.add_argument("--model", required=True, help="model bundle (.pt) with a flow")
    p.add_argument("--data", required=True, help="labeled converted folder (not trained on)")
    p.add_argument("--out", required=True, help="calibrated bundle to write")
    p.add_argument("--max-events", type=positive, default=4000)
    p.add_argument("--samples", type=positive, default=256, help="posterior samples per event")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", type=device, default="cpu")


def _quickstart(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "quickstart",
        help="simulate, train, reconstruct and evaluate (main job)",
        description="The main job on built-in simulated events: simulate a training "
        "and a test folder, train the flow model and an MSE baseline, reconstruct the "
        "test set (and an I3 file in a tray when icecube is importable), evaluate. "
        "Complete stages are reused, so a rerun continues; the report folder's path is "
        "printed last.",
    )
    p.add_argument("--out", default="quickstart_output", help="working folder")
    p.add_argument("--train-events", type=positive, default=30000)
    p.add_argument("--test-events", type=positive, default=2000)
    p.add_argument(
        "--steps",
        type=positive,
        default=QUICKSTART_STEPS,
        help="optimiser steps of the flow model and of the MSE baseline (each; "
        f"default {QUICKSTART_STEPS})",
    )
    p.add_argument(
        "--max-minutes",
        type=minutes,
        default=5.5,
        help="safety stop: wall-clock limit of each training (reported loudly when "
        "it triggers; the step count is the budget)",
    )
    p.add_argument("--device", type=device, default="auto", help="auto, cpu or cuda")
    p.add_argument(
        "--i3-events",
        type=count,
        default=300,
        help="events of the I3 file reconstructed in a tray (0: skip)",
    )
    p.add_argument("--seed", type=int, default=1)


def _bench(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "bench",
        help="run the CPU benchmark suite (source checkout)",
        description="Runs benchmarks/run_all.py: one table, JSON in benchmarks/results/.",
    )
    p.add_argument("--quick", action="store_true", help="smaller sizes")
    p.add_argument("--only", default=None, help="comma-separated topics")


def print_error(command: str, message: str) -> None:
    """``llp-gap-reco COMMAND: error: MESSAGE`` on stderr (one line)."""
    print(f"{PROG} {command}: error: {' '.join(str(message).split())}", file=sys.stderr)
