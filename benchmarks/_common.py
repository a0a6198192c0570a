"""Helpers shared by the benchmark scripts: timing and writing the result rows."""

from __future__ import annotations

import json
import pathlib
import time
from typing import Callable


def timings(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall seconds of ``repeats`` timed calls of ``fn``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def best_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Fastest of ``repeats`` timed calls of ``fn`` [s], after ``warmup`` untimed calls."""
    return min(timings(fn, repeats, warmup))


def write_rows(rows: object, path: pathlib.Path) -> None:
    """Write the rows as JSON to ``path`` (creating its folder) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {path}")
