"""Shared helpers of the dataset/loader tests: generated folders and independent references."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from llp_gap_reco.dataset import write_simulated_folder

_CACHE: dict = {}

#: a small labeled folder: 8 data files of 40 events, row groups of 10
N_EVENTS, EVENTS_PER_FILE, ROW_GROUP = 320, 40, 10
SEED = 11


def simulated_folder(tmp_path_factory, kind: str = "signal") -> str:
    """Generated once per test process and shared (treat as read-only)."""
    key = ("sim", kind)
    if key not in _CACHE:
        out = str(tmp_path_factory.mktemp(f"sim_{kind}") / "folder")
        write_simulated_folder(
            out,
            N_EVENTS,
            seed=SEED,
            events_per_file=EVENTS_PER_FILE,
            kind=kind,
            progress=False,
            row_group_size=ROW_GROUP,
        )
        _CACHE[key] = out
    return _CACHE[key]


def original_feature_indices(dim: int = 11) -> dict:
    """The layout the original converter wrote: the total-charge column is listed twice
    (inside ``log_charges`` and as the scalar ``log_total_charge``)."""
    return {
        "abs_times": [9, 10],
        "log_charges": [3, 4, 5, 6],
        "log_total_charge": 3,
        "position": [0, 1, 2],
        "time_widths": [7, 8],
    }


def write_original_folder(
    out: str,
    n_files: int = 3,
    per_file: int = 20,
    dim: int = 11,
    seed: int = 0,
    labeled: bool = True,
) -> dict:
    """A folder as the original converter wrote it: ``data_encoded`` list<list<double>>,
    pandas-written index, ``filelist`` with absolute paths of another machine, sorted-key YAML.
    Returns the events as ``{(run, event): (features float64 [n, D], label [6])}``."""
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)
    index = {
        c: []
        for c in (
            "file_index",
            "index_within_file",
            "rowgroup_index_within_file",
            "event_id",
            "run_id",
            "muon_energy",
            "muon_zenith",
            "muon_length",
        )
    }
    events, names = {}, []
    for fi in range(n_files):
        rows = []
        for k in range(per_file):
            n = int(rng.integers(1, 30))
            feats = rng.normal(size=(n, dim)) * rng.uniform(1, 500, size=dim)
            label = rng.uniform(-500, 500, size=6)
            run, evt = 7, fi * 1000 + k
            events[(run, evt)] = (feats, label)
            row = {
                "data_encoded": feats.tolist(),
                "string_list": list(range(n)),
                "om_list": list(range(n)),
                "totcharge": float(rng.uniform(1, 100)),
                "nch": n,
                "run_id": run,
                "event_id": evt,
            }
            if labeled:
                row.update(
                    dict(
                        zip(
                            [
                                "llp_prod_x",
                                "llp_prod_y",
                                "llp_prod_z",
                                "llp_decay_x",
                                "llp_decay_y",
                                "llp_decay_z",
                            ],
                            label.tolist(),
                        )
                    )
                )
            rows.append(row)
            for c, v in (
                ("file_index", fi),
                ("index_within_file", k),
                ("rowgroup_index_within_file", k // 10),
                ("event_id", evt),
                ("run_id", run),
                ("muon_energy", 1e3),
                ("muon_zenith", 0.5),
                ("muon_length", 800.0),
            ):
                index[c].append(v)
        name = f"base.{fi:06d}.pq"
        names.append(f"/data/user/someone/converted/{name}")
        table = pa.Table.from_pylist(rows)
        assert table.schema.field("data_encoded").type == pa.list_(pa.list_(pa.float64()))
        pq.write_table(table, os.path.join(out, name), row_group_size=10)
    pd.DataFrame(index).to_parquet(os.path.join(out, "indexfile.pq"))
    fl = pd.DataFrame(
        {"filename": names, "effective_num_i3_files_per_pq": 1.0, "num_events_per_file": per_file}
    )
    fl.to_parquet(os.path.join(out, "filelist.pq"))
    fl.to_csv(os.path.join(out, "filelist.csv"))
    with open(os.path.join(out, "feature_indices.yaml"), "w") as fh:
        yaml.dump(original_feature_indices(dim), fh)
    return events


def naive_normalize(x: np.ndarray, feature_indices: dict, args: dict) -> np.ndarray:
    """Reference: float64, group by group in file order, column by column."""
    x = np.array(x, dtype=np.float64)
    for group, idx in feature_indices.items():
        for c in np.atleast_1d(idx):
            for r in range(x.shape[0]):
                x[r, c] = (x[r, c] - args[group]["offset"]) * args[group]["scale"]
    return x


def some_normalization(feature_indices: dict) -> dict:
    """Distinct, non-trivial offset/scale per group."""
    return {
        g: {"offset": 0.5 + 3.0 * i, "scale": 1.0 / (2.0 + i)}
        for i, g in enumerate(feature_indices)
    }


def ddp_worker(rank: int, world_size: int, init_file: str, folder: str, out_dir: str) -> None:
    """Body of one torch.distributed (gloo) process: read one epoch, save the event ids and the
    number of steps, and check that all ranks agree on the step count."""
    import json

    import torch
    import torch.distributed as dist
    from llp_gap_reco.dataset import LoaderConfig, PackedLoader

    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size
    )
    try:
        loader = PackedLoader(
            folder,
            LoaderConfig(batch_size=16, num_workers=2, seed=3, multiprocessing_context="fork"),
            epoch=1,
        )
        ids, steps = [], 0
        for batch in loader:
            ids += batch.event_id.tolist()
            steps += 1
            dist.all_reduce(torch.ones(1))  # a DDP step: hangs if ranks disagree on steps
        counts = [None] * world_size
        dist.all_gather_object(counts, steps)
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
            json.dump(
                {
                    "rank": loader.rank,
                    "world_size": loader.world_size,
                    "ids": ids,
                    "steps": steps,
                    "all_steps": counts,
                    "len": len(loader),
                },
                fh,
            )
    finally:
        dist.destroy_process_group()
