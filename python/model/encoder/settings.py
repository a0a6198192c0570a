"""The encoder's ``settings``: every key of the original configuration, its default and its check.

A settings dict is what checkpoints and model bundles carry (``model.config``); the keys, their
meaning and their defaults are those of the original ``LLPTransformerModel``.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

#: key -> (default, type, allowed values or None)
SETTINGS_SPEC: dict[str, tuple[Any, type, tuple | None]] = {
    "input_dim": (5, int, None),
    "output_dim": (50, int, None),
    "io_mlp_hidden_dims": ("128", str, None),
    "io_add_skip_connection": (0, int, (0, 1)),
    "attn_io_projection_type": ("single_self", str, ("single_self", "single_qkv", "joint_qkv")),
    "attn_do_perlayer_out_projection": (1, int, (0, 1)),
    "skip_input_projection": (0, int, (0, 1)),
    "attn_computational_dim": (-1, int, None),
    "attn_num_layers": (2, int, None),
    "attn_num_heads_per_layer": (1, int, None),
    "attn_use_layer_norm_1": (1, int, (0, 1)),
    "attn_use_layer_norm_2": (1, int, (0, 1)),
    "attn_use_extra_layer_norm": (0, int, (0, 1)),
    "attn_layer_norm_first": (1, int, (0, 1)),
    "attn_use_residual_addition": (1, int, (0, 1, 2)),
    "dtype": ("float32", str, ("float64", "float32", "float16", "bfloat16")),
    "attn_projection_type": ("joint_qkv", str, ("single_self", "single_qkv", "joint_qkv")),
    "attn_perform_final_mapping": (1, int, (0, 1)),
    "attn_package": (
        "xformers",
        str,
        (
            "xformers",
            "torch",
            "padded",
            "custom_pytorch",
            "official_pytorch_w_weights",
            "geometric_scatter",
            "nested",
            "flash_attn",
        ),
    ),
    "attn_dropout": (0.1, float, None),
    "attn_internal_mlp_dim": (512, int, None),
    "attn_use_weighted_mean": (0, int, (0, 1)),
    "attn_aggregation_mode": ("mean", str, ("mean", "mean_n_diagonal")),
    "attn_operator": ("none", str, None),
}

#: the original defaults, key by key
DEFAULT_SETTINGS: dict[str, Any] = {k: v[0] for k, v in SETTINGS_SPEC.items()}

DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def resolve_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in, types coerced, choices and combinations checked.

    Raises ``TypeError`` naming an unknown key and ``ValueError`` naming a key whose value is
    not allowed (alone or with the others). The returned dict keeps ``attn_computational_dim``
    as given (``-1`` means: the output dimension).
    """
    unknown = sorted(set(settings) - set(SETTINGS_SPEC))
    if unknown:
        raise TypeError(
            f"unknown encoder setting(s) {unknown}; known keys: {sorted(SETTINGS_SPEC)}"
        )
    out: dict[str, Any] = {}
    for key, (default, kind, choices) in SETTINGS_SPEC.items():
        value = settings.get(key, default)
        try:
            value = kind(value) if value is not None else kind(default)
        except (TypeError, ValueError) as err:
            raise ValueError(f"encoder setting {key}={value!r} is not a {kind.__name__}") from err
        if choices is not None and value not in choices:
            raise ValueError(f"encoder setting {key}={value!r}: allowed values are {choices}")
        out[key] = value
    _check_combinations(out)
    return out


def computational_dim(s: Mapping[str, Any]) -> int:
    """The width C of the transformer layers (``-1`` resolves to output_dim, +1 weight channel)."""
    if s["attn_computational_dim"] != -1:
        return int(s["attn_computational_dim"])
    return int(s["output_dim"]) + int(bool(s["attn_use_weighted_mean"]))


def _check_combinations(s: Mapping[str, Any]) -> None:
    def fail(key: str, why: str) -> None:
        raise ValueError(f"encoder setting {key}={s[key]!r}: {why}")

    for key in (
        "input_dim",
        "output_dim",
        "attn_num_layers",
        "attn_num_heads_per_layer",
        "attn_internal_mlp_dim",
    ):
        if s[key] < 1:
            fail(key, "must be >= 1")
    if s["attn_computational_dim"] < 1 and s["attn_computational_dim"] != -1:
        fail("attn_computational_dim", "must be >= 1, or -1 for output_dim")
    if not 0.0 <= s["attn_dropout"] < 1.0:
        fail("attn_dropout", "must be in [0, 1)")
    hidden = s["io_mlp_hidden_dims"]
    if hidden and not all(p.strip().isdigit() and int(p) > 0 for p in hidden.split("-")):
        fail("io_mlp_hidden_dims", "must be '' or positive integers joined by '-', e.g. '128-256'")
    c = computational_dim(s)
    if c % s["attn_num_heads_per_layer"]:
        fail("attn_num_heads_per_layer", f"must divide the computational dim {c}")
    if s["attn_io_projection_type"] != "single_self":
        fail("attn_io_projection_type", "only 'single_self' yields one tensor for the layers")
    if s["attn_projection_type"] != "joint_qkv":
        fail("attn_projection_type", "the encoder layers implement 'joint_qkv' only")
    if s["skip_input_projection"] and c != s["input_dim"]:
        fail("skip_input_projection", f"needs computational dim {c} == input_dim")
    if not s["attn_do_perlayer_out_projection"] and s["attn_use_residual_addition"] == 1:
        fail(
            "attn_do_perlayer_out_projection", "residual mode 1 needs the per-layer out projection"
        )
    if s["attn_aggregation_mode"] != "mean":
        if s["attn_use_weighted_mean"]:
            fail("attn_aggregation_mode", "only 'mean' combines with attn_use_weighted_mean")
        if not s["attn_perform_final_mapping"]:
            fail("attn_aggregation_mode", "non-mean aggregation needs attn_perform_final_mapping")
    if s["attn_use_weighted_mean"] and c < 2:
        fail("attn_use_weighted_mean", "needs a computational dim >= 2 (last channel = weight)")


#: named settings of the two reference configurations (``configs/encoder_<name>.yaml`` mirrors
#: them): ``default`` (4 layers, C = output_dim = 100, 19 inputs) and ``large`` (15 layers,
#: C = 128, 11 inputs, with the final MLP).
PRESETS: dict[str, dict[str, Any]] = {
    "default": {
        "input_dim": 19,
        "output_dim": 100,
        "io_mlp_hidden_dims": "128",
        "io_add_skip_connection": 0,
        "attn_io_projection_type": "single_self",
        "attn_do_perlayer_out_projection": 1,
        "skip_input_projection": 0,
        "attn_computational_dim": -1,
        "attn_num_layers": 4,
        "attn_num_heads_per_layer": 1,
        "attn_use_layer_norm_1": 1,
        "attn_use_layer_norm_2": 1,
        "attn_use_extra_layer_norm": 0,
        "attn_layer_norm_first": 1,
        "attn_use_residual_addition": 1,
        "dtype": "float32",
        "attn_projection_type": "joint_qkv",
        "attn_perform_final_mapping": 1,
        "attn_package": "xformers",
        "attn_dropout": 0.1,
        "attn_internal_mlp_dim": 512,
        "attn_use_weighted_mean": 0,
        "attn_aggregation_mode": "mean",
        "attn_operator": "none",
    },
}
PRESETS["large"] = {
    **PRESETS["default"],
    "input_dim": 11,
    "output_dim": 128,
    "attn_computational_dim": 128,
    "attn_num_layers": 15,
    "attn_internal_mlp_dim": 128,
}
