"""The batching logic of :class:`LLPGapReco`, independent of IceTray.

The engine sees frames only through a :class:`FrameAccess` (the IceTray module passes one built on
``icecube``; the tests pass one built on dicts). It computes features when a P frame arrives,
holds every frame in one ordered queue, reconstructs a batch when it is due, writes the results
into the held P frames and returns the frames to push, always in arrival order.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, DefaultDict, Optional, Protocol, Sequence

import numpy as np

from ..core.status import Status
from ..data.features.exclusions import Exclusions
from .errors import ConfigurationError, ReconstructionError
from .frame_features import MULTI_PMT, NO_EXCLUSIONS, ExclusionSettings, frame_features
from .frame_queue import FrameQueue
from .results import EventResult

logger = logging.getLogger(__name__)

#: ``reconstruct(list of float32 [n_doms_i, D]) -> one EventResult per event``
Reconstruct = Callable[[Sequence[np.ndarray]], Sequence[EventResult]]


class FrameAccess(Protocol):
    """What the engine needs to know about, and do to, a frame."""

    def stop(self, frame: Any) -> str:
        """One-letter stream id: ``G``, ``C``, ``D``, ``Q``, ``P`` or another (``I``, ``S``)."""

    def geometry(self, frame: Any) -> Any:
        """The :class:`~llp_gap_reco.geometry.Geometry` of a G frame."""

    def pulses(self, frame: Any, key: str) -> Optional[np.ndarray]:
        """``float64 [N, 6]`` pulses (possibly ``N == 0``), or None when ``key`` is absent."""

    def exclusions(self, frame: Any, keys: Sequence[str]) -> Exclusions:
        """The DOM exclusions named by ``keys`` that apply to this P frame."""

    def new_frame(self, frame: Any) -> None:
        """Told of every frame that is not a P frame (cached G/C/D objects expire)."""

    def sub_event_stream(self, frame: Any) -> Optional[str]:
        """The P frame's sub-event stream name, or None when it has no event header."""

    def has_key(self, frame: Any, key: str) -> bool: ...

    def write(self, frame: Any, output_name: str, result: EventResult) -> None:
        """Put the output objects of ``result`` into ``frame``."""


#: what to do with an unexpected exception: stop (``raise``) or mark the events ERROR (``flag``)
ON_ERROR = ("raise", "flag")


@dataclass
class _Pending:
    features: Optional[np.ndarray]  # float32 [n_doms, D], None when features failed
    status: Status
    n_doms: int
    n_doms_excluded: int = 0


def _features_of(p: _Pending) -> np.ndarray:
    """The features of an event whose extraction succeeded."""
    if p.features is None:
        raise RuntimeError(f"an event with status {p.status.name} has no features")
    return p.features


@dataclass
class EngineStats:
    """Counters and stage timings for the summary line at Finish."""

    frames: int = 0
    events: int = 0
    batches: int = 0
    by_status: Counter = field(default_factory=Counter)
    by_stop: Counter = field(default_factory=Counter)  # frame stream id -> frames
    seconds: DefaultDict[str, float] = field(  # stage -> wall seconds
        default_factory=lambda: defaultdict(float)
    )
    doms_excluded: int = 0

    @property
    def n_written(self) -> int:
        return sum(self.by_status.values())

    @property
    def n_failed(self) -> int:
        return self.n_written - self.by_status.get(Status.OK, 0)

    @property
    def n_errors(self) -> int:
        return self.by_status.get(Status.ERROR, 0)

    def status_counts(self) -> dict[str, int]:
        """``status name -> events`` for every status that occurred."""
        return {Status(k).name: v for k, v in sorted(self.by_status.items())}

    def summary(self) -> str:
        wall = sum(self.seconds.values())
        rate = self.events / wall if wall > 0 else float("nan")
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(self.seconds.items()))
        streams = ", ".join(f"{k} {v}" for k, v in sorted(self.by_stop.items()))
        return (
            f"{self.events} events in {self.batches} batches, {self.frames} frames ({streams}); "
            f"status {self.status_counts() or {}}, failed {self.n_failed}; "
            f"{self.doms_excluded} hit DOMs excluded; {rate:.1f} events/s ({stages})"
        )


