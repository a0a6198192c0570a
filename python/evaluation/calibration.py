"""Calibration of the posterior width on validation events: an event-dependent width, then one
base temperature ``T`` on top of it (:func:`calibrate_flow`).

A flow trained by maximum likelihood for minutes can end slightly over- or under-dispersed on
unseen events (the HDR coverage of short CPU runs moved between 59% and 72% at 68% nominal).
The flow's base distribution ``N(0, T^2 I)`` has one free width ``T`` that leaves the learned
shape alone and widens (``T > 1``) or narrows every posterior. ``fit_temperature`` picks the
``T`` whose HDR coverage on held-out events is closest to nominal at the levels that analyses
quote (least squares over 68% and 90%; a 13-point grid on ``[t_min, t_max]``, then 25 points 1%
apart between the best one's neighbours; the flow's tables are built twice, the samples pushed
38 times). It needs events the model was not trained on: the trainer uses its validation files;
the test set used to judge the model must stay apart.

One ``T`` puts the overall coverage on target but can leave event classes off (dim events
under-covered, bright ones over-covered); :mod:`.event_temperature` first fits a width per
event from its encoding, and ``T`` then sets the overall level.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Optional, Union

import numpy as np
import torch

from ..core.batch import PackedBatch
from ..core.errors import InputError
from ..model.bundle import BundleError, ModelBundle
from ..model.flow import ConditionalFlow
from ..model.flow.summary import prepare_tabulated, push_base_points
from .coverage import coverage_curve, hdr_rank
from .event_temperature import MIN_EVENTS, fit_event_temperature
from .predictions import batches

logger = logging.getLogger(__name__)

#: nominal levels of the least-squares fit (the report's headline levels: a flow whose coverage
#: curve is not exactly nominal in shape gets these two right rather than the curve's average)
FIT_LEVELS = np.array([0.68, 0.90])


@dataclass
class Calibration:
    """Result of :func:`fit_temperature` (plain data, stored in the bundle's training summary)."""

    temperature: float
    n_events: int
    levels: list[float] = field(default_factory=list)
    coverage_before: list[float] = field(default_factory=list)  # observed at T = 1
    coverage_after: list[float] = field(default_factory=list)  # observed at the fitted T
    samples_per_event: int = 0
    #: the event-dependent width fitted before ``temperature`` (empty: none)
    event_temperature: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def hdr_ranks(
    flow: ConditionalFlow,
    encoding: torch.Tensor,
    truth: torch.Tensor,
    n_samples: int = 256,
    temperatures: Optional[Iterable[float]] = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    chunk_size: int = 500,
) -> np.ndarray:
    """HDR ranks of the truths ``[len(temperatures), B]`` under ``flow`` at each base
    temperature (default: the flow's own; times each event's factor when the flow has an
    event-dependent width), each event from its own ``n_samples`` standard-normal
    base points (shared points would make the Monte Carlo errors of all events move together:
    with 256 shared points the coverage at 68% moved by 5 points between two draws). The same
    points serve every temperature, and the g tables are built once per chunk of events; the
    samples' densities in ``dtype`` (float32: ~1e-4 relative, far below the Monte Carlo error)."""

    temps = [flow.base_temperature] if temperatures is None else [float(t) for t in temperatures]
    gen = torch.Generator().manual_seed(seed)
    out = np.empty((len(temps), encoding.shape[0]))
    with torch.inference_mode():
        for s in range(0, encoding.shape[0], chunk_size):
            enc = encoding[s : s + chunk_size].to(flow.dtype)
            z_truth, log_jac = flow.base_point(truth[s : s + chunk_size].to(enc.device), enc)
            z = torch.randn(
                enc.shape[0], n_samples, flow.dim, generator=gen, dtype=torch.float64
            ).to(enc.device)
            prepared = prepare_tabulated(flow, enc, dtype)
            for i, t in enumerate(temps):
                lt = flow.log_base(z_truth, flow.temperature(enc, base=t)) + log_jac
                _, lp = push_base_points(flow, prepared, z, dtype, t)
                out[i, s : s + chunk_size] = hdr_rank(lp.cpu(), lt.cpu())
    return out


def _loss(rank: np.ndarray, levels: np.ndarray) -> float:
    observed, _ = coverage_curve(rank, levels)
    return float(np.mean((observed - levels) ** 2))


def fit_temperature(
    flow: ConditionalFlow,
    encoding: torch.Tensor,
    truth: torch.Tensor,
    n_samples: int = 256,
    seed: int = 0,
    t_min: float = 0.5,
    t_max: float = 2.0,
    levels: np.ndarray = FIT_LEVELS,
) -> Calibration:
    """Fit the base temperature on events ``encoding [B, D]`` with truths ``truth [B, dim]``
    (metres). Returns the :class:`Calibration`; ``flow`` is left unchanged."""
    if encoding.shape[0] < 100:
        raise InputError(f"calibration needs at least 100 events, got {encoding.shape[0]}")
    coarse = np.exp(np.linspace(np.log(t_min), np.log(t_max), 13))  # includes T = 1
    ranks = hdr_ranks(flow, encoding, truth, n_samples, coarse, seed)
    i = int(np.argmin([_loss(r, levels) for r in ranks]))
    lo, hi = coarse[max(i - 1, 0)], coarse[min(i + 1, len(coarse) - 1)]
    fine = np.exp(np.linspace(np.log(lo), np.log(hi), 25))  # steps of 1%; has the coarse best
    fine_ranks = hdr_ranks(flow, encoding, truth, n_samples, fine, seed)
    j = int(np.argmin([_loss(r, levels) for r in fine_ranks]))
    best = float(fine[j])
    if best in (t_min, t_max):
        logger.warning("calibration: best temperature %.3f is at the search bound", best)
    before, _ = coverage_curve(ranks[len(coarse) // 2], levels)  # T = 1
    after, _ = coverage_curve(fine_ranks[j], levels)
    return Calibration(
        temperature=best,
        n_events=int(encoding.shape[0]),
        levels=[float(v) for v in levels],
        coverage_before=[float(v) for v in before],
        coverage_after=[float(v) for v in after],
        samples_per_event=n_samples,
    )


def collect_encodings(
    encode: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batches: Iterable[PackedBatch],
    max_events: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encodings ``[N, D]`` and truths ``[N, dim]`` of up to ``max_events`` labeled events;
    ``encode(x, seqlens)`` maps a packed batch to encodings."""
    encs, truths, n = [], [], 0
    with torch.inference_mode():
        for batch in batches:
            if batch.targets is None:
                raise ValueError("calibration needs labeled events; a batch has no targets")
            encs.append(encode(batch.x, batch.seqlens).double())
            truths.append(batch.targets.double())
            n += batch.batch_size
            if n >= max_events:
                break
    if not encs:
        raise InputError("calibration: no labeled events")
    return torch.cat(encs)[:max_events], torch.cat(truths)[:max_events]


def calibrate_flow(
    flow: ConditionalFlow,
    encoding: torch.Tensor,
    truth: torch.Tensor,
    event_temperature: bool = True,
    n_samples: int = 256,
    seed: int = 0,
) -> Calibration:
    """Calibrate ``flow`` in place on held-out events: with ``event_temperature``, first the
    event-dependent width (:func:`~.event_temperature.fit_event_temperature`), then the base
    temperature on top of it (:func:`fit_temperature`); otherwise the base temperature alone
    (a previous event-dependent width is cleared)."""
    record: dict = {}
    flow.set_temperature_weights(None)
    if event_temperature and encoding.shape[0] < MIN_EVENTS:
        logger.warning(
            "calibration: %d events are too few for an event-dependent width (at least %d); "
            "one temperature for all events",
            encoding.shape[0],
            MIN_EVENTS,
        )
    elif event_temperature:
        fit = fit_event_temperature(flow, encoding, truth)
        flow.set_temperature_weights(fit.weights)
        record = fit.summary()
    cal = fit_temperature(flow, encoding, truth, n_samples=n_samples, seed=seed)
    cal.event_temperature = record
    flow.base_temperature = cal.temperature
    return cal


def calibrate_bundle(
    bundle: ModelBundle,
    data: Union[str, os.PathLike, list],
    max_events: int = 4000,
    n_samples: int = 256,
    seed: int = 0,
    batch_size: int = 256,
    event_temperature: bool = True,
) -> Calibration:
    """Fit and set the posterior width of a flow ``bundle`` (see :func:`calibrate_flow`) on a
    labeled converted folder (or list of files) the model was not trained on; records it in
    ``bundle.training``."""

    if bundle.kind != "flow":
        raise BundleError(f"{bundle.path}: only a flow model has a posterior width to calibrate")
    it, _ = batches(bundle, data, batch_size, targets=True)
    enc, truth = collect_encodings(bundle.encode, it, max_events)
    cal = calibrate_flow(bundle.flow_head, enc, truth, event_temperature, n_samples, seed)
    bundle.training = dict(bundle.training or {}, calibration=dict(cal.to_dict(), data=str(data)))
    return cal
