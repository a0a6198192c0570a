"""LLPGapReco and the I3 conversion on files in the format of processed IceCube data.

The files are written with the real icetray by ``_i3_realformat``: I and S frames, an IC86
geometry plus multi-PMT modules, bad-DOM lists in D frames (changed midway), saturation and
calibration-errata windows in Q frames, masks (and masks of masks, and a union) over
``InIcePulses``, several sub-event streams. The expected encoder input of every event is computed
from the numpy arrays the file was written from, with a naive per-pulse exclusion loop. The IC86
geometry is a stand-in table in graphnet's ``icecube86.parquet`` format (``_ic86_table``), also
the table for files without GCD.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib

import numpy as np
import pytest
from _i3_realformat import write_realformat_i3
from _ic86_table import write_graphnet_standin
from _training_helpers import make_bundle, make_folder
from llp_gap_reco.core.status import Status
from llp_gap_reco.features import FeatureExtractor

pytestmark = pytest.mark.icetray

N_EVENTS = 40
ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    from llp_gap_reco.bundle import save_bundle

    tmp = tmp_path_factory.mktemp("realformat")
    bundle = make_bundle(make_folder(tmp / "train", n_events=80, events_per_file=40))
    model = str(save_bundle(bundle, tmp / "model.pt"))
    table = str(write_graphnet_standin(tmp / "icecube86.parquet"))
    path = str(tmp / "standin.i3.zst")
    expected = write_realformat_i3(path, N_EVENTS, table, seed=3)
    nogcd = str(tmp / "nogcd.i3.zst")
    expected_nogcd = write_realformat_i3(nogcd, 12, table, seed=4, with_gcd=False)
    return {
        "tmp": tmp,
        "model": model,
        "table": table,
        "input": path,
        "expected": expected,
        "nogcd": nogcd,
        "expected_nogcd": expected_nogcd,
    }


def recording_module():
    """LLPGapReco that also keeps the feature arrays it hands to the model (encoder input)."""
    from llp_gap_reco import LLPGapReco

    class Recording(LLPGapReco):
        inputs: list = []
        fail_batches: set = set()
        batch = 0

        def _reconstruct(self, features):
            type(self).batch += 1
            if type(self).batch in type(self).fail_batches:
                raise MemoryError("simulated out-of-memory")
            type(self).inputs.extend(np.array(f) for f in features)
            return super()._reconstruct(features)

    Recording.inputs, Recording.fail_batches, Recording.batch = [], set(), 0
    return Recording


def run_tray(infile, outfile, module, **params):
    from icecube import dataio  # noqa: F401
    from icecube.icetray import I3Tray

    tray = I3Tray()
    tray.AddModule("I3Reader", "reader", Filename=infile)
    tray.AddModule(module, "llpreco", **params)
    tray.AddModule("I3Writer", "writer", Filename=outfile)
    tray.Execute()


def signature(frame):
    h = frame["I3EventHeader"] if "I3EventHeader" in frame else None
    return (
        frame.Stop.id,
        h.run_id if h else -1,
        h.event_id if h else -1,
        h.sub_event_stream if h else "",
        h.sub_event_id if h else -1,
    )


def frames_of(path):
    from icecube import dataio

    return list(dataio.I3File(path))


def naive_exclude(pulses, bad, windows, partial):
    """Pulses kept and hit modules removed, by a loop over pulses (reference)."""
    bad = {tuple(int(v) for v in k) for k in bad}
    keep = []
    for s, o, p, t, _, _ in pulses:
        key = (int(s), int(o), int(p))
        drop = key in bad
        for ws, wo, wp, a, b in windows:
            if (int(ws), int(wo), int(wp)) == key and (not partial or a <= t <= b):
                drop = True
        keep.append(not drop)
    keep = np.array(keep, dtype=bool)
    mods = {(int(s), int(o)) for s, o in pulses[:, :2]}
    kept = {(int(s), int(o)) for s, o in pulses[keep, :2]}
    return pulses[keep], len(mods - kept)


def expected_input(exp, pulses, geometry, bad_keys, partial):
    bad = exp.bad_doms[:5] if bad_keys == ("BadDomsList",) else exp.bad_doms
    kept, n_removed = naive_exclude(pulses, bad, exp.windows, partial)
    return FeatureExtractor().event_features(kept, geometry), n_removed


@pytest.mark.parametrize(
    "pulses,partial,extra_keys",
    [
        ("SplitInIcePulses", None, None),  # the bundle's exclusions
        ("SRTInIcePulses", True, ["BadDomsListSLC"]),  # a mask of a mask, partial exclusion
        ("SplitInIcePulsesHLCSLC", False, []),  # a union; no exclusion at all
    ],
)
def test_frames_masks_exclusions_multi_pmt(standin, tmp_path, capfd, pulses, partial, extra_keys):
    from _i3_realformat import geometry_with_mdoms
    from llp_gap_reco.bundle import load_bundle

    trained = load_bundle(standin["model"]).feature_config["dom_exclusions"]
    assert trained == {
        "exclusions": ["SaturationWindows", "BadDomsList", "CalibrationErrata"],
        "partial_exclusion": False,
    }  # the bundle records its exclusions

    module = recording_module()
    keys = (
        None
        if extra_keys is None
        else (
            ["SaturationWindows", "BadDomsList", "CalibrationErrata"] + extra_keys
            if extra_keys
            else []
        )
    )
    out = str(tmp_path / "out.i3.zst")
    run_tray(
        standin["input"],
        out,
        module,
        ModelPath=standin["model"],
        Pulses=pulses,
        SubEventStream="InIceSplit",
        BatchSize=7,
        Samples=16,
        DOMExclusions=keys,
        PartialExclusion=partial,
        SummaryFile=str(tmp_path / "summary.json"),
    )
    warned = "differ from those the model was trained with" in capfd.readouterr().err
    assert warned == (extra_keys is not None)  # told otherwise than the bundle: a warning
    fin, fout = frames_of(standin["input"]), frames_of(out)
    # I3Writer writes its own TrayInfo frame first; every input frame follows, in order
    assert [signature(f) for f in fout if f.Stop.id != "I"] == [
        signature(f) for f in fin if f.Stop.id != "I"
    ]
    assert sum(f.Stop.id == "I" for f in fout) >= sum(f.Stop.id == "I" for f in fin)
    assert {f.Stop.id for f in fin} >= {"I", "G", "C", "D", "Q", "P", "S"}

    geometry = geometry_with_mdoms(standin["table"])
    reco = [
        f for f in fout if f.Stop.id == "P" and f["I3EventHeader"].sub_event_stream == "InIceSplit"
    ]
    others = [
        f for f in fout if f.Stop.id == "P" and f["I3EventHeader"].sub_event_stream != "InIceSplit"
    ]
    assert len(reco) == len(standin["expected"]) and others
    assert not any("LLPGapReco_Params" in f for f in others)
    bad_keys = ("BadDomsList",) if extra_keys is None else ("BadDomsList", "BadDomsListSLC")
    inputs = iter(module.inputs)
    n_removed_total = 0
    for f, exp in zip(reco, standin["expected"]):
        h = f["I3EventHeader"]
        assert (h.event_id, h.sub_event_id) == (exp.event_id, exp.sub_event_id)
        src = {
            "SplitInIcePulses": exp.split,
            "SRTInIcePulses": exp.srt,
            "SplitInIcePulsesHLCSLC": exp.split,
        }[pulses]
        if keys == []:
            want, n_removed = FeatureExtractor().event_features(src, geometry), 0
        else:
            want, n_removed = expected_input(exp, src, geometry, bad_keys, bool(partial))
        params = f["LLPGapReco_Params"]
        assert params["n_doms_excluded"] == n_removed
        n_removed_total += n_removed
        if want.shape[0] == 0:
            assert params["status"] == Status.NO_DOMS_AFTER_CLEANING
            continue
        assert params["status"] == Status.OK, dict(params)
        got = next(inputs)
        np.testing.assert_array_equal(got, want)  # the encoder input, excluded DOMs absent
        assert params["n_doms"] == want.shape[0]
        cov = np.array(f["LLPGapReco_Covariance"])
        assert params["cov_prod_x_decay_y"] == pytest.approx(cov[0, 4], rel=1e-6)
    assert next(inputs, None) is None
    assert (n_removed_total > 0) == (keys != [])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["events"] == len(reco) == sum(summary["status"].values())
    assert summary["doms_excluded"] == n_removed_total


def test_mdom_pmts_are_summed_per_module(standin, tmp_path):
    """Pulses on PMTs 0-23 of one mDOM form one row whose TotalCharge is log(1 + sum q)."""
    module = recording_module()
    run_tray(
        standin["input"],
        str(tmp_path / "o.i3"),
        module,
        ModelPath=standin["model"],
        Pulses="SplitInIcePulses",
        SubEventStream="InIceSplit",
        Samples=16,
        DOMExclusions=[],
    )
    ex = FeatureExtractor()
    col = ex.names.index("TotalCharge")
    checked = 0
    for got, exp in zip(module.inputs, standin["expected"]):
        md = exp.split[(exp.split[:, 0] == 87) & (exp.split[:, 4] > 0)]  # NaN: cleaned away
        for om in np.unique(md[:, 1]):
            on = md[md[:, 1] == om]
            row = np.flatnonzero(
                (np.abs(got[:, 2] - (-200.0 - 10 * om)) < 1e-3) & (np.abs(got[:, 0] - 40.0) < 1e-3)
            )
            assert row.size == 1
            assert got[row[0], col] == pytest.approx(np.log1p(on[:, 4].sum()), rel=1e-5)
            checked += int(len(np.unique(on[:, 2])) > 1)
    assert checked > 0  # some modules had pulses on several PMTs
    refused = recording_module()
    out = str(tmp_path / "r.i3")
    run_tray(
        standin["input"],
        out,
        refused,
        ModelPath=standin["model"],
        Pulses="SplitInIcePulses",
        SubEventStream="InIceSplit",
        Samples=16,
        MultiPMT="refuse",
    )
    reco = [f for f in frames_of(out) if "LLPGapReco_Params" in f]
    for f, exp in zip(reco, standin["expected"]):
        multi = bool((exp.split[:, 2] != 0).any())
        assert (f["LLPGapReco_Params"]["status"] == Status.MULTI_PMT_REFUSED) == multi


def test_without_gcd_uses_the_geometry_table(standin, tmp_path):
    """No G/C/D frame: the IC86 table serves; absent exclusion keys are normal; mDOM hits are
    unknown to the IC86 table (per-event status), the rest is reconstructed."""
    module = recording_module()
    out = str(tmp_path / "o.i3")
    run_tray(
        standin["nogcd"],
        out,
        module,
        ModelPath=standin["model"],
        Pulses="SplitInIcePulses",
        SubEventStream="InIceSplit",
        Samples=16,
        GeometryTable=standin["table"],
    )
    reco = [f for f in frames_of(out) if "LLPGapReco_Params" in f]
    assert len(reco) == len(standin["expected_nogcd"])
    statuses = []
    for f, exp in zip(reco, standin["expected_nogcd"]):
        st = f["LLPGapReco_Params"]["status"]
        statuses.append(st)
        assert st == (Status.UNKNOWN_OMKEY if (exp.split[:, 0] == 87).any() else Status.OK)
    assert Status.OK in statuses and Status.UNKNOWN_OMKEY in statuses
    with pytest.raises(RuntimeError, match="before any geometry"):
        run_tray(
            standin["nogcd"],
            str(tmp_path / "x.i3"),
            recording_module(),
            ModelPath=standin["model"],
            Pulses="SplitInIcePulses",
        )


def test_unexpected_error_stops_the_tray_or_is_flagged(standin, tmp_path):
    module = recording_module()
    module.fail_batches = {2}
    with pytest.raises(RuntimeError):
        run_tray(
            standin["input"],
            str(tmp_path / "a.i3"),
            module,
            ModelPath=standin["model"],
            SubEventStream="InIceSplit",
            BatchSize=8,
            Samples=16,
            SummaryFile=str(tmp_path / "stopped.json"),
        )
    stopped = json.loads((tmp_path / "stopped.json").read_text())  # written although it stopped
    assert stopped["completed"] is False and "simulated out-of-memory" in stopped["error"]
    assert stopped["batches"] == 1 and sum(stopped["status"].values()) == 8  # batch 1 done
    module = recording_module()
    module.fail_batches = {2}
    out = str(tmp_path / "b.i3")
    run_tray(
        standin["input"],
        out,
        module,
        ModelPath=standin["model"],
        SubEventStream="InIceSplit",
        BatchSize=8,
        Samples=16,
        OnError="flag",
        SummaryFile=str(tmp_path / "s.json"),
    )
    fout = frames_of(out)
    assert [signature(f) for f in fout if f.Stop.id != "I"] == [
        signature(f) for f in frames_of(standin["input"]) if f.Stop.id != "I"
    ]
    statuses = [f["LLPGapReco_Params"]["status"] for f in fout if "LLPGapReco_Params" in f]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["completed"] is True and summary["error"] is None
    assert summary["status"]["ERROR"] == statuses.count(Status.ERROR) > 0
    assert sum(summary["status"].values()) == len(statuses) == len(standin["expected"])


def test_tableio_books_the_outputs(standin, tmp_path):
    """I3TableWriter (I3CSVTableService) books _Params (covariance entries included),
    _Production, _Decay and _Particle for the reconstructed stream."""
    import csv

    from icecube import dataio, tableio  # noqa: F401
    from icecube.icetray import I3Tray
    from llp_gap_reco import LLPGapReco

    out = tmp_path / "csv"
    keys = ["LLPGapReco_Params", "LLPGapReco_Production", "LLPGapReco_Decay", "LLPGapReco_Particle"]
    tray = I3Tray()
    tray.AddModule("I3Reader", "reader", Filename=standin["input"])
    tray.AddModule(
        LLPGapReco, "llpreco", ModelPath=standin["model"], SubEventStream="InIceSplit", Samples=16
    )
    tray.AddModule(
        tableio.I3TableWriter,
        "tables",
        TableService=tableio.I3CSVTableService(str(out)),
        Keys=keys,
        SubEventStreams=["InIceSplit"],
    )
    tray.AddModule("I3Writer", "writer", Filename=str(tmp_path / "o.i3"))
    tray.Execute()
    frames = [f for f in frames_of(str(tmp_path / "o.i3")) if "LLPGapReco_Params" in f]

    def table(key):  # the CSV service writes a header row, then a row of units/docs
        with open(out / f"{key}.csv") as fh:
            return list(csv.DictReader(fh))[1:]

    rows = table("LLPGapReco_Params")
    assert len(rows) == len(frames) == len(standin["expected"])
    assert len([c for c in rows[0] if c.startswith("cov_")]) == 21
    for row, f in zip(rows, frames):
        cov = np.array(f["LLPGapReco_Covariance"])
        assert float(row["cov_prod_y_decay_z"]) == pytest.approx(cov[1, 5], rel=1e-6)
        assert float(row["cov_decay_x_decay_x"]) == pytest.approx(cov[3, 3], rel=1e-6)
        assert int(row["Event"]) == f["I3EventHeader"].event_id
        assert int(row["SubEvent"]) == f["I3EventHeader"].sub_event_id
    for key in keys[1:]:
        assert len(table(key)) == len(frames)


def test_convert_shares_the_feature_path(standin, tmp_path):
    from llp_gap_reco.data.parquet.reader import ConvertedFolder, read_data_file
    from llp_gap_reco.i3.convert import convert_files

    module = recording_module()
    run_tray(
        standin["input"],
        str(tmp_path / "o.i3"),
        module,
        ModelPath=standin["model"],
        SubEventStream="InIceSplit",
        Samples=16,
    )
    folder = convert_files(
        None, [standin["input"]], str(tmp_path / "conv"), progress=False, events_per_file=1000
    )
    cf = ConvertedFolder(folder)
    dec = read_data_file(cf.files[0])
    rows = [dec.features[a:b] for a, b in zip(dec.offsets[:-1], dec.offsets[1:])]
    assert len(rows) == len(module.inputs) > 0
    for got, want in zip(rows, module.inputs):
        np.testing.assert_allclose(got, want, rtol=0, atol=0)


def test_reconstruct_script_exit_codes(standin, tmp_path):
    spec = importlib.util.spec_from_file_location(
        "reconstruct_i3", ROOT / "resources" / "examples" / "reconstruct_i3.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    base = [
        "-i",
        standin["nogcd"],
        "--model",
        standin["model"],
        "--samples",
        "16",
        "--geometry-table",
        standin["table"],
        "--pulses",
        "SplitInIcePulses",
    ]
    out = tmp_path / "o.i3.zst"
    # some events hit mDOMs unknown to the IC86 table: more than 0 % failed -> exit 3
    assert script.main(base + ["-o", str(out), "--max-failed-fraction", "0"]) == 3
    assert out.exists()
    summary = json.loads(pathlib.Path(str(out) + ".summary.json").read_text())
    assert summary["status"]["UNKNOWN_OMKEY"] > 0
    assert script.main(base + ["-o", str(out), "--max-failed-fraction", "1"]) == 0
    assert script.main(base + ["-o", str(out), "--model", str(tmp_path / "none.pt")]) == 2