class BatchingEngine:
    """Frame-ordered batching around a ``reconstruct`` callable.

    ``condition(frame) -> bool`` and ``sub_event_stream`` select the P frames to reconstruct; the
    others keep their place in the queue and pass through untouched. ``exclusions`` names the DOM
    exclusions applied before the features. Known bad input becomes a per-event status; an
    unexpected exception (in the features or in ``reconstruct``) raises
    :class:`ReconstructionError` when ``on_error="raise"`` and marks the events ``ERROR`` when
    ``on_error="flag"``. ``geometry`` serves until a G frame arrives (files without GCD).
    ``multi_pmt``: ``"sum"`` pools the PMTs of a module, ``"refuse"`` gives events with
    ``pmt != 0`` pulses the status ``MULTI_PMT_REFUSED``.
    """

    def __init__(
        self,
        access: FrameAccess,
        extractor: Any,
        reconstruct: Reconstruct,
        *,
        pulse_key: str,
        output_name: str,
        batch_size: int = 256,
        sub_event_stream: Optional[str] = None,
        condition: Optional[Callable[[Any], bool]] = None,
        max_frames: Optional[int] = None,
        exclusions: ExclusionSettings = NO_EXCLUSIONS,
        on_error: str = "raise",
        geometry: Optional[Any] = None,
        multi_pmt: str = "sum",
        output_suffixes: Sequence[str] = (
            "_Production",
            "_Decay",
            "_Covariance",
            "_Params",
            "_Particle",
        ),
    ) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        if multi_pmt not in MULTI_PMT:
            raise ValueError(f"multi_pmt must be one of {MULTI_PMT}, got {multi_pmt!r}")
        self.multi_pmt = multi_pmt
        self.access = access
        self.extractor = extractor
        self.reconstruct = reconstruct
        self.pulse_key = pulse_key
        self.output_name = output_name
        self.sub_event_stream = sub_event_stream
        self.condition = condition
        self.exclusions = exclusions
        self.on_error = on_error
        self.output_keys = [output_name + s for s in output_suffixes]
        self.queue: FrameQueue[Any, _Pending] = FrameQueue(batch_size, max_frames)
        self.geometry = geometry  # until a G frame brings one
        self.stats = EngineStats()

    # -- frame entry ---------------------------------------------------------------------------
    def process(self, frame: Any) -> list[Any]:
        """Take one frame; return the frames to push now (possibly none), in order."""
        self.stats.frames += 1
        stop = self.access.stop(frame)
        self.stats.by_stop[stop] += 1
        if stop != "P":
            self.access.new_frame(frame)
        if stop == "G":
            self.geometry = self.access.geometry(frame)
        pending = self._select(frame) if stop == "P" else None
        if pending is None and self.queue.passthrough:
            return [frame]
        self.queue.append(frame, pending)
        return self.flush() if self.queue.due else []

    def finish(self) -> list[Any]:
        """Reconstruct what is left and return every held frame."""
        out = self.flush()
        logger.debug("%s", self.stats.summary())
        return out

    # -- internals -----------------------------------------------------------------------------
    def _select(self, frame: Any) -> Optional[_Pending]:
        if self.sub_event_stream is not None:
            if self.access.sub_event_stream(frame) != self.sub_event_stream:
                return None
        if self.condition is not None and not self.condition(frame):
            return None
        clash = [k for k in self.output_keys if self.access.has_key(frame, k)]
        if clash:
            raise ConfigurationError(
                f"output keys {clash} already exist in the frame; choose another OutputName "
                f"(now {self.output_name!r}) or delete them upstream"
            )
        if self.geometry is None:
            raise ConfigurationError(
                "a P frame arrived before any geometry: add the GCD file in front of the data "
                "file (I3Reader FilenameList=[gcd, data]) or give the module a geometry table"
            )
        self.stats.events += 1
        t0 = time.perf_counter()
        try:
            ff = frame_features(
                self.access,
                frame,
                self.pulse_key,
                self.geometry,
                self.extractor,
                self.exclusions,
                self.multi_pmt,
            )
        except ConfigurationError:
            raise
        except Exception as err:
            self._unexpected(err, "feature extraction of one event")
            ff = None
        self.stats.seconds["features"] += time.perf_counter() - t0
        if ff is None:
            return _Pending(None, Status.ERROR, 0)
        self.stats.doms_excluded += ff.n_doms_excluded
        return _Pending(ff.features, ff.status, ff.n_doms, ff.n_doms_excluded)

    def _unexpected(self, err: Exception, what: str) -> None:
        """Raise (``on_error="raise"``) or log with the traceback (``"flag"``)."""
        if self.on_error == "raise":
            logger.error(
                "%s failed; stopping (OnError='raise'). So far: %s", what, self.stats.summary()
            )
            raise ReconstructionError(f"{what} failed: {type(err).__name__}: {err}") from err
        logger.exception("%s failed; marking it ERROR and going on (OnError='flag')", what)

    def flush(self) -> list[Any]:
        frames, pending = self.queue.drain()
        if not pending:
            return frames
        ok = [i for i, (_, p) in enumerate(pending) if p.status is Status.OK]
        results: list[EventResult] = [
            EventResult.failed(p.status, p.n_doms, p.n_doms_excluded) for _, p in pending
        ]
        if ok:
            t0 = time.perf_counter()
            try:
                rec = self.reconstruct([_features_of(pending[i][1]) for i in ok])
                if len(rec) != len(ok):
                    raise RuntimeError(f"{len(rec)} results for {len(ok)} events")
                for i, r in zip(ok, rec):
                    r.n_doms_excluded = pending[i][1].n_doms_excluded
                    results[i] = r
            except Exception as err:
                self._unexpected(err, f"reconstruction of a batch of {len(ok)} events")
                for i in ok:
                    p = pending[i][1]
                    results[i] = EventResult.failed(Status.ERROR, p.n_doms, p.n_doms_excluded)
            self.stats.seconds["reconstruct"] += time.perf_counter() - t0
            self.stats.batches += 1
        t0 = time.perf_counter()
        for (frame, _), res in zip(pending, results):
            self.access.write(frame, self.output_name, res)
            self.stats.by_status[int(res.status)] += 1
        self.stats.seconds["write"] += time.perf_counter() - t0
        return frames
