"""import-seed / export-seed with the original research code's files, checked against values
produced by running the original code (``tests/data/seed_reference``)."""

from __future__ import annotations

import math
import re

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from _seed_reference import (
    encoder_state,
    flow_state,
    geometry,
    load_reference,
    packed_items,
    relative_error,
    write_original_files,
    write_original_folder,
)
from _training_helpers import make_bundle, make_folder
from llp_gap_reco.bundle import load_bundle
from llp_gap_reco.cli.main import main
from llp_gap_reco.core.batch import PackedBatch
from llp_gap_reco.data.parquet.convention import ConventionMismatch
from llp_gap_reco.dataset import write_simulated_folder
from llp_gap_reco.evaluation.calibration import calibrate_bundle
from llp_gap_reco.evaluation.evaluate import evaluate
from llp_gap_reco.evaluation.predictions import predict_folder
from llp_gap_reco.features import FeatureExtractor
from llp_gap_reco.model.seed_import import mlp_hidden_dims

REF, META = load_reference()


@pytest.fixture()
def files(tmp_path):
    return write_original_files(REF, META, tmp_path / "original")


def _argv(files, out, *extra, settings="model.yaml", flow=True, encoder="model_best.pth"):
    argv = [
        "import-seed",
        "--settings",
        str(files[settings]),
        "--encoder-state",
        str(files[encoder]),
        "--normalization",
        str(files["normalization_args.yaml"]),
        "--feature-indices",
        str(files["feature_indices.yaml"]),
        "--out",
        str(out),
        *extra,
    ]
    if flow:
        argv[5:5] = ["--flow-state", str(files["flow_best.pth"])]
    return argv


def _import(files, out, *extra, **kw):
    assert main(_argv(files, out, *extra, **kw)) == 0
    return load_bundle(out)


def _refused(capsys, files, out, **kw) -> str:
    """The one-line error of an import the command line refuses (exit status 2)."""
    capsys.readouterr()
    assert main(_argv(files, out, **kw)) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("llp-gap-reco import-seed: error: ")
    return err


def test_imported_model_computes_what_the_original_code_computed(files, tmp_path):
    """Acceptance: original files in, the bundle's features from pulses are the original
    converter's, its normalisation the original LLPDataset's, its encoder and flow the
    original encoder and jammy_flows flow."""
    bundle = _import(
        files, tmp_path / "bundle.pt", "--feature-config", str(files["feature_config.yaml"])
    )
    assert bundle.convention == "original" and bundle.kind == "flow"
    assert bundle.feature_config["dom_exclusions"]["exclusions"] == [
        "SaturationWindows",
        "BadDomsList",
        "CalibrationErrata",
    ]
    geo = geometry(REF)
    bf = bundle.feature_extractor.batch_features(REF["pulses"], REF["pulse_offsets"], geo)
    assert relative_error(bf.features[:, 3:7], REF["encoded"][:, 3:7]) < 1e-5
    default = FeatureExtractor().batch_features(REF["pulses"], REF["pulse_offsets"], geo)
    q = np.expm1(np.expm1(REF["encoded"][:, 3]))
    assert relative_error(default.features[:, 3], np.log1p(q)) < 1e-5  # still log(1 + Q)

    x = bundle.normalize(torch.from_numpy(bf.features))
    np.testing.assert_allclose(x.numpy(), REF["items"], rtol=1e-5, atol=1e-5)
    items, seqlens = packed_items(REF)
    enc = bundle.encode(items, seqlens)
    np.testing.assert_allclose(enc.numpy(), REF["enc_output"], rtol=1e-5, atol=1e-6)
    logp = bundle.flow.log_prob(
        torch.from_numpy(REF["flow_labels"]), torch.from_numpy(REF["flow_encodings"])
    )
    np.testing.assert_allclose(logp.detach().numpy(), REF["flow_log_pdf"], rtol=1e-10)
    # the whole chain from pulses, against the original chain (converter -> LLPDataset ->
    # encoder -> jammy_flows)
    chain = bundle.flow.log_prob(
        torch.from_numpy(REF["flow_labels"][:6]), bundle.encode(x, seqlens).double()
    )
    np.testing.assert_allclose(chain.detach().numpy(), REF["flow_log_pdf"][:6], rtol=1e-4)


def test_default_feature_config_is_the_original_llp_no_percentile(files, tmp_path):
    bundle = _import(files, tmp_path / "b.pt")
    text = yaml.safe_load(files["feature_config.yaml"].read_text())
    assert bundle.feature_config == FeatureExtractor(dict(text, convention="original")).config


