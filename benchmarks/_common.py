"""Helpers shared by the benchmark scripts: timing and writing the result rows."""

from __future__ import annotations

import datetime
import json
import pathlib
import sys
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


def stamp_rows(rows: list, date: str, command: str) -> list:
    """Each row (a dict) with the ``date`` and ``command`` of the run that measured it."""
    return [
        {**r, "date": r.get("date", date), "command": r.get("command", command)}
        if isinstance(r, dict)
        else r
        for r in rows
    ]


def run_stamp() -> tuple[str, str]:
    """``(date, command)`` of this process: UTC minute and the command line."""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return date, " ".join(["python", *sys.argv])


def write_rows(rows: list, path: pathlib.Path) -> None:
    """Write the rows, each stamped with this run's date and command, as JSON to ``path``
    (creating its folder; a standalone run's file, not committed) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stamp_rows(rows, *run_stamp()), indent=1) + "\n")
    print(f"wrote {path}")
