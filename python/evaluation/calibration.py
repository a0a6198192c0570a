"""Calibration of the posterior width on validation events: an event-dependent width, then one
base temperature ``T`` on top of it (:func:`calibrate_flow`).

A flow trained by maximum likelihood for minutes can end slightly over- or under-dispersed on
unseen events (the HDR coverage of short CPU runs moved between 59% and 72% at 68% nominal).
The flow's base distribution ``N(0, T^2 I)`` has one free width ``T`` that leaves the learned
shape alone and widens (``T > 1``) or narrows every posterior. ``fit_temperature`` picks the
``T`` whose HDR coverage on held-out events is closest to nominal at the levels that analyses
quote (least squares over 68% and 90%; a 7-point grid in ``log T`` on ``[t_min, t_max]``, then
a golden-section search between the best point's neighbours down to 0.5% in ``T``: the flow's
tables are built once and the samples pushed ~19 times). It needs events the model was not
trained on: the trainer uses its validation files; the test set used to judge the model must
stay apart.

One ``T`` puts the overall coverage on target but can leave event classes off (dim events
under-covered, bright ones over-covered); :mod:`.event_temperature` first fits a width per
event from its encoding, and ``T`` then sets the overall level. One ``T`` cannot change the
shape of the coverage curve (68% and 90% can stay ~2 points off in opposite directions); the
level map (:class:`~..model.flow.level_map.LevelMap`, fitted last on the ranks at the fitted
width) makes every level hold on the validation events.
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
from ..model.flow.level_map import LevelMap
from .brightness_width_fit import fit_brightness_width
from .coverage import coverage_curve
from .event_temperature import MIN_EVENTS, fit_event_temperature
from .predictions import batches
from .region_tilt_fit import fit_region_tilt
from .truth_ranks import RankTable

logger = logging.getLogger(__name__)

#: nominal levels of the least-squares fit (the report's headline levels: a flow whose coverage
#: curve is not exactly nominal in shape gets these two right rather than the curve's average)
FIT_LEVELS = np.array([0.68, 0.90])
#: points of the coarse grid in ``log T`` (odd: ``T = 1`` is one of them for ``[1/a, a]``)
COARSE_POINTS = 7
#: the search stops when the bracket of ``log T`` is shorter than this (0.5% in ``T``)
FINE_STEP = 0.005
#: fewer validation events than this get no level map (its 41 quantiles would be noise)
MIN_LEVEL_MAP_EVENTS = 500


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
    #: the level map fitted after ``temperature`` (empty: none)
    level_map: list[float] = field(default_factory=list)
    coverage_mapped: list[float] = field(default_factory=list)  # with the level map
    #: the gap-length region tilt fitted after ``temperature`` (empty: none)
    region_tilt: dict = field(default_factory=dict)
    #: the brightness term of the event width fitted after the tilt (empty: none)
    brightness_width: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _loss(rank: np.ndarray, levels: np.ndarray) -> float:
    observed, _ = coverage_curve(rank, levels)
    return float(np.mean((observed - levels) ** 2))


def _golden_section(f: Callable[[float], float], a: float, b: float, tol: float) -> None:
    """Narrow ``[a, b]`` around a minimum of ``f`` until it is shorter than ``tol`` (the
    caller keeps the evaluations)."""
    g = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)


def fit_temperature(
    flow: ConditionalFlow,
    encoding: torch.Tensor,
    truth: torch.Tensor,
    n_samples: int = 256,
    seed: int = 0,
    t_min: float = 0.5,
    t_max: float = 2.0,
    levels: np.ndarray = FIT_LEVELS,
    table: Optional[RankTable] = None,
) -> Calibration:
    """Fit the base temperature on events ``encoding [B, D]`` with truths ``truth [B, dim]``
    (metres). Returns the :class:`Calibration`; ``flow`` is left unchanged. ``table``: the
    events' :class:`RankTable` when the caller has built it (with ``n_samples`` and ``seed``)."""
    if encoding.shape[0] < 100:
        raise InputError(f"calibration needs at least 100 events, got {encoding.shape[0]}")
    if table is None:
        table = RankTable(flow, encoding, truth, n_samples, seed)
    ranks: dict[float, np.ndarray] = {}

    def loss(log_t: float) -> float:
        t = float(np.exp(log_t))
        if t not in ranks:
            ranks[t] = table(t)
        return _loss(ranks[t], levels)

    coarse = np.linspace(np.log(t_min), np.log(t_max), COARSE_POINTS)
    i = int(np.argmin([loss(v) for v in coarse]))
    _golden_section(loss, coarse[max(i - 1, 0)], coarse[min(i + 1, coarse.size - 1)], FINE_STEP)
    best = min(ranks, key=lambda t: (_loss(ranks[t], levels), t))
    if np.isclose(best, t_min) or np.isclose(best, t_max):
        logger.warning("calibration: best temperature %.3f is at the search bound", best)
    loss(0.0)  # T = 1 (usually a grid point already)
    before, _ = coverage_curve(ranks[1.0], levels)
    after, _ = coverage_curve(ranks[best], levels)
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
    enc, truth, _ = collect_events(encode, batches, max_events)
    return enc, truth


