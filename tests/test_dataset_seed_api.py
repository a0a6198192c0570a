"""The seed-compatible map-style datasets, against a re-implementation of the original
pandas ``iloc`` access (float64) on new and old folders."""

from __future__ import annotations

import glob
import os

import numpy as np
import pandas as pd
import pytest
import torch
from _dataset_helpers import (
    N_EVENTS,
    naive_normalize,
    original_feature_indices,
    simulated_folder,
    some_normalization,
    write_original_folder,
)
from llp_gap_reco.dataset import (
    DatasetFormatError,
    LLPDataset,
    LLPSubset,
    UnlabeledLLPDataset,
    llp_collate_fn,
    llp_collate_unlabeled_fn,
)
from torch.utils.data import DataLoader

LABEL = ["llp_prod_x", "llp_prod_y", "llp_prod_z", "llp_decay_x", "llp_decay_y", "llp_decay_z"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return simulated_folder(tmp_path_factory)


def original_item(folder: str, index_row, fi: dict, args: dict):
    """The original ``__getitem__``: pandas read of the file, ``iloc`` row, ``np.stack``."""
    files = sorted(
        f
        for f in glob.glob(os.path.join(folder, "*.pq"))
        if os.path.basename(f) not in ("indexfile.pq", "filelist.pq")
    )
    df = pd.read_parquet(files[int(index_row["file_index"])])
    row = df.iloc[int(index_row["index_within_file"])]
    assert row["event_id"] == index_row["event_id"]
    data = np.stack(row["data_encoded"], axis=0).astype(np.float64)
    return naive_normalize(data, fi, args), np.array([row[c] for c in LABEL])


def test_seed_example_runs_as_written(folder):
    top_folder = folder + "/"
    normalization_args = some_normalization(original_feature_indices())
    normalization_args.update(some_normalization({"log_total_charge": 0}))
    # --- the usage of the original scripts, unchanged ---
    file_paths = glob.glob(top_folder + "*.pq")
    dataset = LLPDataset(
        top_folder + "indexfile.pq",
        file_paths,
        top_folder + "feature_indices.yaml",
        normalize_data=True,
        normalization_args=normalization_args,
        device="cpu",
        dtype=torch.float32,
        shuffle_files=True,
    )
    dataloader = DataLoader(dataset, batch_size=16, shuffle=False, collate_fn=llp_collate_fn)
    datavecs, datalens, labels = next(iter(dataloader))
    # -----------------------------------------------------
    assert len(dataset) == N_EVENTS
    assert len(datavecs) == 16 and labels.shape == (16, 6) and labels.dtype == torch.float32
    assert all(
        v.shape == (1, int(n), 11) and v.dtype == torch.float32 for v, n in zip(datavecs, datalens)
    )
    fi = dataset.feature_indices
    idx = dataset.total_index_info
    for k in range(16):
        ref_x, ref_y = original_item(folder, idx.iloc[k], fi, normalization_args)
        np.testing.assert_allclose(datavecs[k][0].double().numpy(), ref_x, rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(labels[k].double().numpy(), ref_y, rtol=1e-6)
    n = sum(len(d) for d, _, _ in dataloader)
    assert n == N_EVENTS


def test_shuffle_within_files(folder):
    files = glob.glob(folder + "/*.pq")
    ds = LLPDataset(
        folder + "/indexfile.pq",
        files,
        folder + "/feature_indices.yaml",
        normalize_data=False,
        shuffle_files=True,
        seed=1,
    )
    first = ds.total_index_info.copy()
    assert (np.diff(first.file_index) >= 0).all()  # files stay in order
    ds.shuffle()
    second = ds.total_index_info
    assert (np.diff(second.file_index) >= 0).all()
    assert not (first.event_id.values == second.event_id.values).all()
    assert sorted(first.event_id) == sorted(second.event_id)
    for f in range(first.file_index.max() + 1):
        assert set(first.event_id[first.file_index == f]) == set(
            second.event_id[second.file_index == f]
        )
    fixed = LLPDataset(
        folder + "/indexfile.pq",
        files,
        folder + "/feature_indices.yaml",
        normalize_data=False,
        shuffle_files=False,
    )
    before = fixed.total_index_info.event_id.values.copy()
    fixed.shuffle()
    np.testing.assert_array_equal(fixed.total_index_info.event_id.values, before)


def test_old_folder_float64_and_overlapping_groups(tmp_path):
    out = str(tmp_path / "orig")
    events = write_original_folder(out, labeled=True)
    args = some_normalization(original_feature_indices())
    ds = LLPDataset(
        out + "/indexfile.pq",
        glob.glob(out + "/base*.pq"),
        out + "/feature_indices.yaml",
        normalize_data=True,
        normalize_target=True,
        normalization_args=args,
    )
    x, y = ds[5]
    assert x.dtype == torch.float64  # dtype=None keeps the stored precision, as before
    run, evt = ds.get_event_run_info(5)[::-1]
    feats, label = events[(int(run), int(evt))]
    # the total-charge column is normalised twice (log_charges, then log_total_charge)
    np.testing.assert_allclose(
        x.numpy(), naive_normalize(feats, ds.feature_indices, args), rtol=1e-12
    )
    np.testing.assert_allclose(y.double().numpy(), label * args["position"]["scale"], rtol=1e-6)
    assert ds.get_muon_info_from_idx(5) == (1e3, 0.5, 800.0)
    e, l_, *muon = ds.get_data_and_info(5)
    assert torch.equal(e, x) and muon == [1e3, 0.5, 800.0]


def test_unlabeled_and_subset(tmp_path, folder):
    out = str(tmp_path / "unl")
    events = write_original_folder(out, labeled=False, n_files=2)
    ds = UnlabeledLLPDataset(
        out + "/indexfile.pq",
        glob.glob(out + "/*.pq"),
        out + "/feature_indices.yaml",
        normalize_data=False,
    )
    dl = DataLoader(ds, batch_size=7, shuffle=False, collate_fn=llp_collate_unlabeled_fn)
    vecs, lens, labels = next(iter(dl))
    assert labels == [None] * 7
    for k in range(7):
        evt, run = ds.get_event_run_info(k)
        np.testing.assert_array_equal(vecs[k][0].numpy(), events[(int(run), int(evt))][0])
        assert int(lens[k]) == events[(int(run), int(evt))][0].shape[0]
    with pytest.raises(DatasetFormatError, match="missing column"):
        LLPDataset(
            out + "/indexfile.pq",
            glob.glob(out + "/*.pq"),
            out + "/feature_indices.yaml",
            normalize_data=False,
        )[0]
    full = LLPDataset(
        folder + "/indexfile.pq",
        glob.glob(folder + "/*.pq"),
        folder + "/feature_indices.yaml",
        normalize_data=False,
    )
    sub = LLPSubset(full, [3, 17, 250])
    assert len(sub) == 3
    assert torch.equal(sub[1][0], full[17][0])
    assert sub.get_muon_info_from_idx(2) == full.get_muon_info_from_idx(250)


def test_index_disagreeing_with_files_names_file_and_event(tmp_path):
    out = str(tmp_path / "orig")
    write_original_folder(out)
    idx = pd.read_parquet(out + "/indexfile.pq")
    idx.loc[25, "event_id"] = 99999
    idx.to_parquet(out + "/indexfile.pq")
    ds = LLPDataset(
        out + "/indexfile.pq",
        glob.glob(out + "/base*.pq"),
        out + "/feature_indices.yaml",
        normalize_data=False,
    )
    ds[0]  # file 0 is consistent
    with pytest.raises(DatasetFormatError, match=r"base\.000001\.pq: event at row 5 .*99999"):
        ds[25]
    with pytest.raises(DatasetFormatError, match="3 data files, 2 given"):
        LLPDataset(
            out + "/indexfile.pq",
            glob.glob(out + "/base*.pq")[:2],
            out + "/feature_indices.yaml",
            normalize_data=False,
        )
    with pytest.raises(DatasetFormatError, match="lacks group"):
        LLPDataset(
            out + "/indexfile.pq",
            glob.glob(out + "/base*.pq"),
            out + "/feature_indices.yaml",
            normalize_data=True,
            normalization_args={"position": {"offset": 0, "scale": 1}},
        )
