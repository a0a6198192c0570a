"""The input convention of converted folders: recorded by the writer, read from the layout of
the original converter's folders, contradictions refused."""

from __future__ import annotations

import json
import os

import pytest
from _dataset_helpers import simulated_folder, write_original_folder
from llp_gap_reco.data.parquet.convention import (
    ConventionMismatch,
    check_model_convention,
    folder_convention,
    folder_feature_config,
)
from llp_gap_reco.data.parquet.format import DatasetFormatError
from llp_gap_reco.dataset import ConvertedFolder, write_simulated_folder
from llp_gap_reco.features import FeatureExtractor


def test_writer_records_the_convention_and_layout(tmp_path):
    cfg = dict(FeatureExtractor().config, convention="original")
    out = str(tmp_path / "orig_conv")
    write_simulated_folder(out, 6, seed=3, events_per_file=6, progress=False, feature_config=cfg)
    folder = ConvertedFolder(out)
    assert folder.manifest["feature_config"]["convention"] == "original"
    assert folder_convention(folder) == "original"
    assert folder.feature_indices["log_charges"] == [3, 4, 5, 6]
    check_model_convention(cfg, out)  # same convention: accepted
    with pytest.raises(ConventionMismatch, match="'package' convention"):
        check_model_convention(FeatureExtractor().config, out)


def test_original_converter_folder_is_read_as_original(tmp_path, caplog):
    out = str(tmp_path / "orig")
    write_original_folder(out, n_files=1, per_file=4)
    folder = ConvertedFolder(out)
    assert folder_convention(folder) == "original"
    cfg = folder_feature_config(folder)
    assert cfg["convention"] == "original" and "no feature config" in caplog.text


def test_manifest_contradicting_the_layout_is_refused(tmp_path_factory, tmp_path):
    src = simulated_folder(tmp_path_factory)
    man = json.load(open(os.path.join(src, "manifest.json")))
    assert folder_convention(ConvertedFolder(src)) == "package"
    out = tmp_path / "bad"
    write_original_folder(str(out), n_files=1, per_file=4)
    (out / "manifest.json").write_text(json.dumps(man))  # says package, layout is original
    with pytest.raises(DatasetFormatError, match="names convention 'package'"):
        folder_convention(ConvertedFolder(str(out)))
