"""import-seed: artefacts in the original research code's formats become a bundle that computes
exactly what the original models compute."""

from __future__ import annotations

import math

import pytest
import torch
import yaml
from llp_gap_reco.bundle import load_bundle
from llp_gap_reco.cli.main import main
from llp_gap_reco.core.batch import PackedBatch
from llp_gap_reco.encoder import LLPTransformerModel
from llp_gap_reco.features import FeatureExtractor
from llp_gap_reco.flow import ConditionalFlow

#: every key of the original ``settings`` section (values of its default config, smaller dims)
ORIGINAL_SETTINGS = {
    "input_dim": 11, "output_dim": 24, "io_mlp_hidden_dims": "32", "io_add_skip_connection": 0,
    "attn_io_projection_type": "single_self", "attn_do_perlayer_out_projection": 1,
    "skip_input_projection": 0, "attn_computational_dim": 24, "attn_num_layers": 2,
    "attn_num_heads_per_layer": 2, "attn_use_layer_norm_1": 1, "attn_use_layer_norm_2": 1,
    "attn_use_extra_layer_norm": 0, "attn_layer_norm_first": 1, "attn_use_residual_addition": 1,
    "dtype": "float32", "attn_projection_type": "joint_qkv", "attn_perform_final_mapping": 1,
    "attn_package": "xformers", "attn_dropout": 0.1, "attn_internal_mlp_dim": 48,
    "attn_use_weighted_mean": 0, "attn_aggregation_mode": "mean", "attn_operator": "none",
}
NORMALIZATION = {
    "position": {"offset": 0.0, "scale": 0.002},
    "log_total_charge": {"offset": 1.0, "scale": 1.2},
    "log_charges": {"offset": 0.8, "scale": 1.9},
    "time_widths": {"offset": 160.0, "scale": 0.003},
    "abs_times": {"offset": 360.0, "scale": 0.0005},
}


@pytest.fixture()
def artefacts(tmp_path):
    """Original-format files written from seed-compatible models."""
    torch.manual_seed(0)
    encoder = LLPTransformerModel(**ORIGINAL_SETTINGS).eval()
    flow = ConditionalFlow(flow_defs="gggggt", conditional_input_dim=24,
                           label_standardization=False, dtype="float64")
    flow.init_from_labels(torch.randn(300, 6, dtype=torch.float64) * 2 + 1, seed=1)
    torch.nn.init.normal_(flow.mlp_predictors[0][0].weight, std=0.3)  # make events differ
    files = {name: tmp_path / name for name in
             ("settings.yaml", "model_best.pth", "flow_best.pth", "normalization.yaml",
              "feature_indices.yaml")}
    files["settings.yaml"].write_text(yaml.safe_dump(
        {"settings": ORIGINAL_SETTINGS, "flow": {"flow_defs": "gggggt", "type": "e6"}}))
    torch.save(encoder.state_dict(), files["model_best.pth"])
    torch.save(flow.state_dict(), files["flow_best.pth"])
    files["normalization.yaml"].write_text(yaml.safe_dump(NORMALIZATION))
    files["feature_indices.yaml"].write_text(
        yaml.safe_dump({k: list(v) for k, v in FeatureExtractor().feature_indices.items()}))
    return encoder, flow, files


def _import(files, out, *extra):
    argv = ["import-seed", "--settings", str(files["settings.yaml"]),
            "--encoder-state", str(files["model_best.pth"]),
            "--flow-state", str(files["flow_best.pth"]),
            "--normalization", str(files["normalization.yaml"]),
            "--feature-indices", str(files["feature_indices.yaml"]), "--out", str(out), *extra]
    assert main(argv) == 0
    return load_bundle(out)


def _packed(seed=3):
    g = torch.Generator().manual_seed(seed)
    seqlens = torch.tensor([1, 7, 30, 4])
    return torch.randn(int(seqlens.sum()), 11, generator=g), seqlens


def test_imported_bundle_reproduces_original_models(artefacts, tmp_path):
    encoder, flow, files = artefacts
    bundle = _import(files, tmp_path / "bundle.pt")
    x, seqlens = _packed()
    enc = encoder(x, seqlens)
    assert torch.equal(bundle.encode(x, seqlens), enc)
    labels = torch.randn(4, 6, dtype=torch.float64) * 2
    assert torch.equal(bundle.flow.log_prob(labels, enc.double()),
                       flow.log_prob(labels, enc.double()))
    assert bundle.normalization.to_dict() == NORMALIZATION
    assert bundle.training["flow_section"]["flow_defs"] == "gggggt"
    s = bundle.reconstruct(PackedBatch(x, seqlens), n_samples=128)
    assert s.mean.shape == (4, 6) and bool((s.status == 0).all())


def test_target_scaled_model_gives_densities_in_metres(artefacts, tmp_path):
    encoder, flow, files = artefacts
    bundle = _import(files, tmp_path / "scaled.pt", "--target-scaled")
    x, seqlens = _packed()
    enc = encoder(x, seqlens).double()
    s = NORMALIZATION["position"]["scale"]
    metres = torch.randn(4, 6, dtype=torch.float64) * 300
    # p_m(x) = p_scaled(s x) * s^6
    expected = flow.log_prob(metres * s, enc) + 6 * math.log(s)
    torch.testing.assert_close(bundle.flow.log_prob(metres, enc), expected, rtol=1e-12,
                               atol=1e-9)


def test_mismatched_artefacts_are_named(artefacts, tmp_path):
    _, _, files = artefacts
    cfg = yaml.safe_load(files["settings.yaml"].read_text())
    cfg["settings"]["attn_num_layers"] = 3
    files["settings.yaml"].write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match="model_best.pth: does not match the settings"):
        _import(files, tmp_path / "x.pt")
