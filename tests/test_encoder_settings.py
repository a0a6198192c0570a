"""Encoder settings, parameter names/shapes of the original, config files."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch
import yaml
from llp_gap_reco.encoder import DEFAULT_SETTINGS, LLPTransformerModel
from llp_gap_reco.model.encoder.settings import PRESETS

pytestmark = pytest.mark.usefixtures("single_thread")


ROOT = Path(__file__).resolve().parents[1]
#: keys and shapes of the original model's state dict for its two reference configs
SEED_FILE = Path(__file__).resolve().parent / "encoder_seed_state_dict.txt"


def _seed_sections() -> list[dict]:
    """Each config section of the state-dict listing: settings, key -> shape, total, n_layers."""
    sections = []
    for chunk in re.split(r"\n(?=# [\w.]+\.yaml: settings = )", SEED_FILE.read_text()):
        m = re.search(r"settings = (\{.*\})", chunk)
        if not m:
            continue
        shapes = {}
        for line in chunk.splitlines():
            if "\t" in line:
                key, shape, _ = line.split("\t")
                shapes[key] = tuple(ast.literal_eval(shape))
        total = int(re.search(r"total parameters: (\d+)", chunk).group(1))
        sections.append(
            {"settings": ast.literal_eval(m.group(1)), "shapes": shapes, "total": total}
        )
    assert len(sections) == 2
    return sections


def _expand_layers(shapes: dict, n_layers: int) -> dict:
    """The listing gives layer 0 only; layers 1..n-1 repeat its keys."""
    out = {}
    for key, shape in shapes.items():
        if key.startswith("transformer_encoder.layers.0."):
            for i in range(n_layers):
                out[key.replace(".layers.0.", f".layers.{i}.")] = shape
        else:
            out[key] = shape
    return out


@pytest.mark.parametrize("index", [0, 1])
def test_state_dict_keys_shapes_and_count_match_original(index):
    section = _seed_sections()[index]
    model = LLPTransformerModel(**section["settings"])
    expected = _expand_layers(section["shapes"], section["settings"]["attn_num_layers"])
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == expected
    assert sum(p.numel() for p in model.parameters()) == section["total"]
    assert all(v.dtype == torch.float32 for v in model.state_dict().values())


@pytest.mark.parametrize("index", [0, 1])
def test_strict_load_of_original_key_set_reproduces_outputs(index):
    """A state dict with exactly the original names (tensors built from the listing's shapes)
    loads strictly into a fresh model and gives the source model's outputs."""
    section = _seed_sections()[index]
    settings = section["settings"]
    expected = _expand_layers(section["shapes"], settings["attn_num_layers"])
    gen = torch.Generator().manual_seed(index)
    original = {k: torch.randn(shape, generator=gen) * 0.1 for k, shape in expected.items()}
    model = LLPTransformerModel(**settings).eval()
    model.load_state_dict(original, strict=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, original[k])
    x = torch.randn(30, settings["input_dim"], generator=gen)
    seqlens = torch.tensor([1, 9, 20])
    other = LLPTransformerModel(**model.config).eval()
    other.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(other(x, seqlens), model(x, seqlens), rtol=0, atol=0)


def test_missing_or_renamed_key_fails_strict_load():
    model = LLPTransformerModel(**PRESETS["default"])
    sd = model.state_dict()
    sd["transformer_encoder.layers.0.norm1.gain"] = sd.pop(
        "transformer_encoder.layers.0.norm1.weight"
    )
    with pytest.raises(RuntimeError, match="norm1"):
        LLPTransformerModel(**PRESETS["default"]).load_state_dict(sd, strict=True)


def test_defaults_are_the_original_ones():
    model = LLPTransformerModel()
    assert model.config == DEFAULT_SETTINGS
    assert model.computational_dim == 50 and model.output_dim == 50
    assert len(model.transformer_encoder.layers) == 2
    # C = output_dim with computational dim -1: the final mapping is the identity
    assert isinstance(model.attention_to_output_mlp, torch.nn.Identity)


def test_unknown_key_is_named():
    with pytest.raises(TypeError, match="attn_num_layer"):
        LLPTransformerModel(attn_num_layer=3)


@pytest.mark.parametrize(
    "key, value",
    [
        ("attn_aggregation_mode", "median"),
        ("dtype", "float8"),
        ("attn_num_heads_per_layer", 3),  # does not divide 50
        ("io_mlp_hidden_dims", "128-x"),
        ("attn_use_residual_addition", 5),
        ("attn_projection_type", "single_self"),
        ("attn_io_projection_type", "joint_qkv"),
    ],
)
def test_bad_value_is_named(key, value):
    with pytest.raises(ValueError, match=key):
        LLPTransformerModel(**{key: value})


def test_combination_checks():
    with pytest.raises(ValueError, match="attn_do_perlayer_out_projection"):
        LLPTransformerModel(attn_do_perlayer_out_projection=0, attn_use_residual_addition=1)
    with pytest.raises(ValueError, match="skip_input_projection"):
        LLPTransformerModel(skip_input_projection=1, input_dim=5, output_dim=8)
    with pytest.raises(ValueError, match="attn_aggregation_mode"):
        LLPTransformerModel(attn_aggregation_mode="mean_n_diagonal", attn_use_weighted_mean=1)


def test_output_mapping_variants_follow_original_rules():
    # computational dim given: SkipMLP from 2C (mean_n_diagonal) / C-1 (weighted) / C
    m = LLPTransformerModel(attn_computational_dim=16, attn_aggregation_mode="mean_n_diagonal")
    assert m.attention_to_output_mlp.mlp[0].in_features == 32
    m = LLPTransformerModel(attn_computational_dim=16, attn_use_weighted_mean=1)
    assert m.attention_to_output_mlp.mlp[0].in_features == 15
    # computational dim -1 with weighted mean: C = output_dim + 1 and a plain Linear
    m = LLPTransformerModel(output_dim=8, attn_use_weighted_mean=1)
    assert m.computational_dim == 9
    assert set(dict(m.attention_to_output_mlp.named_parameters())) == {"weight", "bias"}
    assert m.attention_to_output_mlp.in_features == 8
    m = LLPTransformerModel(attn_perform_final_mapping=0)
    assert m.attention_to_output_mlp is None
    m = LLPTransformerModel(io_add_skip_connection=1, attn_computational_dim=16)
    assert m.input_projector.projector.skip_connection.bias is None
    assert m.attention_to_output_mlp.skip_connection.weight.shape == (50, 16)


def test_extra_layer_norm_and_dtype():
    m = LLPTransformerModel(attn_use_extra_layer_norm=1, dtype="float64", output_dim=12)
    assert m.transformer_encoder.norm is m.extra_layer_norm
    assert m.extra_layer_norm.weight.shape == (12,)
    assert {p.dtype for p in m.parameters()} == {torch.float64}


@pytest.mark.parametrize("name", ["default", "large"])
def test_config_files_load_and_mirror_presets(name):
    cfg = yaml.safe_load((ROOT / "configs" / f"encoder_{name}.yaml").read_text())
    assert cfg["settings"] == PRESETS[name]
    model = LLPTransformerModel(**cfg["settings"])
    assert model.config == PRESETS[name]


def test_presets_are_the_listed_original_configs():
    sections = _seed_sections()
    assert [s["settings"] for s in sections] == [PRESETS["default"], PRESETS["large"]]