def test_no_cnf_encoder_imports_without_flow_state_and_predicts(files, tmp_path):
    bundle = _import(
        files,
        tmp_path / "point.pt",
        settings="model_no_cnf.yaml",
        flow=False,
        encoder="no_cnf_best.pth",
    )
    assert bundle.kind == "point" and bundle.convention == "original"
    items, seqlens = packed_items(REF)
    pred = bundle.predict_point(PackedBatch(items, seqlens))
    np.testing.assert_allclose(pred.numpy(), REF["nocnf_output"], rtol=1e-5, atol=1e-5)
    # and `predict` on the original converter's folder of those events
    folder = write_original_folder(REF, META, tmp_path / "orig_folder")
    assert (
        main(
            [
                "predict",
                "--model",
                str(tmp_path / "point.pt"),
                "--data",
                str(folder),
                "--out",
                str(tmp_path / "pred.pq"),
                "--no-progress",
            ]
        )
        == 0
    )
    table = pq.read_table(tmp_path / "pred.pq").to_pandas()
    cols = ["prod_x", "prod_y", "prod_z", "decay_x", "decay_y", "decay_z"]
    np.testing.assert_allclose(table[cols].to_numpy(), REF["nocnf_output"], rtol=1e-5, atol=1e-5)
    assert table["prod_x_sigma"].isna().all() and (table["status"] == 0).all()


def test_flow_mlp_widths_come_from_the_state_dict(files, tmp_path):
    """A checkpoint of the older jammy_flows default (64-64 MLP, six keys) imports as it is."""
    d = META["encoder_settings"]["output_dim"]
    old = {
        "mlp_predictors.0.0.weight": torch.randn(64, d, dtype=torch.float64) * 0.1,
        "mlp_predictors.0.0.bias": torch.zeros(64, dtype=torch.float64),
        "mlp_predictors.0.2.weight": torch.randn(64, 64, dtype=torch.float64) * 0.1,
        "mlp_predictors.0.2.bias": torch.zeros(64, dtype=torch.float64),
        "mlp_predictors.0.4.weight": torch.randn(807, 64, dtype=torch.float64) * 1e-3,
        "mlp_predictors.0.4.bias": flow_state(REF, META)["mlp_predictors.0.2.bias"],
    }
    assert mlp_hidden_dims(old) == [64, 64]
    torch.save(old, files["flow_best.pth"])
    bundle = _import(files, tmp_path / "old.pt")
    assert bundle.flow.mlp_hidden_dims == [64, 64]
    assert all(torch.equal(bundle.flow.state_dict()[k], v) for k, v in old.items())


def test_target_scaled_model_gives_densities_in_metres(files, tmp_path):
    plain = _import(files, tmp_path / "plain.pt")
    scaled = _import(files, tmp_path / "scaled.pt", "--target-scaled")
    enc = torch.from_numpy(REF["flow_encodings"])
    s = META["normalization"]["position"]["scale"]
    metres = torch.from_numpy(REF["flow_labels"]) / s * 0.01
    # p_m(x) = p_scaled(s x) * s^6
    expected = plain.flow.log_prob(metres * s, enc) + 6 * math.log(s)
    torch.testing.assert_close(scaled.flow.log_prob(metres, enc), expected, rtol=1e-12, atol=1e-9)


def test_bad_original_files_are_named(files, tmp_path, capsys):
    cfg = yaml.safe_load(files["model.yaml"].read_text())
    cfg["settings"]["attn_num_layers"] = 3
    files["model.yaml"].write_text(yaml.safe_dump(cfg))
    err = _refused(capsys, files, tmp_path / "x.pt")
    assert re.search("model_best.pth: does not match the settings", err)
    cfg["settings"]["attn_num_layers"] = 2
    cfg["flow"]["n_layers"] = 3
    files["model.yaml"].write_text(yaml.safe_dump(cfg))
    err = _refused(capsys, files, tmp_path / "x.pt")
    assert re.search(r"unknown key\(s\) \['n_layers'\] in the 'flow'", err)
    cfg["flow"] = {"flow_str": "gggggt"}
    files["model.yaml"].write_text(yaml.safe_dump(cfg))
    err = _refused(capsys, files, tmp_path / "x.pt", flow=False)
    assert re.search("pass its flow state", err)
    # a package-layout feature_indices.yaml is not what an original model was trained on
    files["feature_indices.yaml"].write_text(yaml.safe_dump(FeatureExtractor().feature_indices))
    err = _refused(capsys, files, tmp_path / "x.pt")
    assert re.search("wrong config or convention", err)


