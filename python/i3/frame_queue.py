"""The ordered frame queue behind a batching I3Module (pure Python; no icecube import).

IceTray mixes frames on every ``PushFrame``: a P frame pushed after a newer G/C/D/Q frame would
inherit that frame's keys. So a module that holds P frames for batching must hold *every* frame
that arrives after the first held one and push them all in arrival order. This class is that
queue: each entry is a frame plus an optional *pending* payload (the event waiting for
reconstruction). ``drain`` returns every frame in arrival order and the pending ones, so the
module can write results into the pending frames and then push all of them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, Optional, TypeVar

Frame = TypeVar("Frame")
Payload = TypeVar("Payload")


@dataclass
class _Entry(Generic[Frame, Payload]):
    frame: Frame
    payload: Optional[Payload]


class FrameQueue(Generic[Frame, Payload]):
    """Frames in arrival order; due at ``batch_size`` pending events or ``max_frames`` frames.

    Memory is bounded: at most ``batch_size`` pending events and ``max_frames`` frames are held.
    """

    def __init__(self, batch_size: int, max_frames: Optional[int] = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.max_frames = int(max_frames) if max_frames else 16 * self.batch_size
        if self.max_frames < self.batch_size:
            raise ValueError("max_frames must be >= batch_size")
        self._entries: deque[_Entry[Frame, Payload]] = deque()
        self._n_pending = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def n_pending(self) -> int:
        return self._n_pending

    def append(self, frame: Frame, payload: Optional[Payload] = None) -> None:
        """Hold ``frame``; a non-None ``payload`` marks it as waiting for reconstruction."""
        self._entries.append(_Entry(frame, payload))
        if payload is not None:
            self._n_pending += 1

    @property
    def due(self) -> bool:
        """True when the queue should be flushed now."""
        return self._n_pending >= self.batch_size or len(self._entries) >= self.max_frames

    @property
    def passthrough(self) -> bool:
        """True when nothing is held: a frame that needs no reconstruction can go out at once."""
        return not self._entries

    def drain(self) -> tuple[list[Frame], list[tuple[Frame, Payload]]]:
        """Empty the queue: ``(every held frame in arrival order, [(frame, payload)] pending)``."""
        entries = list(self._entries)
        self._entries.clear()
        self._n_pending = 0
        frames = [e.frame for e in entries]
        pending = [(e.frame, e.payload) for e in entries if e.payload is not None]
        return frames, pending
