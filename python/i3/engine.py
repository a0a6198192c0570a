"""The batching logic of :class:`LLPGapReco`, independent of IceTray.

The engine sees frames only through a :class:`FrameAccess` (the IceTray module passes one built on
``icecube``; the tests pass one built on dicts). It computes features when a P frame arrives,
holds every frame in one ordered queue, reconstructs a batch when it is due, writes the results
into the held P frames and returns the frames to push, always in arrival order.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol, Sequence

import numpy as np

from ..core.status import Status
from .frame_features import frame_features
from .frame_queue import FrameQueue
from .results import EventResult

logger = logging.getLogger(__name__)

#: ``reconstruct(list of float32 [n_doms_i, D]) -> one EventResult per event``
Reconstruct = Callable[[Sequence[np.ndarray]], Sequence[EventResult]]


class FrameAccess(Protocol):
    """What the engine needs to know about, and do to, a frame."""

    def stop(self, frame: Any) -> str:
        """One-letter stream id: ``G``, ``C``, ``D``, ``Q``, ``P`` or another."""

    def geometry(self, frame: Any) -> Any:
        """The :class:`~llp_gap_reco.geometry.Geometry` of a G frame."""

    def pulses(self, frame: Any, key: str) -> Optional[np.ndarray]:
        """``float64 [N, 6]`` pulses (possibly ``N == 0``), or None when ``key`` is absent."""

    def sub_event_stream(self, frame: Any) -> Optional[str]:
        """The P frame's sub-event stream name, or None when it has no event header."""

    def has_key(self, frame: Any, key: str) -> bool: ...

    def write(self, frame: Any, output_name: str, result: EventResult) -> None:
        """Put the output objects of ``result`` into ``frame``."""


@dataclass
class _Pending:
    features: Optional[np.ndarray]  # float32 [n_doms, D], None when features failed
    status: Status
    n_doms: int


@dataclass
class EngineStats:
    """Counters and stage timings for the summary line at Finish."""

    frames: int = 0
    events: int = 0
    batches: int = 0
    by_status: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)  # stage -> wall seconds

    def summary(self) -> str:
        wall = sum(self.seconds.values())
        rate = self.events / wall if wall > 0 else float("nan")
        failed = {Status(k).name: v for k, v in sorted(self.by_status.items()) if k != Status.OK}
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(self.seconds.items()))
        return (
            f"{self.events} events in {self.batches} batches, {self.frames} frames; "
            f"ok {self.by_status.get(Status.OK, 0)}, failed {failed or 0}; "
            f"{rate:.1f} events/s ({stages})"
        )


class BatchingEngine:
    """Frame-ordered batching around a ``reconstruct`` callable.

    ``condition(frame) -> bool`` and ``sub_event_stream`` select the P frames to reconstruct; the
    others keep their place in the queue and pass through untouched.
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
        output_suffixes: Sequence[str] = ("_Production", "_Decay", "_Covariance", "_Params",
                                          "_Particle"),
    ) -> None:
        self.access = access
        self.extractor = extractor
        self.reconstruct = reconstruct
        self.pulse_key = pulse_key
        self.output_name = output_name
        self.sub_event_stream = sub_event_stream
        self.condition = condition
        self.output_keys = [output_name + s for s in output_suffixes]
        self.queue: FrameQueue[Any, _Pending] = FrameQueue(batch_size, max_frames)
        self.geometry = None
        self.stats = EngineStats()

    # -- frame entry ---------------------------------------------------------------------------
    def process(self, frame: Any) -> list[Any]:
        """Take one frame; return the frames to push now (possibly none), in order."""
        self.stats.frames += 1
        stop = self.access.stop(frame)
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
            raise RuntimeError(
                f"output keys {clash} already exist in the frame; choose another OutputName "
                f"(now {self.output_name!r}) or delete them upstream"
            )
        if self.geometry is None:
            raise RuntimeError(
                "a P frame arrived before any geometry: add the GCD file in front of the data "
                "file (I3Reader FilenameList=[gcd, data])"
            )
        self.stats.events += 1
        t0 = time.perf_counter()
        ff = frame_features(self.access, frame, self.pulse_key, self.geometry, self.extractor)
        self.stats.seconds["features"] += time.perf_counter() - t0
        return _Pending(ff.features, ff.status, ff.n_doms)

    def flush(self) -> list[Any]:
        frames, pending = self.queue.drain()
        if not pending:
            return frames
        ok = [i for i, (_, p) in enumerate(pending) if p.status is Status.OK]
        results: list[EventResult] = [
            EventResult.failed(p.status, p.n_doms) for _, p in pending
        ]
        if ok:
            t0 = time.perf_counter()
            try:
                rec = self.reconstruct([pending[i][1].features for i in ok])
                for i, r in zip(ok, rec):
                    results[i] = r
            except Exception:
                logger.exception(
                    "reconstruction of a batch of %d events failed; marking them ERROR", len(ok)
                )
                for i in ok:
                    results[i] = EventResult.failed(Status.ERROR, pending[i][1].n_doms)
            self.stats.seconds["reconstruct"] += time.perf_counter() - t0
            self.stats.batches += 1
        t0 = time.perf_counter()
        for (frame, _), res in zip(pending, results):
            self.access.write(frame, self.output_name, res)
            self.stats.by_status[int(res.status)] += 1
        self.stats.seconds["write"] += time.perf_counter() - t0
        return frames
