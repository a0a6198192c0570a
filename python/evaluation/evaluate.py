"""The evaluation of a trained model on a labeled folder: numbers, figures, report.

For every event: the posterior summary, ``log p(truth)``, and ``coverage_samples`` posterior
samples with their log densities, from which the HDR rank of the truth (see :mod:`.coverage`),
the truth's rank per coordinate (:mod:`.sbc`) and the HDR volumes (:mod:`.volume`); the
coverage in quintiles of event variables (:mod:`.conditional_report`). Optionally a point
baseline (a bundle trained with ``--loss mse``) on the same events.
"""

from __future__ import annotations

import logging
import os
import pathlib
from typing import Optional, Union

import numpy as np

from ..core.status import Status
from ..model.bundle import ModelBundle, load_bundle
from ..model.flow.level_map import hdr_levels
from . import plots
from .collect import collect, posterior_samples
from .conditional_report import conditional_sections
from .coverage import DEFAULT_LEVELS, coverage_curve, threshold_coverage
from .pulls import pull_summary, pulls
from .report import write_report
from .resolution import prior_table, resolution_table, uninformative_models

logger = logging.getLogger(__name__)

__all__ = ["collect", "evaluate", "posterior_samples"]


def _config(part: object) -> Optional[dict]:
    return None if part is None else part.config()  # type: ignore[attr-defined]


def _load(model: Union[str, os.PathLike, ModelBundle], device: str) -> ModelBundle:
    return model if isinstance(model, ModelBundle) else load_bundle(model, device=device)


def evaluate(
    model: Union[str, os.PathLike, ModelBundle],
    data: Union[str, os.PathLike],
    out_dir: Union[str, os.PathLike],
    baseline: Union[None, str, os.PathLike, ModelBundle] = None,
    n_samples: int = 512,
    coverage_samples: int = 1000,
    n_corner: int = 3,
    levels: np.ndarray = DEFAULT_LEVELS,
    seed: int = 0,
    batch_size: int = 256,
    max_events: Optional[int] = None,
    device: str = "cpu",
    progress: bool = True,
) -> dict:
    """Evaluate a flow bundle on a labeled folder and write ``out_dir`` (report.json,
    report.md, PNG figures, arrays.npz). Returns the report dict."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = _load(model, device)
    base = None if baseline is None else _load(baseline, device)
    a = collect(
        bundle,
        data,
        n_samples,
        coverage_samples,
        n_corner,
        seed,
        batch_size,
        max_events,
        base,
        progress,
    )
    ok = a["status"] == int(Status.OK)
    truth, mean, sigma = a["truth"][ok], a["mean"][ok], a["sigma"][ok]

    resolution = {"flow": resolution_table(mean, truth)}
    errors = {"flow": mean - truth}
    if base is not None:
        resolution["mse_baseline"] = resolution_table(a["baseline"][ok], truth)
        errors["mse_baseline"] = a["baseline"][ok] - truth
    ls = bundle.label_standardization
    prior_guess = np.asarray(ls["offset"])[None, :] if ls else truth
    resolution["prior"] = prior_table(truth, prior_guess)
    warnings = [
        f"{name}: median 3D errors no better than the constant guess (the model did not learn; "
        "for a flow with a flat gap-length prior see gap_prior_warmup_steps in training.md)"
        for name in uninformative_models(resolution)
    ]
    for w in warnings:
        logger.warning(w)

    p = pulls(mean, sigma, truth)
    observed, stderr = coverage_curve(a["rank"][ok], levels)
    coverage = {
        "levels": np.asarray(levels),
        "observed": observed,
        "stderr": stderr,
        "summary_68": threshold_coverage(a["logp_truth"][ok], a["t68"][ok]),
        "summary_90": threshold_coverage(a["logp_truth"][ok], a["t90"][ok]),
        "samples_per_event": coverage_samples,
        "base_temperature": float(getattr(bundle.flow, "base_temperature", 1.0)),
        "event_temperature": getattr(bundle.flow, "temperature_weights", None) is not None,
        # the flow's own HDR levels reported as 68% / 90% (its level map; nominal without one)
        "hdr_levels": hdr_levels(bundle.flow),
        # the gap-length tilt of the regions (model.flow.region_tilt); None: the HDR of p itself
        "region_tilt": _config(getattr(bundle.flow, "region_tilt", None)),
        # the hit-DOM term of the event width (model.flow.brightness_width); None: none
        "brightness_width": _config(getattr(bundle.flow, "brightness_width", None)),
    }
    figures = {
        "errors": plots.plot_errors(errors, out_dir / "errors.png").name,
        "pulls": plots.plot_pulls(p, out_dir / "pulls.png").name,
        "coverage": plots.plot_coverage(
            np.asarray(levels), observed, stderr, out_dir / "coverage.png"
        ).name,
    }
    for k, c in enumerate(a["corner"]):
        run, ev = c["id"]
        figures[f"corner_{k}"] = plots.plot_corner(
            c["samples"],
            c["truth"],
            c["mean"],
            out_dir / f"corner_{k}.png",
            title=f"run {run} event {ev}",
        ).name
    cond = conditional_sections(a, ok, data, out_dir, coverage_samples)
    coverage.update(cond["coverage"])
    figures.update(cond["figures"])
    np.savez_compressed(
        out_dir / "arrays.npz",
        **{k: v for k, v in a.items() if k != "corner"},
        **{f"variable_{k}": v for k, v in cond["variables"].items()},
    )
    report = {
        "model": str(bundle.path),
        "baseline": None if base is None else str(base.path),
        "data": str(data),
        "n_events": int(a["status"].shape[0]),
        "n_ok": int(ok.sum()),
        "warnings": warnings,
        "resolution": resolution,
        "resolution_by_n_doms": cond["resolution_by_n_doms"],
        "pulls": pull_summary(p),
        "coverage": coverage,
        "figures": figures,
        "posterior_samples": n_samples,
        "training": {
            **{
                k: bundle.training.get(k)
                for k in ("elapsed_s", "epochs_run", "best_val_loss", "global_step", "calibration")
            },
            # the gap-length prior the flow learned (TrainConfig.gap_prior)
            "gap_prior": "simulated" if bundle.flow_head.gap_prior is None else "flat",
        },
        "baseline_training": None
        if base is None
        else {
            k: (base.training or {}).get(k)
            for k in ("elapsed_s", "epochs_run", "best_val_loss", "global_step")
        },
    }
    write_report(out_dir, report)
    logger.info("evaluation report in %s", out_dir)
    return report
