"""Bad input: every case gives an error naming file (and event), or a counted skip."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _dataset_helpers import write_original_folder
from llp_gap_reco.dataset import DatasetFormatError, LoaderConfig, PackedLoader, read_data_file


@pytest.fixture()
def orig(tmp_path):
    out = str(tmp_path / "orig")
    write_original_folder(out, n_files=2, per_file=20)
    return out


def _rewrite(path: str, fn) -> None:
    t = pq.read_table(path)
    pq.write_table(fn(t), path, row_group_size=10)


def _set_event(t: pa.Table, row: int, feats) -> pa.Table:
    col = t.column("data_encoded").to_pylist()
    col[row] = feats
    i = t.column_names.index("data_encoded")
    return t.set_column(i, "data_encoded", pa.array(col, t.schema.field(i).type))


def test_missing_and_unreadable_files(orig):
    os.remove(os.path.join(orig, "base.000001.pq"))
    with pytest.raises(FileNotFoundError, match=r"base\.000001\.pq"):
        PackedLoader(orig)
    with open(os.path.join(orig, "base.000001.pq"), "wb") as fh:
        fh.write(b"PAR1 this is not parquet")
    with pytest.raises(DatasetFormatError, match=r"base\.000001\.pq: unreadable"):
        PackedLoader(orig)
    with pytest.raises(DatasetFormatError, match=r"base\.000001\.pq: unreadable"):
        read_data_file(os.path.join(orig, "base.000001.pq"))
    with pytest.raises(FileNotFoundError, match="converted folder not found"):
        PackedLoader(orig + "_nowhere")


def test_schema_mismatch(orig):
    p = os.path.join(orig, "base.000000.pq")
    _rewrite(p, lambda t: t.drop_columns(["llp_decay_z"]))
    with pytest.raises(DatasetFormatError, match=r"base\.000000\.pq: missing column.*llp_decay_z"):
        read_data_file(p, targets=True)
    assert read_data_file(p, targets=False).n_events == 20
    _rewrite(p, lambda t: _set_event(t, 4, [[1.0] * 11, [2.0] * 10]))
    with pytest.raises(
        DatasetFormatError, match=r"base\.000000\.pq: event at row 4 has a DOM row of length 10"
    ):
        read_data_file(p, dim=11)
    _rewrite(
        p,
        lambda t: t.set_column(
            t.column_names.index("data_encoded"),
            "data_encoded",
            pa.array([[[0.5] * 10] * 3] * t.num_rows, pa.list_(pa.list_(pa.float64()))),
        ),
    )
    with pytest.raises(
        DatasetFormatError, match=r"base\.000000\.pq.*10 features per DOM, expected 11"
    ):
        read_data_file(p, dim=11)
    q = os.path.join(orig, "base.000001.pq")
    _rewrite(
        q,
        lambda t: t.set_column(
            t.column_names.index("data_encoded"), "data_encoded", pa.array([1.0] * t.num_rows)
        ),
    )
    with pytest.raises(
        DatasetFormatError, match=r"base\.000001\.pq: column 'data_encoded' has type double"
    ):
        read_data_file(q)


def test_index_disagreeing_with_data(orig):
    import pandas as pd

    idx = pd.read_parquet(os.path.join(orig, "indexfile.pq"))
    idx.loc[idx.index[-1], "run_id"] = 12345
    idx.to_parquet(os.path.join(orig, "indexfile.pq"))
    loader = PackedLoader(orig, LoaderConfig(shuffle=False))
    with pytest.raises(
        DatasetFormatError, match=r"base\.000001\.pq: event at row 19 .*run_id 12345"
    ):
        list(loader)
    idx.drop(idx.index[-1]).to_parquet(os.path.join(orig, "indexfile.pq"))
    with pytest.raises(
        DatasetFormatError, match=r"base\.000001\.pq: holds 20 events, indexfile\.pq lists 19"
    ):
        list(PackedLoader(orig, LoaderConfig(shuffle=False)))


@pytest.mark.parametrize("case", ["zero DOMs", "non-finite features"])
def test_bad_events_raise_or_skip_with_count(orig, case, caplog):
    p = os.path.join(orig, "base.000001.pq")
    bad = [] if case == "zero DOMs" else [[1.0] * 5 + [float("nan")] + [1.0] * 5]
    _rewrite(p, lambda t: _set_event(_set_event(t, 3, bad), 11, bad))
    with pytest.raises(
        DatasetFormatError,
        match=rf"base\.000001\.pq: event at row 3 \(run_id 7, "
        rf"event_id 1003\) has {case} \(2 such",
    ):
        list(PackedLoader(orig, LoaderConfig(shuffle=False)))
    f = read_data_file(p, bad_events="skip")
    assert f.skipped == {case: 2} and f.n_events == 18
    assert 1003 not in f.event_id and 1011 not in f.event_id
    ids = np.concatenate(
        [
            b.event_id.numpy()
            for b in PackedLoader(
                orig, LoaderConfig(shuffle=False, bad_events="skip", batch_size=8)
            )
        ]
    )
    assert len(ids) == 38 and len(set(ids.tolist())) == 38
    assert "skipped 2 bad event(s)" in caplog.text


def test_non_finite_targets_in_labeled_read(orig):
    p = os.path.join(orig, "base.000000.pq")

    def nan_target(t):
        v = t.column("llp_prod_y").to_numpy().copy()
        v[7] = np.nan
        return t.set_column(t.column_names.index("llp_prod_y"), "llp_prod_y", pa.array(v))

    _rewrite(p, nan_target)
    with pytest.raises(
        DatasetFormatError, match=r"base\.000000\.pq: event at row 7 .*non-finite targets"
    ):
        read_data_file(p, targets=True)
    assert read_data_file(p, targets=False).n_events == 20


def test_folder_without_files_or_feature_indices(tmp_path, orig):
    empty = tmp_path / "empty"
    shutil.copytree(orig, empty)
    for n in os.listdir(empty):
        if n.startswith("base") or n.startswith("filelist"):
            os.remove(empty / n)
    with pytest.raises(DatasetFormatError, match="no data files"):
        PackedLoader(str(empty))
    os.remove(os.path.join(orig, "feature_indices.yaml"))
    with pytest.raises(FileNotFoundError, match="feature_indices.yaml"):
        PackedLoader(orig)


def test_skipped_events_keep_equal_steps_across_ranks(tmp_path, caplog):
    out = str(tmp_path / "four")
    write_original_folder(out, n_files=4, per_file=20)
    p = os.path.join(out, "base.000002.pq")
    t = pq.read_table(p)
    for row in range(12):  # 12 events of one file have no DOM
        t = _set_event(t, row, [])
    pq.write_table(t, p, row_group_size=10)
    steps, ids = [], []
    for rank in range(2):
        loader = PackedLoader(
            out, LoaderConfig(batch_size=8, rank=rank, world_size=2, bad_events="skip", seed=1)
        )
        got = list(loader)
        steps.append(len(got))
        ids += [i for b in got for i in b.event_id.tolist()]
        assert len(got) == len(loader)
    assert steps[0] == steps[1] == 5  # 40 events per rank in batches of 8
    assert len(set(ids)) == 80 - 12 and not {2000 + r for r in range(12)} & set(ids)
    assert "repeating the last batch" in caplog.text
