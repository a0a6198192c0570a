"""Stream posterior summaries of a converted folder into a parquet file.

Columns (metres; NaN when ``status`` is not OK): ``run_id``, ``event_id``, ``status``, ``n_doms``,
``<c>`` and ``<c>_sigma`` for each coordinate ``c`` in ``prod_x .. decay_z`` (posterior mean and
standard deviation), ``cov`` (the 6x6 covariance, row-major, 36 values), ``gap_length`` and
``gap_length_sigma``, ``logp_threshold_68`` / ``logp_threshold_90`` (log density thresholds of
the 68% / 90% highest-density regions, log 1/m^6), and when the folder holds truth:
``true_<c>``, ``true_gap_length`` and ``logp_truth`` (the posterior log density at the truth;
for a flow with a region tilt its region score, the quantity the thresholds apply to).
"""

from __future__ import annotations

import logging
import os
from typing import Iterator, Optional, Union

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm import tqdm

from ..core.atomic import atomic_path
from ..core.batch import PackedBatch
from ..core.errors import InputError
from ..data.parquet import LoaderConfig, PackedLoader
from ..data.parquet.convention import check_model_convention
from ..model.bundle import ModelBundle
from ..model.flow import PosteriorSummary
from .resolution import TARGET_NAMES, gap_length

logger = logging.getLogger(__name__)


def batches(
    bundle: ModelBundle,
    data: Union[str, os.PathLike, list],
    batch_size: int = 256,
    targets: Optional[bool] = None,
) -> tuple[Iterator[PackedBatch], int]:
    """Packed batches of a folder (or a list of its data files) in file order, normalised as
    ``bundle`` expects; and the number of events. A folder written in another input convention
    than the bundle's is refused (:class:`ConventionMismatch`)."""
    check_model_convention(bundle.feature_config, data, f"model {bundle.path or ''}".strip())
    src = [str(f) for f in data] if isinstance(data, (list, tuple)) else str(data)
    cfg = LoaderConfig(
        batch_size=batch_size, shuffle=False, bad_events="skip", rank=0, world_size=1
    )
    loader = PackedLoader(
        src, cfg, bundle.normalization, targets=targets, feature_indices=bundle.feature_indices
    )
    return iter(loader), loader.n_events


def _np(t: Union[torch.Tensor, np.ndarray]) -> np.ndarray:
    return t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def summary_columns(
    summary: PosteriorSummary, batch: PackedBatch, logp_truth: Optional[torch.Tensor]
) -> dict:
    """One batch's output columns as numpy arrays (see module docstring)."""
    mean, sigma, cov = _np(summary.mean), _np(summary.sigma), _np(summary.cov)
    run_id, event_id = batch.ids()
    cols: dict[str, np.ndarray] = {
        "run_id": _np(run_id).astype(np.int64),
        "event_id": _np(event_id).astype(np.int64),
        "status": _np(summary.status).astype(np.int16),
        "n_doms": _np(batch.seqlens).astype(np.int32),
    }
    for i, c in enumerate(TARGET_NAMES):
        cols[c], cols[f"{c}_sigma"] = mean[:, i], sigma[:, i]
    cols["cov"] = cov.reshape(-1, 36)
    cols["gap_length"] = _np(summary.gap_length_mean)
    cols["gap_length_sigma"] = _np(summary.gap_length_sigma)
    cols["logp_threshold_68"] = _np(summary.logp_threshold_68)
    cols["logp_threshold_90"] = _np(summary.logp_threshold_90)
    if batch.targets is not None:
        if logp_truth is None:
            raise ValueError("a batch with targets needs logp_truth")
        truth = _np(batch.targets)
        for i, c in enumerate(TARGET_NAMES):
            cols[f"true_{c}"] = truth[:, i]
        cols["true_gap_length"] = gap_length(truth)
        cols["logp_truth"] = _np(logp_truth)
    return cols


def posterior(
    bundle: ModelBundle, batch: PackedBatch, n_samples: int = 512, seed: int = 0
) -> tuple[PosteriorSummary, Optional[torch.Tensor]]:
    """``(summary, log p(truth) [B] or None)`` of one batch (encoded once); for a flow with a
    region tilt the truth's region score, which the summary's thresholds apply to."""
    flow = bundle.flow_head
    enc = bundle.encode(batch.x, batch.seqlens).to(flow.dtype)
    with torch.inference_mode():
        summary = flow.summarize(enc, n_samples=n_samples, seed=seed)
        lt = None
        if batch.targets is not None:
            score = getattr(flow, "region_score", flow.log_prob)
            lt = score(batch.targets.to(bundle.device, flow.dtype), enc)
    return summary, lt


def point_columns(bundle: ModelBundle, batch: PackedBatch) -> dict:
    """The columns of a point model (no posterior): its estimate as the means, the gap length
    between them; sigmas, covariance, thresholds and ``logp_truth`` are NaN."""
    est = _np(bundle.predict_point(batch))
    run_id, event_id = batch.ids()
    b = est.shape[0]
    nan = np.full(b, np.nan)
    cols: dict[str, np.ndarray] = {
        "run_id": _np(run_id).astype(np.int64),
        "event_id": _np(event_id).astype(np.int64),
        "status": np.zeros(b, np.int16),
        "n_doms": _np(batch.seqlens).astype(np.int32),
    }
    for i, c in enumerate(TARGET_NAMES):
        cols[c], cols[f"{c}_sigma"] = est[:, i], nan
    cols["cov"] = np.full((b, 36), np.nan)
    cols["gap_length"], cols["gap_length_sigma"] = gap_length(est), nan
    cols["logp_threshold_68"] = cols["logp_threshold_90"] = nan
    if batch.targets is not None:
        truth = _np(batch.targets)
        for i, c in enumerate(TARGET_NAMES):
            cols[f"true_{c}"] = truth[:, i]
        cols["true_gap_length"], cols["logp_truth"] = gap_length(truth), nan
    return cols


def _table(cols: dict[str, np.ndarray]) -> pa.Table:
    arrays = {}
    for k, v in cols.items():
        if k == "cov":
            arrays[k] = pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), 36)
        else:
            arrays[k] = pa.array(v)
    return pa.table(arrays)


def predict_folder(
    bundle: ModelBundle,
    data: Union[str, os.PathLike],
    out: Union[str, os.PathLike],
    n_samples: int = 512,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = True,
) -> int:
    """Write the predictions of every event of ``data`` to ``out`` (parquet, atomically);
    returns the number of events written. A point model (no flow) gives its estimate, with
    NaN for every posterior column."""
    it, total = batches(bundle, data, batch_size)
    n = 0
    with atomic_path(out) as tmp:
        writer = None
        try:
            with tqdm(total=total, unit="ev", desc="predict", disable=not progress) as bar:
                for batch in it:
                    if bundle.kind == "point":
                        cols = point_columns(bundle, batch)
                    else:
                        summary, lt = posterior(bundle, batch, n_samples, seed)
                        cols = summary_columns(summary, batch, lt)
                    table = _table(cols)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema)
                    writer.write_table(table)
                    n += table.num_rows
                    bar.update(table.num_rows)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise InputError(f"{data}: no events to predict")
    logger.info("wrote %d events to %s", n, out)
    return n
