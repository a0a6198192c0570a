"""The evaluation of a trained model on a labeled folder: numbers, figures, report.

For every event: the posterior summary, ``log p(truth)``, and ``coverage_samples`` posterior
samples with their log densities, from which the HDR rank of the truth (see :mod:`.coverage`).
Optionally a point baseline (a bundle trained with ``--loss mse``) on the same events.
"""

from __future__ import annotations

import logging
import os
import pathlib
from typing import Optional, Union

import numpy as np
import torch
from tqdm import tqdm

from ..core.status import Status
from ..model.bundle import BundleError, ModelBundle, load_bundle
from ..model.flow.summary import tabulated_samples
from . import plots
from .coverage import DEFAULT_LEVELS, coverage_curve, hdr_rank, threshold_coverage
from .predictions import _np, batches, posterior
from .pulls import pull_summary, pulls
from .report import write_report
from .resolution import prior_table, resolution_table

logger = logging.getLogger(__name__)


def _load(model: Union[str, os.PathLike, ModelBundle], device: str) -> ModelBundle:
    return model if isinstance(model, ModelBundle) else load_bundle(model, device=device)


def posterior_samples(flow, enc: torch.Tensor, z: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``[B, n, 6]`` (metres) and their ``log p [B, n]`` from standard-normal base points
    ``z``, one set per event ``[B, n, 6]`` (or shared ``[n, 6]``): the flow's tabulated inversion
    in float64 (accurate to ~1e-4 sigma, far below the Monte Carlo error of the coverage)."""
    with torch.inference_mode():
        x, log_p = tabulated_samples(flow, enc, z, torch.float64)
        return x.transpose(1, 2), log_p


def collect(bundle: ModelBundle, data: Union[str, os.PathLike], n_samples: int = 512,
            coverage_samples: int = 1000, n_corner: int = 3, seed: int = 0,
            batch_size: int = 256, max_events: Optional[int] = None,
            baseline: Optional[ModelBundle] = None, progress: bool = True) -> dict:
    """Arrays over the folder: ``truth, mean, sigma, status, t68, t90, logp_truth, rank``
    (``[N, ...]``), ``baseline`` point estimates, and ``corner`` samples of the first events."""
    if bundle.kind != "flow":
        raise BundleError(f"{bundle.path}: evaluate needs a flow model, got a '{bundle.kind}' one")
    it, total = batches(bundle, data, batch_size, targets=True)
    total = min(total, max_events) if max_events else total
    out: dict[str, list] = {k: [] for k in ("truth", "mean", "sigma", "status", "t68", "t90",
                                            "logp_truth", "rank", "baseline", "run_id",
                                            "event_id")}
    corner: list[dict] = []
    gen = torch.Generator().manual_seed(seed)
    n = 0
    with tqdm(total=total, unit="ev", desc="evaluate", disable=not progress) as bar:
        for batch in it:
            if max_events and n >= max_events:
                break
            summary, lt = posterior(bundle, batch, n_samples, seed)
            enc = bundle.encode(batch.x, batch.seqlens).to(bundle.flow.dtype)
            # independent points per event: shared ones would move every event's rank together
            z = torch.randn(batch.batch_size, coverage_samples, 6, generator=gen,
                            dtype=torch.float64)
            samples, logp_s = posterior_samples(bundle.flow, enc, z.to(bundle.device))
            out["rank"].append(hdr_rank(logp_s.cpu(), lt.cpu()))
            out["truth"].append(_np(batch.targets))
            out["mean"].append(_np(summary.mean))
            out["sigma"].append(_np(summary.sigma))
            out["status"].append(_np(summary.status).astype(np.int64))
            out["t68"].append(_np(summary.logp_threshold_68))
            out["t90"].append(_np(summary.logp_threshold_90))
            out["logp_truth"].append(_np(lt))
            out["run_id"].append(_np(batch.run_id).astype(np.int64))
            out["event_id"].append(_np(batch.event_id).astype(np.int64))
            if baseline is not None:
                out["baseline"].append(baseline.predict_point(batch).numpy())
            for i in range(min(batch.batch_size, n_corner - len(corner))):
                corner.append({"samples": _np(samples[i]), "truth": _np(batch.targets[i]),
                               "mean": _np(summary.mean[i]),
                               "id": (int(batch.run_id[i]), int(batch.event_id[i]))})
            n += batch.batch_size
            bar.update(batch.batch_size)
    arrays = {k: np.concatenate(v) for k, v in out.items() if v}
    if max_events:
        arrays = {k: v[:max_events] for k, v in arrays.items()}
    arrays["corner"] = corner
    return arrays


def evaluate(model: Union[str, os.PathLike, ModelBundle], data: Union[str, os.PathLike],
             out_dir: Union[str, os.PathLike],
             baseline: Union[None, str, os.PathLike, ModelBundle] = None,
             n_samples: int = 512, coverage_samples: int = 1000, n_corner: int = 3,
             levels: np.ndarray = DEFAULT_LEVELS, seed: int = 0, batch_size: int = 256,
             max_events: Optional[int] = None, device: str = "cpu",
             progress: bool = True) -> dict:
    """Evaluate a flow bundle on a labeled folder and write ``out_dir`` (report.json,
    report.md, PNG figures, arrays.npz). Returns the report dict."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = _load(model, device)
    base = None if baseline is None else _load(baseline, device)
    a = collect(bundle, data, n_samples, coverage_samples, n_corner, seed, batch_size,
                max_events, base, progress)
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

    p = pulls(mean, sigma, truth)
    observed, stderr = coverage_curve(a["rank"][ok], levels)
    coverage = {
        "levels": np.asarray(levels), "observed": observed, "stderr": stderr,
        "summary_68": threshold_coverage(a["logp_truth"][ok], a["t68"][ok]),
        "summary_90": threshold_coverage(a["logp_truth"][ok], a["t90"][ok]),
        "samples_per_event": coverage_samples,
        "base_temperature": float(getattr(bundle.flow, "base_temperature", 1.0)),
    }
    figures = {
        "errors": plots.plot_errors(errors, out_dir / "errors.png").name,
        "pulls": plots.plot_pulls(p, out_dir / "pulls.png").name,
        "coverage": plots.plot_coverage(np.asarray(levels), observed, stderr,
                                        out_dir / "coverage.png").name,
    }
    for k, c in enumerate(a["corner"]):
        run, ev = c["id"]
        figures[f"corner_{k}"] = plots.plot_corner(
            c["samples"], c["truth"], c["mean"], out_dir / f"corner_{k}.png",
            title=f"run {run} event {ev}").name
    np.savez_compressed(out_dir / "arrays.npz",
                        **{k: v for k, v in a.items() if k != "corner"})
    report = {
        "model": str(bundle.path), "baseline": None if base is None else str(base.path),
        "data": str(data), "n_events": int(a["status"].shape[0]), "n_ok": int(ok.sum()),
        "resolution": resolution, "pulls": pull_summary(p), "coverage": coverage,
        "figures": figures, "posterior_samples": n_samples,
        "training": {k: bundle.training.get(k) for k in ("elapsed_s", "epochs_run",
                                                         "best_val_loss", "global_step",
                                                         "calibration")},
    }
    write_report(out_dir, report)
    logger.info("evaluation report in %s", out_dir)
    return report
