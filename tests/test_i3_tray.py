"""LLPGapReco and the I3 conversion in a real tray (needs icecube: marker ``icetray``).

A simulated I3 file (G, C, D, Q, P of two sub-event streams, a second G/C/D midway, and bad
events) goes through I3Reader -> LLPGapReco -> I3Writer; the frames read back must be the input
frames in the same order, with the outputs of ``predict`` on the parquet conversion of the same
file.
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from _training_helpers import make_bundle, make_folder

pytestmark = pytest.mark.icetray

N_EVENTS = 700  # x (Q + InIceSplit P + NullSplit P) + 2 x GCD >= 2,000 frames


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from icecube import dataclasses, dataio, icetray
    from llp_gap_reco.bundle import save_bundle
    from llp_gap_reco.i3.simulated_i3 import write_simulated_i3

    tmp = tmp_path_factory.mktemp("tray")
    bundle = make_bundle(make_folder(tmp / "train", n_events=120, events_per_file=60))
    model = str(save_bundle(bundle, tmp / "model.pt"))
    a, b = str(tmp / "a.i3"), str(tmp / "b.i3")
    write_simulated_i3(a, N_EVENTS // 2, seed=11, run_id=1)
    write_simulated_i3(b, N_EVENTS - N_EVENTS // 2, seed=12, run_id=2)
    bad = {}
    combined = str(tmp / "combined.i3.zst")
    out = dataio.I3File(combined, "w")
    n_phys = 0
    for path in (a, b):  # the second file's G, C, D frames land midway
        for frame in dataio.I3File(path):
            if (
                frame.Stop == icetray.I3Frame.Physics
                and frame["I3EventHeader"].sub_event_stream == "InIceSplit"
            ):
                n_phys += 1
                key = (frame["I3EventHeader"].run_id, frame["I3EventHeader"].event_id)
                if n_phys % 97 == 5:
                    del frame["SplitInIcePulses"]
                    bad[key] = 1  # PULSES_MISSING
                elif n_phys % 97 == 50:
                    del frame["SplitInIcePulses"]
                    frame["SplitInIcePulses"] = dataclasses.I3RecoPulseSeriesMap()
                    bad[key] = 2  # NO_PULSES
                elif n_phys % 97 == 70:  # every charge <= 0: nothing left after cleaning
                    pulses = frame["SplitInIcePulses"]
                    cleaned = dataclasses.I3RecoPulseSeriesMap()
                    for omkey, series in pulses.items():
                        new_series = dataclasses.I3RecoPulseSeries()
                        for p in series:
                            q = dataclasses.I3RecoPulse(p)
                            q.charge = 0.0
                            new_series.append(q)
                        cleaned[omkey] = new_series
                    del frame["SplitInIcePulses"]
                    frame["SplitInIcePulses"] = cleaned
                    bad[key] = 3  # NO_DOMS_AFTER_CLEANING
                elif n_phys % 97 == 90:  # a DOM that is not in the geometry
                    pulses = dataclasses.I3RecoPulseSeriesMap(frame["SplitInIcePulses"])
                    extra = dataclasses.I3RecoPulseSeries()
                    pulse = dataclasses.I3RecoPulse()
                    pulse.time, pulse.charge, pulse.width = 10000.0, 1.0, 5.0
                    extra.append(pulse)
                    pulses[icetray.OMKey(99, 1, 0)] = extra
                    del frame["SplitInIcePulses"]
                    frame["SplitInIcePulses"] = pulses
                    bad[key] = 4  # UNKNOWN_OMKEY
            out.push(frame)
    out.close()
    return {"model": model, "input": combined, "bad": bad, "tmp": tmp}


def frames_of(path):
    """Frames of an I3 file, without the TrayInfo ('I') frame that I3Writer adds."""
    from icecube import dataio

    return [f for f in dataio.I3File(path) if f.Stop.id != "I"]


def signature(frame):
    h = frame["I3EventHeader"] if "I3EventHeader" in frame else None
    return (
        frame.Stop.id,
        h.run_id if h else -1,
        h.event_id if h else -1,
        h.sub_event_stream if h else "",
    )


def test_frames_kept_in_order_and_outputs_match_predict(files):
    from icecube import dataio  # noqa: F401
    from icecube.icetray import I3Tray
    from llp_gap_reco import LLPGapReco
    from llp_gap_reco.bundle import load_bundle
    from llp_gap_reco.evaluation.predictions import predict_folder
    from llp_gap_reco.i3.convert import convert_files

    outfile = str(files["tmp"] / "reco.i3.zst")
    tray = I3Tray()
    tray.AddModule("I3Reader", "reader", Filename=files["input"])
    tray.AddModule(
        LLPGapReco,
        "llpreco",
        ModelPath=files["model"],
        BatchSize=64,
        SubEventStream="InIceSplit",
        Samples=256,
    )
    tray.AddModule("I3Writer", "writer", Filename=outfile)
    tray.Execute()

    fin, fout = frames_of(files["input"]), frames_of(outfile)
    assert len(fin) >= 2000
    assert [signature(f) for f in fout] == [signature(f) for f in fin]
    assert sum(f.Stop.id == "G" for f in fout) == 2

    folder = str(files["tmp"] / "converted")
    convert_files(None, [files["input"]], folder, events_per_file=200, progress=False)
    preds = str(files["tmp"] / "preds.parquet")
    predict_folder(load_bundle(files["model"]), folder, preds, n_samples=256, progress=False)
    table = pq.read_table(preds).to_pandas().set_index(["run_id", "event_id"])

    n_ok = 0
    for f in fout:
        if f.Stop.id != "P":
            continue
        h = f["I3EventHeader"]
        key = (h.run_id, h.event_id)
        if h.sub_event_stream != "InIceSplit":
            assert "LLPGapReco_Params" not in f
            continue
        params = f["LLPGapReco_Params"]
        if key in files["bad"]:
            assert params["status"] == files["bad"][key]
            assert np.isnan(f["LLPGapReco_Production"].x)
            assert f["LLPGapReco_Particle"].fit_status != f["LLPGapReco_Particle"].FitStatus.OK
            assert key not in table.index
            continue
        row = table.loc[key]
        assert params["status"] == 0 == row["status"]
        prod, decay = f["LLPGapReco_Production"], f["LLPGapReco_Decay"]
        got = np.array([prod.x, prod.y, prod.z, decay.x, decay.y, decay.z])
        want = row[["prod_x", "prod_y", "prod_z", "decay_x", "decay_y", "decay_z"]].to_numpy(float)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)  # metres
        cov = np.array(f["LLPGapReco_Covariance"])
        np.testing.assert_allclose(cov.ravel(), np.asarray(row["cov"], float), rtol=1e-3, atol=1e-3)
        assert params["gap_length"] == pytest.approx(row["gap_length"], rel=1e-4, abs=1e-3)
        p = f["LLPGapReco_Particle"]
        assert p.length == pytest.approx(params["gap_length"])
        step = got[3:] - got[:3]
        np.testing.assert_allclose(
            [p.dir.x, p.dir.y, p.dir.z], step / np.linalg.norm(step), atol=1e-9
        )
        n_ok += 1
    assert n_ok == len(table) and n_ok > 600


def test_existing_output_keys_stop_the_tray(files):
    from icecube.icetray import I3Tray
    from llp_gap_reco import LLPGapReco

    def add_clash(frame):
        from icecube import dataclasses

        frame["LLPGapReco_Params"] = dataclasses.I3MapStringDouble()

    tray = I3Tray()
    tray.AddModule("I3Reader", "reader", Filename=files["input"])
    tray.AddModule(add_clash, "clash", Streams=[__import__("icecube").icetray.I3Frame.Physics])
    tray.AddModule(LLPGapReco, "llpreco", ModelPath=files["model"])
    with pytest.raises(RuntimeError, match="already exist"):
        tray.Execute()


def test_physics_before_geometry_is_a_clear_error(files):
    from icecube import dataio, icetray
    from icecube.icetray import I3Tray
    from llp_gap_reco import LLPGapReco

    nogeo = str(files["tmp"] / "nogeo.i3")
    out = dataio.I3File(nogeo, "w")
    for frame in dataio.I3File(files["input"]):
        if frame.Stop == icetray.I3Frame.Geometry:
            continue
        out.push(frame)
        if frame.Stop == icetray.I3Frame.Physics:
            break
    out.close()
    tray = I3Tray()
    tray.AddModule("I3Reader", "reader", Filename=nogeo)
    tray.AddModule(LLPGapReco, "llpreco", ModelPath=files["model"])
    with pytest.raises(RuntimeError, match="before any geometry"):
        tray.Execute()


def test_simulate_i3_and_convert_cli(files, tmp_path):
    from llp_gap_reco.cli.main import main
    from llp_gap_reco.data.parquet.reader import ConvertedFolder

    i3 = str(tmp_path / "sim.i3.gz")
    assert main(["simulate", "--events", "30", "--seed", "4", "--i3", i3]) == 0
    assert main(["convert", "-i", i3, "-o", str(tmp_path / "conv"), "--events-per-file", "10"]) == 0
    cf = ConvertedFolder(str(tmp_path / "conv"))
    assert cf.manifest["n_events"] == 30
    # a rerun into the same folder (a resubmitted job) converts nothing twice
    assert main(["convert", "-i", i3, "-o", str(tmp_path / "conv"), "--events-per-file", "10"]) == 0
    cf = ConvertedFolder(str(tmp_path / "conv"))
    assert cf.manifest["n_events"] == 30 and len(cf.files) == 3
    # truth decay vertex recomputed from LLPInfo equals the simulator's
    from llp_gap_reco.dataset import read_data_file
    from llp_gap_reco.simulation import simulate

    targets = np.concatenate([read_data_file(f, targets=True).targets for f in cf.files])
    truth = np.array(
        [
            [e.truth[k] for k in ("prod_x", "prod_y", "prod_z", "decay_x", "decay_y", "decay_z")]
            for e in simulate(30, seed=4)
        ]
    )
    np.testing.assert_allclose(targets, truth, rtol=1e-9, atol=1e-6)


def test_convert_of_a_truncated_file_is_a_one_line_error(files, tmp_path, capsys):
    from llp_gap_reco.cli.main import main
    from llp_gap_reco.i3.simulated_i3 import write_simulated_i3

    good, cut = tmp_path / "sim.i3", tmp_path / "cut.i3"
    write_simulated_i3(str(good), 20, seed=5, run_id=5)
    data = good.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])  # ends inside a frame
    assert main(["convert", "-i", str(cut), "-o", str(tmp_path / "conv")]) == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if "llp-gap-reco convert: error:" in x]
    assert len(lines) == 1 and f"Error reading {cut}" in lines[0], err
    assert "Traceback" not in err


def _with_bad_truth(good: str, bad: str) -> list[tuple[int, int]]:
    """Copy ``good`` to ``bad``; the 3rd InIceSplit P frame's LLPInfo loses prod_x, the 7th's
    gets a NaN length. Returns the (run, event) of the two."""
    from icecube import dataclasses, dataio, icetray

    out, n, hit = dataio.I3File(bad, "w"), 0, []
    for frame in dataio.I3File(good):
        if (
            frame.Stop == icetray.I3Frame.Physics
            and frame["I3EventHeader"].sub_event_stream == "InIceSplit"
        ):
            n += 1
            if n in (3, 7):
                info = dataclasses.I3MapStringDouble(frame["LLPInfo"])
                if n == 3:
                    del info["prod_x"]
                else:
                    info["length"] = float("nan")
                del frame["LLPInfo"]
                frame["LLPInfo"] = info
                header = frame["I3EventHeader"]
                hit.append((header.run_id, header.event_id))
        out.push(frame)
    out.close()
    return hit


def test_convert_stops_on_a_bad_truth_map_or_counts_it(files, tmp_path, capsys):
    from llp_gap_reco.cli.main import main
    from llp_gap_reco.core.errors import InputError
    from llp_gap_reco.data.parquet.reader import ConvertedFolder
    from llp_gap_reco.dataset import read_data_file
    from llp_gap_reco.i3.convert import convert_files
    from llp_gap_reco.i3.simulated_i3 import write_simulated_i3
    from llp_gap_reco.simulation import simulate

    good, bad = str(tmp_path / "good.i3"), str(tmp_path / "bad.i3")
    write_simulated_i3(good, 20, seed=8, run_id=3)
    (run3, ev3), (run7, ev7) = _with_bad_truth(good, bad)
    # OnError='raise' (default): a clear error naming the event and the missing key
    with pytest.raises(InputError, match=rf"run {run3} event {ev3}: .*lacks \['prod_x'\]"):
        convert_files(None, [bad], str(tmp_path / "stop"), events_per_file=5, progress=False)
    assert main(["convert", "-i", bad, "-o", str(tmp_path / "cli")]) == 2
    err = capsys.readouterr().err
    assert "lacks ['prod_x']" in err and "Traceback" not in err
    # OnError='flag': both events counted as ERROR, every other one written with its truth
    folder = str(tmp_path / "flag")
    assert main(["convert", "-i", bad, "-o", folder, "--events-per-file", "5",
                 "--on-error", "flag"]) == 0  # fmt: skip
    cf = ConvertedFolder(folder)
    assert cf.manifest["n_events"] == 18
    assert cf.manifest["skipped_by_status"] == {"ERROR": 2}
    keys = ("prod_x", "prod_y", "prod_z", "decay_x", "decay_y", "decay_z")
    kept = [e for e in simulate(20, seed=8, run_id=3) if (e.run_id, e.event_id) not in
            {(run3, ev3), (run7, ev7)}]  # fmt: skip
    assert len(kept) == 18
    targets = np.concatenate([read_data_file(f, targets=True).targets for f in cf.files])
    np.testing.assert_allclose(targets, [[e.truth[k] for k in keys] for e in kept], atol=1e-6)
