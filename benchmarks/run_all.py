"""Runs every CPU benchmark, prints one table and writes ``benchmarks/results/all.json``.

    python benchmarks/run_all.py [--quick] [--only features,loader,...]

Each ``bench_<topic>.py`` exposes ``run(quick) -> list[dict]`` (rows with ``name``, ``value``,
``unit`` and context); ratios that the issues target are measured inside one benchmark run, so
they compare like with like on this shared, noisy machine. ``benchmarks/readme_table.py`` turns the
JSON into the README's performance table.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import pathlib
import platform
import sys
import time
import traceback

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "results"
#: run order: cheap first
TOPICS = ["simulation", "features", "loader", "encoder", "flow", "training", "tray"]


def stamp_rows(rows: list, date: str, command: str) -> list:
    """``_common.stamp_rows``: each row with the date and command of this run."""
    return _common().stamp_rows(rows, date, command)


def _common():
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import _common

    return _common


def _load(topic: str):
    if str(HERE) not in sys.path:  # the scripts import benchmarks/_common.py
        sys.path.insert(0, str(HERE))
    path = HERE / f"bench_{topic}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{topic}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def machine() -> dict:
    import torch

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    parser.add_argument("--only", default=None, help="comma-separated topics")
    args = parser.parse_args(argv)
    topics = args.only.split(",") if args.only else TOPICS
    command = " ".join(["python", *sys.argv])
    out = {"machine": machine(), "command": command, "topics": {}}
    failed = []
    for topic in topics:
        if not (HERE / f"bench_{topic}.py").exists():
            print(f"[{topic}] no benchmark file, skipped", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        try:
            rows = _load(topic).run(quick=args.quick)
        except Exception:
            traceback.print_exc()
            failed.append(topic)
            continue
        out["topics"][topic] = {
            "seconds": time.perf_counter() - t0,
            "rows": stamp_rows(rows, out["machine"]["date"], command),
        }
    RESULTS.mkdir(exist_ok=True)
    name = "all_quick.json" if args.quick else "all.json"
    (RESULTS / name).write_text(json.dumps(out, indent=1, default=float))
    print(f"{'topic':<11} {'benchmark':<52} {'value':>12}  unit")
    for topic, res in out["topics"].items():
        for r in res["rows"]:
            v = r.get("value")
            vs = f"{v:12.4g}" if isinstance(v, (int, float)) else f"{v!s:>12}"
            print(f"{topic:<11} {r.get('name', '')[:52]:<52} {vs}  {r.get('unit', '')}")
    print(f"wrote {RESULTS / name}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
