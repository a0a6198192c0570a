"""LLPGapReco on real IceCube simulation files (skipped unless they are here).

Set ``LLP_GAP_RECO_REAL_I3_DIR`` to a folder with I3 files of processed IceCube simulation, e.g.
the test files of graphnet (``data/tests/i3/*/*_first_5_frames.i3.gz`` of
https://github.com/graphnet-team/graphnet: oscNext levels 3 and 7, an IC86 NuMu file, an Upgrade
file). Their GCD files are not public; the geometry comes from graphnet's surveyed IC86 table
(``data/geometry_tables/icecube/icecube86.parquet``, downloaded separately) named by
``LLP_GAP_RECO_IC86_TABLE`` or lying in that folder as ``icecube86.parquet``, or, for files with
Upgrade modules, from graphnet's ``icecube_upgrade.parquet`` when it is in that folder.

Each file goes through I3Reader -> LLPGapReco -> I3Writer. Checked: every frame kept in order,
a result or status on every P frame of the file's stream, and the encoder input equal to what a
per-pulse Python reference computes from the same frames (modules after the DOM exclusions, at
their table positions).
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest
from _ic86_table import NO_TABLE, real_ic86_table
from _training_helpers import make_bundle, make_folder
from llp_gap_reco.core.status import Status
from llp_gap_reco.geometry import Geometry

pytestmark = pytest.mark.icetray

REAL_DIR = os.environ.get("LLP_GAP_RECO_REAL_I3_DIR", "")
FILES = (
    sorted(p for p in pathlib.Path(REAL_DIR).glob("**/*.i3*") if "GeoCalib" not in p.name)
    if REAL_DIR
    else []
)
if not FILES:
    pytest.skip(
        "no real I3 files: set LLP_GAP_RECO_REAL_I3_DIR to a folder of IceCube I3 files "
        "(e.g. graphnet's data/tests/i3)",
        allow_module_level=True,
    )
IC86_TABLE = real_ic86_table()
if IC86_TABLE is None:
    pytest.skip(NO_TABLE, allow_module_level=True)

PULSE_CANDIDATES = ("SplitInIcePulses", "InIcePulses")
EXCLUSIONS = ("SaturationWindows", "BadDomsList", "CalibrationErrata")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from llp_gap_reco.bundle import save_bundle

    tmp = tmp_path_factory.mktemp("realfiles")
    bundle = make_bundle(make_folder(tmp / "train", n_events=80, events_per_file=40))
    return str(save_bundle(bundle, tmp / "model.pt"))


def stream_and_table(path: pathlib.Path):
    """The sub-event stream of the file's first P frame and the geometry table to use."""
    from icecube import dataio

    stream, upgrade = None, False
    for frame in dataio.I3File(str(path)):
        if frame.Stop.id == "P" and stream is None:
            stream = frame["I3EventHeader"].sub_event_stream
        upgrade |= any("mDOM" in k or "DEgg" in k for k in frame.keys())
    table = IC86_TABLE
    if upgrade and (pathlib.Path(REAL_DIR) / "icecube_upgrade.parquet").exists():
        table = pathlib.Path(REAL_DIR) / "icecube_upgrade.parquet"
    return stream, table


def reference(frame, pulse_key):
    """Per-pulse Python loop: modules (string, om) left after the exclusions, and those removed."""
    from icecube import dataclasses

    pulses = dataclasses.I3RecoPulseSeriesMap.from_frame(frame, pulse_key)
    bad, windows = set(), {}
    for key in EXCLUSIONS:
        if key not in frame:
            continue
        obj = frame[key]
        if isinstance(obj, dataclasses.I3VectorOMKey):
            bad |= {(k.string, k.om, k.pmt) for k in obj}
        else:
            for k, series in obj.items():
                windows.setdefault((k.string, k.om, k.pmt), []).extend(series)
    kept, hit = set(), set()
    for k, series in pulses.items():
        omkey = (k.string, k.om, k.pmt)
        for p in series:
            if not (p.charge > 0 and np.isfinite(p.time)):
                continue  # removed by the feature cleaning
            hit.add((k.string, k.om))
            if omkey not in bad and omkey not in windows:
                kept.add((k.string, k.om))
    return sorted(kept), len(hit - kept)


@pytest.mark.parametrize("path", FILES, ids=[p.name[:40] for p in FILES])
def test_real_file_end_to_end(path, model, tmp_path):
    from icecube import dataio, icetray
    from icecube.icetray import I3Tray
    from llp_gap_reco import LLPGapReco

    stream, table = stream_and_table(path)
    has_physics = stream is not None  # a file without P frames must still pass unchanged
    geometry = Geometry.from_table(table)
    refs, inputs = [], []

    def record(frame):
        if not has_physics or frame["I3EventHeader"].sub_event_stream != stream:
            return
        key = next((k for k in PULSE_CANDIDATES if k in frame), None)
        refs.append(reference(frame, key) if key else None)

    class Recording(LLPGapReco):
        def _reconstruct(self, features):
            inputs.extend(np.array(f) for f in features)
            return super()._reconstruct(features)

    key = None
    for frame in dataio.I3File(str(path)):  # P keys, else the Q frame's InIcePulses
        if frame.Stop.id == "P":
            key = next((k for k in PULSE_CANDIDATES if k in frame), "InIcePulses")
            break
    out = str(tmp_path / "out.i3.zst")
    tray = I3Tray()
    tray.AddModule("I3Reader", "reader", Filename=str(path))
    tray.AddModule(record, "reference", Streams=[icetray.I3Frame.Physics])
    tray.AddModule(
        Recording,
        "llpreco",
        ModelPath=model,
        Pulses=key,
        SubEventStream=stream,
        BatchSize=2,
        Samples=16,
        GeometryTable=str(table),
    )
    tray.AddModule("I3Writer", "writer", Filename=out)
    tray.Execute()

    def sig(f):
        h = f["I3EventHeader"] if "I3EventHeader" in f else None
        return (f.Stop.id, h.event_id if h else -1, h.sub_event_stream if h else "")

    fin, fout = list(dataio.I3File(str(path))), list(dataio.I3File(out))
    assert [sig(f) for f in fout if f.Stop.id != "I"] == [sig(f) for f in fin if f.Stop.id != "I"]
    reco = [f for f in fout if f.Stop.id == "P" and f["I3EventHeader"].sub_event_stream == stream]
    assert len(reco) == len(refs) and (len(reco) > 0) == has_physics
    inputs_it = iter(inputs)
    for f, ref in zip(reco, refs):
        params = f["LLPGapReco_Params"]
        status = Status(int(params["status"]))
        if ref is None:
            assert status is Status.PULSES_MISSING
            continue
        kept, n_removed = ref
        assert params["n_doms_excluded"] == n_removed
        known = geometry.index(np.array([k[0] for k in kept]), np.array([k[1] for k in kept]))
        if (known < 0).any():
            assert status is Status.UNKNOWN_OMKEY
            continue
        if not kept:
            assert status in (Status.NO_PULSES, Status.NO_DOMS_AFTER_CLEANING)
            continue
        assert status is Status.OK
        got = next(inputs_it)
        assert params["n_doms"] == len(kept) == got.shape[0]
        np.testing.assert_allclose(got[:, :3], geometry.pos[known], rtol=0, atol=1e-4)
        assert np.isfinite(f["LLPGapReco_Production"].x)
