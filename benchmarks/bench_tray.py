"""Reconstruction throughput on CPU: per stage (features, encoder, flow summary) and through a
real tray (I3Reader -> LLPGapReco) when icecube is importable, on simulated events and, when
``LLP_GAP_RECO_REAL_I3_DIR`` names a folder of IceCube I3 files (e.g. graphnet's
``data/tests/i3``), on their real frames (repeated to a few thousand events; the IC86 files only,
pulses ``InIcePulses``, geometry: graphnet's surveyed ``icecube86.parquet``, downloaded separately
and named by ``LLP_GAP_RECO_IC86_TABLE`` or lying in that folder).

``python benchmarks/bench_tray.py [--quick]`` prints a table and writes
``benchmarks/results/tray.json``. The model has the default architecture
(``configs/train_default.yaml``: the encoder's default settings and the gggggt flow) after a
couple of training steps; speed does not depend on how well it is trained. Target: >= 500
events/s through the tray on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import tempfile
import time

import numpy as np
import torch
from _common import write_rows
from llp_gap_reco.bundle import load_bundle
from llp_gap_reco.dataset import write_simulated_folder
from llp_gap_reco.features import FeatureExtractor
from llp_gap_reco.geometry import Geometry
from llp_gap_reco.simulation import simulate
from llp_gap_reco.training import train

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "tray.json"
BATCH = 256
SAMPLES = 512


def _model(tmp: pathlib.Path) -> str:
    data = tmp / "train"
    write_simulated_folder(str(data), 400, seed=3, events_per_file=200, progress=False)
    res = train(
        data,
        tmp / "run",
        max_steps=2,
        epochs=1,
        progress=False,
        device="cpu",
        init_labels=300,
        val_fraction=0.5,
    )
    return str(res.bundle_path)


def _stages(bundle, events, geometry) -> list[dict]:
    ex = FeatureExtractor(bundle.feature_config)
    rows = []
    t0 = time.perf_counter()
    feats = [ex.extract(e.pulses, geometry).features for e in events]
    t_feat = time.perf_counter() - t0
    n = len(events)
    rows.append(
        {
            "name": "features (per-event extract, as in the module)",
            "value": n / t_feat,
            "unit": "events/s",
        }
    )
    t_enc = t_flow = 0.0
    for b in range(0, n, BATCH):
        chunk = feats[b : b + BATCH]
        seqlens = torch.tensor([f.shape[0] for f in chunk])
        x = bundle.normalize(torch.from_numpy(np.concatenate(chunk)))
        t0 = time.perf_counter()
        enc = bundle.encode(x, seqlens)
        t1 = time.perf_counter()
        with torch.inference_mode():
            bundle.head.summarize(enc.to(bundle.head.dtype), n_samples=SAMPLES, seed=0)
        t_flow += time.perf_counter() - t1
        t_enc += t1 - t0
    rows.append(
        {
            "name": f"encoder (batch {BATCH}, {bundle.attention_backend})",
            "value": n / t_enc,
            "unit": "events/s",
        }
    )
    rows.append(
        {"name": f"flow summary ({SAMPLES} Sobol samples)", "value": n / t_flow, "unit": "events/s"}
    )
    rows.append(
        {
            "name": "features + encoder + flow (no I/O)",
            "value": n / (t_feat + t_enc + t_flow),
            "unit": "events/s",
        }
    )
    return rows


def _tray(model: str, tmp: pathlib.Path, n: int) -> list[dict]:
    try:
        from icecube import dataio  # noqa: F401
        from icecube.icetray import I3Tray
    except ImportError:
        return [
            {
                "name": "tray (icecube not importable here)",
                "value": float("nan"),
                "unit": "events/s",
            }
        ]
    from llp_gap_reco import LLPGapReco
    from llp_gap_reco.i3.simulated_i3 import write_simulated_i3

    i3 = str(tmp / "events.i3")
    write_simulated_i3(i3, n, seed=9)

    def execute(with_reco: bool) -> float:
        tray = I3Tray()
        tray.AddModule("I3Reader", "reader", Filename=i3)
        if with_reco:
            tray.AddModule(
                LLPGapReco,
                "reco",
                ModelPath=model,
                BatchSize=BATCH,
                SubEventStream="InIceSplit",
                Samples=SAMPLES,
                Device="cpu",
            )
        t0 = time.perf_counter()
        tray.Execute()
        return time.perf_counter() - t0

    t_read = execute(False)
    t_all = execute(True)
    return [
        {
            "name": "tray: I3Reader + LLPGapReco",
            "value": n / t_all,
            "unit": "events/s",
            "events": n,
        },
        {
            "name": "tray: LLPGapReco alone (reader time subtracted)",
            "value": n / max(t_all - t_read, 1e-9),
            "unit": "events/s",
            "events": n,
        },
    ]


def _real_files() -> list[pathlib.Path]:
    folder = os.environ.get("LLP_GAP_RECO_REAL_I3_DIR")
    if not folder:
        return []
    return sorted(
        p
        for p in pathlib.Path(folder).glob("**/*.i3*")
        if "GeoCalib" not in p.name and "upgrade" not in p.name.lower()
    )


def _ic86_table() -> pathlib.Path | None:
    """graphnet's surveyed IC86 table: ``LLP_GAP_RECO_IC86_TABLE``, else ``icecube86.parquet`` in
    ``LLP_GAP_RECO_REAL_I3_DIR``."""
    named = os.environ.get("LLP_GAP_RECO_IC86_TABLE")
    if named:
        return pathlib.Path(named)
    folder = pathlib.Path(os.environ.get("LLP_GAP_RECO_REAL_I3_DIR") or ".")
    return folder / "icecube86.parquet" if (folder / "icecube86.parquet").is_file() else None


def _real_tray(model: str, tmp: pathlib.Path, n_target: int) -> list[dict]:
    """Real frames of the IC86 files, repeated into one file of about ``n_target`` P frames."""
    files = _real_files()
    table = _ic86_table()
    if not files or table is None:
        return [
            {
                "name": "real files (set LLP_GAP_RECO_REAL_I3_DIR and LLP_GAP_RECO_IC86_TABLE)",
                "value": float("nan"),
                "unit": "events/s",
            }
        ]
    from icecube import dataio
    from icecube.icetray import I3Tray
    from llp_gap_reco import LLPGapReco

    frames = [f for path in files for f in dataio.I3File(str(path)) if f.Stop.id in "QP"]
    n_phys = sum(f.Stop.id == "P" for f in frames)
    if n_phys == 0:
        return []
    path = str(tmp / "real.i3")
    out = dataio.I3File(path, "w")
    n = 0
    while n < n_target:
        for f in frames:
            out.push(f)
        n += n_phys
    out.close()

    def execute(with_reco: bool) -> float:
        tray = I3Tray()
        tray.AddModule("I3Reader", "reader", Filename=path)
        if with_reco:
            tray.AddModule(
                LLPGapReco,
                "reco",
                ModelPath=model,
                BatchSize=BATCH,
                Pulses="InIcePulses",
                Samples=SAMPLES,
                Device="cpu",
                GeometryTable=str(table),
            )
        t0 = time.perf_counter()
        tray.Execute()
        return time.perf_counter() - t0

    t_read = execute(False)
    t_all = execute(True)
    names = ",".join(p.name.split("_first")[0] for p in files)
    return [
        {
            "name": "real frames: I3Reader alone",
            "value": n / t_read,
            "unit": "events/s",
            "events": n,
            "files": names,
        },
        {
            "name": "real frames: I3Reader + LLPGapReco",
            "value": n / t_all,
            "unit": "events/s",
            "events": n,
            "files": names,
        },
        {
            "name": "real frames: LLPGapReco alone (reader time subtracted)",
            "value": n / max(t_all - t_read, 1e-9),
            "unit": "events/s",
            "events": n,
            "files": names,
        },
    ]


def run(quick: bool = False) -> list[dict]:
    n = 512 if quick else 2048
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        model = _model(tmp)
        bundle = load_bundle(model, device="cpu")
        geometry = Geometry.icecube86_like()
        events = list(simulate(n, seed=5, geometry=geometry))
        rows = _stages(bundle, events, geometry) + _tray(model, tmp, n)
        try:
            import icecube.icetray  # noqa: F401
        except ImportError:
            pass
        else:
            rows += _real_tray(model, tmp, n)
    ctx = {
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_avg_1min": os.getloadavg()[0],
        "batch_size": BATCH,
        "samples": SAMPLES,
    }
    return [dict(r, **ctx) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    rows = run(parser.parse_args().quick)
    write_rows(rows, RESULTS)
    for r in rows:
        print(f"{r['name']:<52} {r['value']:10.1f} {r['unit']}")


if __name__ == "__main__":
    main()