def test_convention_mismatch_between_model_and_folder_is_refused(files, tmp_path):
    bundle = _import(files, tmp_path / "b.pt")
    orig = write_original_folder(REF, META, tmp_path / "orig_folder")
    n = predict_folder(bundle, str(orig), str(tmp_path / "pred.pq"), n_samples=32, progress=False)
    assert n == len(REF["encoded_seqlens"])
    pkg = tmp_path / "pkg_folder"
    write_simulated_folder(str(pkg), 8, seed=1, events_per_file=8, progress=False)
    with pytest.raises(ConventionMismatch, match=r"'original' convention.*'package' convention"):
        predict_folder(bundle, str(pkg), str(tmp_path / "pred2.pq"), n_samples=32, progress=False)
    with pytest.raises(ConventionMismatch):
        calibrate_bundle(bundle, str(pkg), max_events=8)
    with pytest.raises(ConventionMismatch):
        evaluate(bundle, str(pkg), str(tmp_path / "report"), progress=False)
    # and the other way round: a model trained here on the original converter's folder
    package_model = make_bundle(str(pkg))
    with pytest.raises(ConventionMismatch, match=r"'package' convention.*'original' convention"):
        predict_folder(package_model, str(orig), str(tmp_path / "pred3.pq"), progress=False)


def test_export_seed_writes_the_original_file_set(files, tmp_path):
    _import(files, tmp_path / "b.pt", "--feature-config", str(files["feature_config.yaml"]))
    out = tmp_path / "exported"
    assert main(["export-seed", "--model", str(tmp_path / "b.pt"), "--out", str(out)]) == 0
    model = yaml.safe_load((out / "model_settings.yaml").read_text())
    assert set(model) == {"settings", "flow"} and model["flow"] == {"flow_str": "gggggt"}
    assert model["settings"] == META["encoder_settings"]
    enc = torch.load(out / "model_best.pth", weights_only=True)
    assert all(torch.equal(enc[k], v) for k, v in encoder_state(REF, "enc").items())
    assert set(enc) == set(encoder_state(REF, "enc"))
    flow = torch.load(out / "flow_best.pth", weights_only=True)
    assert all(torch.equal(flow[k], v) for k, v in flow_state(REF, META).items())
    assert (
        yaml.safe_load((out / "feature_indices.yaml").read_text()) == META["feature_indices_used"]
    )
    assert list(yaml.safe_load((out / "feature_indices.yaml").read_text())) == sorted(
        META["feature_indices_used"]
    )
    assert yaml.safe_load((out / "normalization_args.yaml").read_text()) == META["normalization"]
    fc = yaml.safe_load((out / "feature_config.yaml").read_text())
    assert "convention" not in fc and fc["dom_exclusions"]["partial_exclusion"] is False
    # and back: the exported files import to the same model
    again = _import(
        {
            "model.yaml": out / "model_settings.yaml",
            "model_best.pth": out / "model_best.pth",
            "flow_best.pth": out / "flow_best.pth",
            "normalization_args.yaml": out / "normalization_args.yaml",
            "feature_indices.yaml": out / "feature_indices.yaml",
        },
        tmp_path / "again.pt",
        "--feature-config",
        str(out / "feature_config.yaml"),
    )
    items, seqlens = packed_items(REF)
    np.testing.assert_array_equal(
        again.encode(items, seqlens).numpy(),
        load_bundle(tmp_path / "b.pt").encode(items, seqlens).numpy(),
    )


def test_export_seed_of_a_no_cnf_model(files, tmp_path):
    _import(
        files,
        tmp_path / "p.pt",
        settings="model_no_cnf.yaml",
        flow=False,
        encoder="no_cnf_best.pth",
    )
    out = tmp_path / "exported"
    assert main(["export-seed", "--model", str(tmp_path / "p.pt"), "--out", str(out)]) == 0
    assert yaml.safe_load((out / "model_settings.yaml").read_text()) == {
        "settings": META["no_cnf_settings"]
    }
    assert not (out / "flow_best.pth").exists()


def test_export_seed_refuses_what_the_original_cannot_express(tmp_path, capsys):
    from llp_gap_reco.model.bundle import save_bundle

    folder = make_folder(tmp_path / "folder", n_events=40, events_per_file=20)
    save_bundle(make_bundle(folder), tmp_path / "pkg.pt")
    assert (
        main(["export-seed", "--model", str(tmp_path / "pkg.pt"), "--out", str(tmp_path / "x")])
        == 2
    )
    assert "'package' convention" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
