"""Training-data read speed (events/s on one core) on one generated converted folder.

``python benchmarks/bench_loader.py [--quick]`` prints a table and writes
``benchmarks/results/loader.json``. Rows:

* ``original_pandas_iloc``: the original access, written here as the baseline: ``pd.read_parquet``
  once per file, then per event ``df.iloc[i][column]`` for the features, ids and six labels,
  ``np.stack`` of the per-DOM rows, ``torch.tensor`` and per-group normalisation, in index order;
  batches as the original ``llp_collate_fn`` made them.
* ``llp_dataset_collate``: :class:`LLPDataset` in a ``DataLoader(shuffle=False,
  collate_fn=llp_collate_fn)``.
* ``packed_loader``: :class:`PackedLoader` (shuffled files, row groups and buffer), packed batches.
* ``packed_vs_original``: the speed-up of the packed loader (target >= 30x).

All timings with one torch and one Arrow thread; each reader is set up once. ``value`` is events
per CPU-second of the process (``time.process_time``), so that other work on the machine does
not distort it; wall-clock rates are stored too. Each is the best of several epochs (3 for the
baseline, over its first files; 10 for the others).
"""

from __future__ import annotations

import argparse
import glob
import os
import pathlib
import tempfile
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
import yaml
from _common import write_rows
from llp_gap_reco.data.parquet.format import DEFAULT_EVENTS_PER_FILE
from llp_gap_reco.dataset import (
    LLPDataset,
    LoaderConfig,
    PackedLoader,
    compute_normalization,
    llp_collate_fn,
    write_simulated_folder,
)
from torch.utils.data import DataLoader

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "loader.json"
LABELS = ["llp_prod_x", "llp_prod_y", "llp_prod_z", "llp_decay_x", "llp_decay_y", "llp_decay_z"]
BATCH = 256


class OriginalAccess:
    """The original per-event access (see module docstring), set up once like the dataset."""

    def __init__(self, folder: str, norm: dict) -> None:
        self.index = pd.read_parquet(os.path.join(folder, "indexfile.pq"))
        self.files = sorted(
            f
            for f in glob.glob(os.path.join(folder, "*.pq"))
            if os.path.basename(f) not in ("indexfile.pq", "filelist.pq")
        )
        with open(os.path.join(folder, "feature_indices.yaml")) as fh:
            self.fi = yaml.safe_load(fh)
        self.norm = norm
        self.current, self.df = -1, None

    def __getitem__(self, idx: int):
        row = self.index.iloc[idx]
        file_index, within = int(row["file_index"]), int(row["index_within_file"])
        if file_index != self.current:
            self.df = pd.read_parquet(self.files[file_index])
            self.current = file_index
            assert self.df.iloc[within]["event_id"] == row["event_id"]
            assert self.df.iloc[within]["run_id"] == row["run_id"]
        df = self.df
        data = df.iloc[within]["data_encoded"]
        label = torch.tensor([df.iloc[within][c] for c in LABELS], dtype=torch.float32)
        data = torch.tensor(np.stack(data, axis=0), dtype=torch.float32)
        for group, cols in self.fi.items():
            if self.norm[group]["offset"] != 0.0:
                data[:, cols] -= self.norm[group]["offset"]
            if self.norm[group]["scale"] != 1.0:
                data[:, cols] *= self.norm[group]["scale"]
        return data, label

    def epoch(self, max_events: int) -> int:
        """Read events in index order, collated in batches; returns events read."""
        self.current = -1
        batch, n = [], 0
        for idx in range(min(len(self.index), max_events)):
            batch.append(self[idx])
            n += 1
            if len(batch) == BATCH:
                llp_collate_fn(batch)
                batch = []
        return n


def _median_doms(folder: str) -> float:
    files = sorted(glob.glob(os.path.join(folder, "sim_*.pq")))
    return float(np.median(pd.concat([pd.read_parquet(f, columns=["nch"]) for f in files]).nch))


def _best_rate(fn, repeats: int) -> dict:
    """Events per CPU-second of this process (insensitive to other processes' load) and per
    wall-clock second: best and median over ``repeats`` calls of ``fn() -> events``."""
    cpu, wall = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        n = fn()
        cpu.append(n / (time.process_time() - c0))
        wall.append(n / (time.perf_counter() - t0))
    return {
        "cpu": max(cpu),
        "cpu_median": float(np.median(cpu)),
        "wall": max(wall),
        "wall_median": float(np.median(wall)),
    }


def _row(name: str, r: dict, **extra) -> dict:
    return {
        "name": name,
        "value": round(r["cpu"]),
        "unit": "events/s/core",
        "median_of_runs": round(r["cpu_median"]),
        "wall_clock_best": round(r["wall"]),
        "wall_clock_median": round(r["wall_median"]),
        **extra,
    }


def run(quick: bool = False) -> list[dict]:
    torch.set_num_threads(1)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    n_events = 1000 if quick else 5000
    per_file = 250 if quick else DEFAULT_EVENTS_PER_FILE
    # best of several timed epochs: about one second of work per reader, so that a moment
    # without competing load is caught for each
    repeats = 2 if quick else 3
    fast_repeats = 4 if quick else 10
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "folder")
        write_simulated_folder(folder, n_events, seed=0, events_per_file=per_file, progress=False)
        norm = compute_normalization(folder)
        common = {
            "events_in_folder": n_events,
            "events_per_file": per_file,
            "batch_size": BATCH,
            "median_doms": _median_doms(folder),
            "cpu_count": os.cpu_count(),
            "load_avg_1min": os.getloadavg()[0],
        }
        # the baseline is slow: time it on a subset of whole files
        n_orig = min(n_events, 2 * per_file)
        original = OriginalAccess(folder, norm.to_dict())
        orig = _best_rate(lambda: original.epoch(n_orig), repeats)
        ds = LLPDataset(
            os.path.join(folder, "indexfile.pq"),
            glob.glob(folder + "/*.pq"),
            os.path.join(folder, "feature_indices.yaml"),
            normalization_args=norm.to_dict(),
            dtype=torch.float32,
            shuffle_files=True,
            seed=0,
        )
        dl = DataLoader(ds, batch_size=BATCH, shuffle=False, collate_fn=llp_collate_fn)
        loader = PackedLoader(folder, LoaderConfig(batch_size=BATCH, seed=0), norm)

        def dataset_pass() -> int:
            ds.shuffle()
            return sum(len(d) for d, _, _ in dl)

        def packed_pass() -> int:
            loader.set_epoch(loader.epoch + 1)
            return sum(b.batch_size for b in loader)

        ds_r = _best_rate(dataset_pass, fast_repeats)
        packed = _best_rate(packed_pass, fast_repeats)
    rows = [
        _row("original_pandas_iloc", orig, events_timed=n_orig, **common),
        _row("llp_dataset_collate", ds_r, **common),
        _row("packed_loader", packed, **common),
        {
            "name": "packed_vs_original",
            "value": round(packed["cpu"] / orig["cpu"], 1),
            "unit": "x",
            "target": ">= 30",
            "wall_clock_ratio": round(packed["wall"] / orig["wall"], 1),
            **common,
        },
        {
            "name": "llp_dataset_vs_original",
            "value": round(ds_r["cpu"] / orig["cpu"], 1),
            "unit": "x",
            **common,
        },
    ]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller folder, fewer repeats")
    rows = run(quick=ap.parse_args().quick)
    print(f"{'name':28s} {'value':>12s}  unit")
    for r in rows:
        print(f"{r['name']:28s} {r['value']:>12}  {r['unit']}")
    write_rows(rows, RESULTS)


if __name__ == "__main__":
    main()
