"""Normalisation: YAML format of the original scripts, group order, statistics from data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from _dataset_helpers import (
    naive_normalize,
    original_feature_indices,
    simulated_folder,
    some_normalization,
    write_original_folder,
)
from llp_gap_reco.data.parquet.format import DatasetFormatError
from llp_gap_reco.dataset import (
    ConvertedFolder,
    Normalization,
    compute_normalization,
    read_data_file,
)


def test_yaml_round_trip_in_user_format(tmp_path):
    args = some_normalization(original_feature_indices())
    path = tmp_path / "norm.yaml"
    path.write_text(yaml.safe_dump(args))  # how users hold them: a plain mapping
    norm = Normalization.from_yaml(path)
    assert norm.groups == args
    norm.to_yaml(tmp_path / "again.yaml")
    assert yaml.safe_load(open(tmp_path / "again.yaml")) == args
    nested = tmp_path / "nested.yaml"
    nested.write_text(yaml.safe_dump({"normalization_args": args}))
    assert Normalization.from_yaml(nested).groups == args
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"position": {"offset": 1.0}}))
    with pytest.raises(DatasetFormatError, match=r"bad\.yaml.*'position'.*scale"):
        Normalization.from_yaml(bad)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_apply_matches_sequential_reference(backend):
    fi = original_feature_indices()  # column 3 belongs to two groups
    args = some_normalization(fi)
    x = np.random.default_rng(0).normal(size=(50, 11)) * 100
    ref = naive_normalize(x, fi, args)
    norm = Normalization(args)
    inp = torch.from_numpy(x) if backend == "torch" else x
    out = norm.apply(inp, fi)
    out = out.numpy() if backend == "torch" else out
    np.testing.assert_allclose(out, ref, rtol=1e-13)
    np.testing.assert_array_equal(inp if backend == "numpy" else inp.numpy(), x)  # not in place
    np.testing.assert_allclose(norm.invert(out, fi), x, rtol=1e-12, atol=1e-9)
    a, b = norm.affine(fi, 11)
    np.testing.assert_allclose(x * a + b, ref, rtol=1e-12, atol=1e-12)


def test_compute_normalization_from_data(tmp_path_factory):
    folder = simulated_folder(tmp_path_factory)
    cf = ConvertedFolder(folder)
    norm = compute_normalization(folder)
    x = np.concatenate([read_data_file(f).features for f in cf.files]).astype(np.float64)
    for g, cols in cf.feature_indices.items():
        v = x[:, cols].ravel()
        assert norm.groups[g]["offset"] == pytest.approx(v.mean(), rel=1e-9, abs=1e-9)
        assert norm.groups[g]["scale"] == pytest.approx(1 / v.std(), rel=1e-9)
        z = norm.apply(x, cf.feature_indices)[:, cols].ravel()
        assert abs(z.mean()) < 1e-9 and z.std() == pytest.approx(1.0, rel=1e-9)


def test_compute_normalization_on_original_layout_standardises_every_column_once(tmp_path):
    """Column 3 is listed by ``log_charges`` and ``log_total_charge``: after ``apply`` it and
    every other column group is standardised once (mean 0, std 1), not twice."""
    folder = str(tmp_path / "orig")
    write_original_folder(folder, n_files=2, per_file=30, seed=4)
    cf = ConvertedFolder(folder)
    fi = cf.feature_indices
    norm = compute_normalization(folder)
    x = np.concatenate([read_data_file(f).features for f in cf.files]).astype(np.float64)
    z = naive_normalize(x, fi, norm.to_dict())  # the original LLPDataset's order of groups
    # the shared column, standardised by its last group
    assert abs(z[:, 3].mean()) < 1e-9 and z[:, 3].std() == pytest.approx(1.0, rel=1e-9)
    # log_charges: fitted on the raw values of all its columns (column 3 counted once)
    raw = x[:, [3, 4, 5, 6]].ravel()
    assert norm.groups["log_charges"]["offset"] == pytest.approx(raw.mean(), rel=1e-9)
    assert norm.groups["log_charges"]["scale"] == pytest.approx(1 / raw.std(), rel=1e-9)
    for g in ("position", "time_widths", "abs_times"):
        v = z[:, fi[g]].ravel()
        assert abs(v.mean()) < 1e-9 and v.std() == pytest.approx(1.0, rel=1e-9)
