"""Converted folder: writer output, round trip against the feature extractor, resume, old files."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from _dataset_helpers import (
    EVENTS_PER_FILE,
    N_EVENTS,
    ROW_GROUP,
    SEED,
    original_feature_indices,
    simulated_folder,
    write_original_folder,
)
from llp_gap_reco.core.status import Status
from llp_gap_reco.data.parquet.format import TRUTH_KEYS
from llp_gap_reco.dataset import (
    ConvertedFolder,
    ConvertedFolderWriter,
    DatasetFormatError,
    read_data_file,
    write_simulated_folder,
)
from llp_gap_reco.features import FeatureExtractor
from llp_gap_reco.geometry import Geometry
from llp_gap_reco.simulation import simulate


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return simulated_folder(tmp_path_factory)


def test_folder_layout_and_index(folder):
    names = sorted(os.listdir(folder))
    data = [n for n in names if n.startswith("sim_signal.")]
    assert data == [f"sim_signal.{i:06d}.pq" for i in range(N_EVENTS // EVENTS_PER_FILE)]
    for aux in (
        "indexfile.pq",
        "feature_indices.yaml",
        "filelist.pq",
        "filelist.csv",
        "manifest.json",
    ):
        assert aux in names
    assert not [n for n in names if n.endswith(".tmp")]
    man = json.load(open(os.path.join(folder, "manifest.json")))
    assert man["complete"] and man["labeled"] and man["n_events"] == N_EVENTS
    assert man["feature_indices"] == FeatureExtractor().feature_indices
    idx = pq.read_table(os.path.join(folder, "indexfile.pq")).to_pandas()
    assert len(idx) == N_EVENTS
    assert (idx.groupby("file_index").size() == EVENTS_PER_FILE).all()
    assert (idx.rowgroup_index_within_file == idx.index_within_file // ROW_GROUP).all()
    for i, name in enumerate(data):
        pf = pq.ParquetFile(os.path.join(folder, name))
        assert [pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)] == [
            ROW_GROUP
        ] * (EVENTS_PER_FILE // ROW_GROUP)
        t = pf.read(columns=["run_id", "event_id", "nch", "string_list"]).to_pandas()
        rows = idx[idx.file_index == i].sort_values("index_within_file")
        np.testing.assert_array_equal(t.event_id, rows.event_id)
        np.testing.assert_array_equal(t.nch, [len(s) for s in t.string_list])
    fl = pq.read_table(os.path.join(folder, "filelist.pq")).to_pandas()
    assert fl.filename.tolist() == data and fl.num_events_per_file.sum() == N_EVENTS
    assert (
        yaml.safe_load(open(os.path.join(folder, "feature_indices.yaml")))
        == FeatureExtractor().feature_indices
    )


def test_round_trip_equals_feature_extractor(folder):
    geo = Geometry.icecube86_like()
    fx = FeatureExtractor()
    direct = {
        ev.event_id: (fx.extract(ev.pulses, geo), ev.truth) for ev in simulate(N_EVENTS, seed=SEED)
    }
    cf = ConvertedFolder(folder)
    seen = 0
    for path in cf.files:
        f = read_data_file(path, dim=cf.dim, targets=True)
        assert f.features.dtype == np.float32
        for i in range(f.n_events):
            ef, truth = direct[int(f.event_id[i])]
            np.testing.assert_array_equal(f.features[f.offsets[i] : f.offsets[i + 1]], ef.features)
            np.testing.assert_array_equal(
                f.targets[i],
                [truth[k] for k in ("prod_x", "prod_y", "prod_z", "decay_x", "decay_y", "decay_z")],
            )
            seen += 1
    assert seen == N_EVENTS


def _add_events(writer, n, start=0, bad_every=0):
    for k in range(start, start + n):
        rng = np.random.default_rng(k)  # event k is the same whoever writes it
        m = int(rng.integers(1, 6))
        feats = rng.normal(size=(m, 11)).astype(np.float32)
        status = Status.NO_PULSES if bad_every and k % bad_every == 0 else Status.OK
        truth = {key: float(k) + j for j, key in enumerate(TRUTH_KEYS)}
        muon = {"muon_energy": 2.0 * k, "zenith": 0.1, "muon_length": 900.0}
        writer.add(1, k, feats, np.arange(m), np.arange(m), truth=truth, muon=muon, status=status)


def test_bad_status_counted_not_written(tmp_path):
    fi = FeatureExtractor().feature_indices
    with ConvertedFolderWriter(str(tmp_path / "f"), {}, fi, events_per_file=7) as w:
        _add_events(w, 30, bad_every=5)
    man = json.load(open(tmp_path / "f" / "manifest.json"))
    assert man["skipped_by_status"] == {"NO_PULSES": 6}
    assert man["n_events"] == 24 and man["n_input_events"] == 30
    ids = np.concatenate(
        [read_data_file(str(tmp_path / "f" / f["name"])).event_id for f in man["files"]]
    )
    np.testing.assert_array_equal(ids, [k for k in range(30) if k % 5])
    idx = pq.read_table(tmp_path / "f" / "indexfile.pq").to_pandas()
    np.testing.assert_allclose(idx.muon_energy, 2.0 * ids)


def test_interrupted_writer_resumes_to_same_folder(tmp_path):
    fi = FeatureExtractor().feature_indices
    ref, part = str(tmp_path / "ref"), str(tmp_path / "part")
    with ConvertedFolderWriter(ref, {}, fi, events_per_file=8) as w:
        _add_events(w, 30)
    with pytest.raises(RuntimeError, match="interrupted"):
        with ConvertedFolderWriter(part, {}, fi, events_per_file=8) as w:
            _add_events(w, 19)  # two complete files, 3 events buffered
            raise RuntimeError("interrupted")
    assert sorted(n for n in os.listdir(part) if n.endswith(".pq")) == [
        "events.000000.pq",
        "events.000001.pq",
    ]
    assert not json.load(open(os.path.join(part, "manifest.json")))["complete"]
    open(os.path.join(part, ".events.000002.pq.tmp"), "w").write("half")  # killed mid-write
    with pytest.raises(FileExistsError, match="resume"):
        ConvertedFolderWriter(part, {}, fi, events_per_file=8)
    with pytest.raises(FileExistsError, match="different"):
        ConvertedFolderWriter(part, {}, fi, events_per_file=9, resume=True)
    w = ConvertedFolderWriter(part, {}, fi, events_per_file=8, resume=True)
    assert w.n_input_events == 16
    _add_events(w, 30 - 16, start=16)
    w.close()
    assert sorted(os.listdir(part)) == sorted(os.listdir(ref))
    for name in os.listdir(ref):
        if name.startswith("events.") or name == "indexfile.pq":
            assert pq.read_table(os.path.join(part, name)).equals(
                pq.read_table(os.path.join(ref, name))
            ), name


def test_simulated_folder_resume_matches_uninterrupted(tmp_path, monkeypatch):
    ref = str(tmp_path / "ref")
    write_simulated_folder(ref, 60, seed=3, events_per_file=20, progress=False)
    part = str(tmp_path / "part")
    import llp_gap_reco.data.parquet.simulated as sim_mod

    monkeypatch.setattr(sim_mod, "_CHUNK", 25)
    calls = {"n": 0}
    original = sim_mod.ConvertedFolderWriter.add_batch

    def failing(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, *a, **k)

    monkeypatch.setattr(sim_mod.ConvertedFolderWriter, "add_batch", failing)
    with pytest.raises(KeyboardInterrupt):
        write_simulated_folder(part, 60, seed=3, events_per_file=20, progress=False)
    monkeypatch.setattr(sim_mod.ConvertedFolderWriter, "add_batch", original)
    man = write_simulated_folder(part, 60, seed=3, events_per_file=20, progress=False, resume=True)
    assert man["complete"] and man["n_events"] == 60
    for f in man["files"]:
        a = pq.read_table(os.path.join(part, f["name"]))
        assert a.equals(pq.read_table(os.path.join(ref, f["name"])))
    # a complete folder: rerun with resume is a no-op
    assert (
        write_simulated_folder(part, 60, seed=3, events_per_file=20, progress=False, resume=True)[
            "n_events"
        ]
        == 60
    )


def test_simulated_folder_with_two_workers_equals_one(tmp_path, monkeypatch):
    import llp_gap_reco.data.parquet.simulated as sim_mod

    monkeypatch.setattr(sim_mod, "_CHUNK", 15)  # 4 chunks over 2 workers, 3 files
    kw = dict(seed=4, events_per_file=20, progress=False)
    one = write_simulated_folder(str(tmp_path / "one"), 60, **kw)
    two = write_simulated_folder(str(tmp_path / "two"), 60, workers=2, **kw)
    assert [f["name"] for f in one["files"]] == [f["name"] for f in two["files"]]
    for f in one["files"]:
        a = pq.read_table(str(tmp_path / "one" / f["name"]))
        assert a.num_rows == 20 and a.equals(pq.read_table(str(tmp_path / "two" / f["name"])))


def test_original_list_of_lists_files_decode(tmp_path):
    out = str(tmp_path / "orig")
    events = write_original_folder(out)
    cf = ConvertedFolder(out)
    assert [os.path.basename(f) for f in cf.files] == [f"base.{i:06d}.pq" for i in range(3)]
    assert cf.feature_indices == original_feature_indices() and cf.dim == 11
    for path in cf.files:
        f = read_data_file(path, dim=11, targets=True, expected_ids=cf.expected_ids(path))
        assert f.features.dtype == np.float64
        for i in range(f.n_events):
            feats, label = events[(int(f.run_id[i]), int(f.event_id[i]))]
            np.testing.assert_array_equal(f.features[f.offsets[i] : f.offsets[i + 1]], feats)
            np.testing.assert_array_equal(f.targets[i], label)


def test_flat_feature_layout_decodes_with_nch(tmp_path):
    rng = np.random.default_rng(2)
    n = rng.integers(1, 9, size=12)
    feats = [rng.normal(size=(k, 11)).astype(np.float32) for k in n]
    offsets = np.concatenate([[0], np.cumsum(n * 11)]).astype(np.int32)
    flat = pa.ListArray.from_arrays(pa.array(offsets), pa.array(np.concatenate(feats).ravel()))
    table = pa.table(
        {
            "run_id": np.zeros(12, np.int64),
            "event_id": np.arange(12),
            "data_encoded": flat,
            "nch": n,
        }
    )
    path = str(tmp_path / "flat.000000.pq")
    pq.write_table(table, path)
    f = read_data_file(path)
    np.testing.assert_array_equal(f.features, np.concatenate(feats))
    np.testing.assert_array_equal(np.diff(f.offsets), n)
    bad = table.set_column(3, "nch", pa.array(n + (np.arange(12) == 5)))
    pq.write_table(bad, path)
    with pytest.raises(DatasetFormatError, match=r"flat\.000000\.pq: event at row 5 has"):
        read_data_file(path)
