"""Per-event arrays of an evaluation: posterior summaries, HDR ranks, per-coordinate ranks,
HDR volumes, from ``coverage_samples`` posterior samples per event (see :mod:`.evaluate`)."""

from __future__ import annotations

import os
from typing import Any, Optional, Union

import numpy as np
import torch
from tqdm import tqdm

from ..model.bundle import BundleError, ModelBundle
from ..model.flow import ConditionalFlow
from ..model.flow.level_map import calibrated_rank, hdr_levels
from ..model.flow.region_tilt import region_scores
from ..model.flow.summary import tabulated_samples
from .coverage import hdr_rank
from .predictions import _np, batches, posterior
from .sbc import coordinate_ranks
from .volume import log_hdr_volume


def posterior_samples(
    flow: ConditionalFlow, enc: torch.Tensor, z: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``[B, n, 6]`` (metres) and their ``log p [B, n]`` from standard-normal base points
    ``z``, one set per event ``[B, n, 6]`` (or shared ``[n, 6]``): the flow's tabulated inversion
    in float64 (accurate to ~1e-4 sigma, far below the Monte Carlo error of the coverage)."""
    with torch.inference_mode():
        x, log_p = tabulated_samples(flow, enc, z, torch.float64)
        return x.transpose(1, 2), log_p


def collect(
    bundle: ModelBundle,
    data: Union[str, os.PathLike],
    n_samples: int = 512,
    coverage_samples: int = 1000,
    n_corner: int = 3,
    seed: int = 0,
    batch_size: int = 256,
    max_events: Optional[int] = None,
    baseline: Optional[ModelBundle] = None,
    progress: bool = True,
) -> dict:
    """Arrays over the folder: ``truth, mean, sigma, status, t68, t90, logp_truth, rank,
    n_doms, run_id, event_id`` (``[N, ...]``; ``rank``: the truth's HDR rank under the flow's
    level map, inside the reported ``alpha`` region iff ``<= alpha``), ``coord_rank [N, 6]``
    (posterior samples below the truth per coordinate, out of ``coverage_samples``),
    ``log_volume_68/90 [N]`` (log volumes of the reported regions, log m^6), ``baseline`` point
    estimates, and ``corner`` samples of the first events.
    """
    if bundle.kind != "flow":
        raise BundleError(f"{bundle.path}: evaluate needs a flow model, got a '{bundle.kind}' one")
    flow = bundle.flow_head
    it, total = batches(bundle, data, batch_size, targets=True)
    total = min(total, max_events) if max_events else total
    out: dict[str, list] = {
        k: []
        for k in (
            "truth",
            "mean",
            "sigma",
            "status",
            "t68",
            "t90",
            "logp_truth",
            "rank",
            "baseline",
            "run_id",
            "event_id",
            "n_doms",
            "coord_rank",
            "log_volume_68",
            "log_volume_90",
        )
    }
    corner: list[dict] = []
    gen = torch.Generator().manual_seed(seed)
    n = 0
    with tqdm(total=total, unit="ev", desc="evaluate", disable=not progress) as bar:
        for batch in it:
            if max_events and n >= max_events:
                break
            summary, lt = posterior(bundle, batch, n_samples, seed)
            targets = batch.targets
            if targets is None or lt is None:
                raise ValueError(f"{data}: evaluate needs the truth of every event")
            enc = bundle.encode(batch.x, batch.seqlens).to(flow.dtype)
            # independent points per event: shared ones would move every event's rank together
            z = torch.randn(
                batch.batch_size, coverage_samples, 6, generator=gen, dtype=torch.float64
            )
            samples, logp_s = posterior_samples(flow, enc, z.to(bundle.device))
            score, weight = region_scores(
                getattr(flow, "region_tilt", None), samples.transpose(1, 2), logp_s
            )
            rank = hdr_rank(score.cpu(), lt.cpu(), None if weight is None else weight.cpu())
            out["rank"].append(calibrated_rank(flow, rank))
            out["coord_rank"].append(coordinate_ranks(samples, targets))
            for name, level in zip(("log_volume_68", "log_volume_90"), hdr_levels(flow)):
                out[name].append(log_hdr_volume(logp_s, level, score, weight))
            out["n_doms"].append(_np(batch.seqlens).astype(np.int64))
            out["truth"].append(_np(targets))
            out["mean"].append(_np(summary.mean))
            out["sigma"].append(_np(summary.sigma))
            out["status"].append(_np(summary.status).astype(np.int64))
            out["t68"].append(_np(summary.logp_threshold_68))
            out["t90"].append(_np(summary.logp_threshold_90))
            out["logp_truth"].append(_np(lt))
            run_id, event_id = batch.ids()
            out["run_id"].append(_np(run_id).astype(np.int64))
            out["event_id"].append(_np(event_id).astype(np.int64))
            if baseline is not None:
                out["baseline"].append(baseline.predict_point(batch).numpy())
            for i in range(min(batch.batch_size, n_corner - len(corner))):
                corner.append(
                    {
                        "samples": _np(samples[i]),
                        "truth": _np(targets[i]),
                        "mean": _np(summary.mean[i]),
                        "id": (int(run_id[i]), int(event_id[i])),
                    }
                )
            n += batch.batch_size
            bar.update(batch.batch_size)
    arrays: dict[str, Any] = {k: np.concatenate(v) for k, v in out.items() if v}
    if max_events:
        arrays = {k: v[:max_events] for k, v in arrays.items()}
    arrays["corner"] = corner
    return arrays