def collect_events(
    encode: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batches: Iterable[PackedBatch],
    max_events: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Encodings ``[N, D]``, truths ``[N, dim]`` and hit-DOM counts ``[N]`` (int64) of up to
    ``max_events`` labeled events; ``encode(x, seqlens)`` maps a packed batch to encodings."""
    encs, truths, counts, n = [], [], [], 0
    with torch.inference_mode():
        for batch in batches:
            if batch.targets is None:
                raise ValueError("calibration needs labeled events; a batch has no targets")
            encs.append(encode(batch.x, batch.seqlens).double())
            truths.append(batch.targets.double())
            counts.append(batch.seqlens.cpu().to(torch.int64))
            n += batch.batch_size
            if n >= max_events:
                break
    if not encs:
        raise InputError("calibration: no labeled events")
    return tuple(torch.cat(v)[:max_events] for v in (encs, truths, counts))  # type: ignore


def calibrate_flow(
    flow: ConditionalFlow,
    encoding: torch.Tensor,
    truth: torch.Tensor,
    event_temperature: bool = True,
    n_samples: int = 256,
    seed: int = 0,
    level_map: bool = True,
    region_tilt: bool = True,
    n_doms: Optional[torch.Tensor] = None,
) -> Calibration:
    """Calibrate ``flow`` in place on held-out events: with ``event_temperature``, first the
    event-dependent width (:func:`~.event_temperature.fit_event_temperature`), then the base
    temperature on top of it (:func:`fit_temperature`; otherwise the base temperature alone),
    then, with at least :data:`MIN_LEVEL_MAP_EVENTS` events, with ``region_tilt`` the
    gap-length region tilt and the base temperature again
    (:func:`~.region_tilt_fit.fit_region_tilt`), with the events' hit-DOM counts ``n_doms [N]``
    (and ``event_temperature``) the brightness term of the width
    (:func:`~.brightness_width_fit.fit_brightness_width`), and with ``level_map`` the level map. A
    previous event-dependent width, region tilt and level map are cleared first."""
    record: dict = {}
    flow.set_temperature_weights(None)
    flow.level_map = None
    flow.region_tilt = None
    flow.brightness_width = None
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
    table = RankTable(flow, encoding, truth, n_samples, seed)
    cal = fit_temperature(flow, encoding, truth, n_samples=n_samples, seed=seed, table=table)
    cal.event_temperature = record
    flow.base_temperature = cal.temperature
    enough = encoding.shape[0] >= MIN_LEVEL_MAP_EVENTS
    if region_tilt and enough:
        tilt = fit_region_tilt(table.densities, cal.temperature)
        flow.region_tilt, flow.base_temperature = tilt.tilt, tilt.temperature
        cal.temperature, cal.region_tilt = tilt.temperature, tilt.summary()
        cal.coverage_after = tilt.overall_after
    elif region_tilt:
        logger.warning(
            "calibration: %d events are too few for a region tilt (at least %d); none fitted",
            encoding.shape[0],
            MIN_LEVEL_MAP_EVENTS,
        )
    rank = None  # the ranks at the fitted widths, once the last width step has computed them
    if n_doms is not None and event_temperature and enough:
        bright = fit_brightness_width(flow, table, n_doms, cal.temperature)
        if bright is not None:
            cal.coverage_after, cal.brightness_width = bright.overall_after, bright.summary()
            rank = bright.rank
    if level_map and enough:
        rank = table(cal.temperature) if rank is None else rank  # tables reused
        flow.level_map = LevelMap.fit(rank)
        cal.level_map = flow.level_map.config()
        mapped, _ = coverage_curve(flow.level_map.calibrated_rank(rank), np.asarray(cal.levels))
        cal.coverage_mapped = [float(v) for v in mapped]
    elif level_map:
        logger.warning(
            "calibration: %d events are too few for a level map (at least %d); none fitted",
            encoding.shape[0],
            MIN_LEVEL_MAP_EVENTS,
        )
    return cal


def calibrate_bundle(
    bundle: ModelBundle,
    data: Union[str, os.PathLike, list],
    max_events: int = 4000,
    n_samples: int = 256,
    seed: int = 0,
    batch_size: int = 256,
    event_temperature: bool = True,
    level_map: bool = True,
    region_tilt: bool = True,
    brightness_width: bool = True,
) -> Calibration:
    """Fit and set the posterior width of a flow ``bundle`` (see :func:`calibrate_flow`) on a
    labeled converted folder (or list of files) the model was not trained on; records it in
    ``bundle.training``."""

    if bundle.kind != "flow":
        raise BundleError(f"{bundle.path}: only a flow model has a posterior width to calibrate")
    it, _ = batches(bundle, data, batch_size, targets=True)
    enc, truth, n_doms = collect_events(bundle.encode, it, max_events)
    cal = calibrate_flow(bundle.flow_head, enc, truth, event_temperature, n_samples, seed,
                         level_map, region_tilt, n_doms if brightness_width else None)  # fmt: skip
    bundle.training = dict(bundle.training or {}, calibration=dict(cal.to_dict(), data=str(data)))
    return cal
