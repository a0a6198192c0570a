"""Small data trains: the training / validation split falls back to events within files, and
``val_fraction=0`` trains without validation."""

from __future__ import annotations

import logging
import math
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from _cli_helpers import cli
from _training_helpers import make_folder, tiny_config
from llp_gap_reco.bundle import load_bundle
from llp_gap_reco.data.parquet import ConvertedFolder, LoaderConfig, split_train_val
from llp_gap_reco.dataset import PackedLoader, read_data_file, split_files
from llp_gap_reco.training import Trainer, train

TINY_YAML = """
epochs: 2
max_steps: 12
batch_size: 32
init_labels: 100
progress: false
encoder: {output_dim: 16, io_mlp_hidden_dims: '16', attn_computational_dim: 16,
          attn_num_layers: 1, attn_num_heads_per_layer: 1, attn_internal_mlp_dim: 32}
flow: {flow_defs: gggggt, mlp_hidden_dims: [32]}
"""


def _ids(files) -> list[tuple[int, int]]:
    out = []
    for f in files:
        d = read_data_file(f, targets=True)
        out += list(zip(d.run_id.tolist(), d.event_id.tolist()))
    return out


@pytest.fixture(scope="module")
def one_file(tmp_path_factory):
    return make_folder(
        tmp_path_factory.mktemp("split") / "sim", n_events=200, events_per_file=1000, seed=3
    )


def test_single_file_splits_by_events(one_file, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        split = split_train_val(one_file, 0.15, seed=7, work_dir=tmp_path / "a")
    assert split.mode == "events" and "split by events" in caplog.text
    train, val = _ids(split.train_files), _ids(split.val_files)
    assert len(val) == 30 and len(train) == 170
    assert set(train).isdisjoint(val) and sorted(train + val) == sorted(
        _ids([os.path.join(one_file, "sim_signal.000000.pq")])
    )
    # the same rows, features and truth as the source events
    src = read_data_file(os.path.join(one_file, "sim_signal.000000.pq"), targets=True)
    got = read_data_file(split.val_files[0], targets=True)
    rows = np.searchsorted(src.event_id, got.event_id)
    np.testing.assert_array_equal(got.targets, src.targets[rows])
    np.testing.assert_array_equal(got.seqlens, src.seqlens[rows])
    # deterministic: same seed, same events; another seed, others
    again = split_train_val(one_file, 0.15, seed=7, work_dir=tmp_path / "b")
    assert _ids(again.val_files) == val
    assert _ids(split_train_val(one_file, 0.15, seed=8, work_dir=tmp_path / "c").val_files) != val


def test_event_split_in_pieces_for_ranks(one_file, tmp_path):
    split = split_train_val(one_file, 0.1, seed=1, work_dir=tmp_path, pieces=3)
    assert len(split.train_files) == 3 and len(split.val_files) == 1
    sizes = [pq.ParquetFile(f).metadata.num_rows for f in split.train_files]
    assert sum(sizes) == 180 and max(sizes) - min(sizes) <= 1
    loader = PackedLoader(
        split.train_files,
        LoaderConfig(batch_size=64, shuffle=False),
        targets=True,
        feature_indices=ConvertedFolder(one_file).feature_indices,
    )
    assert sum(b.batch_size for b in loader) == 180


def test_enough_files_split_by_files_and_zero_means_none(tmp_path):
    folder = make_folder(tmp_path / "sim", n_events=100, events_per_file=20)  # 5 files
    split = split_train_val(folder, 0.2, seed=0, work_dir=tmp_path / "w")
    assert split.mode == "files"
    assert (split.train_files, split.val_files) == split_files(folder, 0.2, seed=0)
    assert not (tmp_path / "w").exists()
    two = make_folder(tmp_path / "two", n_events=40, events_per_file=20)  # 0.2 x 2 < 1 file
    assert split_train_val(two, 0.2, seed=0, work_dir=tmp_path / "w2").mode == "events"
    none = split_train_val(folder, 0.0, seed=0, work_dir=tmp_path / "w3")
    assert none.mode == "none" and none.val_files == [] and len(none.train_files) == 5


def test_too_few_events_to_split_is_an_input_error(tmp_path):
    from llp_gap_reco.core.errors import InputError

    folder = make_folder(tmp_path / "one", n_events=1, events_per_file=10)
    with pytest.raises(InputError, match="too few to split"):
        split_train_val(folder, 0.1, seed=0, work_dir=tmp_path / "w")


def test_train_without_validation(one_file, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        result = train(
            one_file,
            tmp_path / "run",
            tiny_config(val_fraction=0.0, epochs=3, early_stopping_patience=1),
        )
    said = [r for r in caplog.records if "no validation events" in r.getMessage()]
    assert len(said) == 1 and "no early stopping" in said[0].getMessage()
    assert len(result.history) == 3 and result.stopped == "epochs"  # patience 1 never stops it
    assert all(math.isnan(r["val_loss"]) for r in result.history)
    bundle = load_bundle(result.bundle_path)
    assert bundle.training["val_files"] == [] and bundle.training["calibration"] is None
    assert bundle.flow.base_temperature == 1.0
    assert not (tmp_path / "run" / "split").exists()


def test_resume_keeps_the_event_split(one_file, tmp_path):
    run = tmp_path / "run"
    first = Trainer(one_file, run, tiny_config(epochs=1))
    first.run()
    again = Trainer(one_file, run, tiny_config(epochs=2), resume=True)
    assert (again.train_files, again.val_files) == (first.train_files, first.val_files)
    assert all(os.path.dirname(f) == str(run / "split") for f in again.val_files)


def test_cli_trains_on_a_single_file_folder(tmp_path):
    """The issue's example: ``simulate --out sim --events 600`` then ``train --data sim``."""
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    sim = cli("simulate", "--out", "sim", "--events", "600", cwd=tmp_path)
    assert sim.returncode == 0, sim.stderr
    assert len(list((tmp_path / "sim").glob("*.0*.pq"))) == 1
    proc = cli(
        "train",
        "--data",
        "sim",
        "--out",
        "run",
        "--config",
        "tiny.yaml",
        "--no-progress",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("split by events within the files") == 1
    assert "model bundle: run/model.pt" in proc.stdout
    bundle = load_bundle(tmp_path / "run" / "model.pt")
    assert bundle.kind == "flow" and bundle.training["global_step"] == 12
    names = bundle.training["train_files"] + bundle.training["val_files"]
    assert names == ["train.000.sim_signal.000000.pq", "val.sim_signal.000000.pq"]
