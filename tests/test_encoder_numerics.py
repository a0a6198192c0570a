"""The encoder against an independent naive float64 implementation written from the definition.

The reference reads the weights by their original names, runs every row-wise map on plain
``x @ W.T + b`` and attention as an explicit loop over events and heads:
``softmax(q_h k_h^T / sqrt(d_head)) v_h``. Tolerances: float64 model 1e-10, float32 model 1e-4
(relative to the largest output).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from llp_gap_reco.core.batch import pack, unpack
from llp_gap_reco.encoder import LLPTransformerModel

pytestmark = pytest.mark.usefixtures("single_thread")


def _randomize(model: torch.nn.Module, seed: int = 0) -> None:
    """All parameters (LayerNorm gains and biases too) away from their neutral init."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.3 + (p.dim() == 1))


def _linear(sd: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    return x @ sd[f"{prefix}.weight"].T + sd[f"{prefix}.bias"]


def _skip_mlp(sd: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    y, i = x, 0
    while f"{prefix}.mlp.{i}.weight" in sd:
        y = _linear(sd, f"{prefix}.mlp.{i}", y)
        i += 2
        if f"{prefix}.mlp.{i}.weight" in sd:
            y = torch.tanh(y)
    if f"{prefix}.skip_connection.weight" in sd:
        y = y + x @ sd[f"{prefix}.skip_connection.weight"].T
    return y


def _layer_norm(sd: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    if f"{prefix}.weight" not in sd:
        return x
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + 1e-5) * sd[f"{prefix}.weight"] + sd[f"{prefix}.bias"]


def _naive_attention(q, k, v, seqlens, nhead):
    out = torch.empty_like(q)
    start = 0
    d = q.shape[1] // nhead
    for n in seqlens.tolist():
        for h in range(nhead):
            cols = slice(h * d, (h + 1) * d)
            qe, ke, ve = (t[start : start + n, cols] for t in (q, k, v))
            scores = qe @ ke.T / math.sqrt(d)
            p = torch.exp(scores - scores.max(1, keepdim=True).values)
            out[start : start + n, cols] = (p / p.sum(1, keepdim=True)) @ ve
        start += n
    return out


def reference_forward(model, x, seqlens, aggregate=True, drop=lambda t: t):
    """The original's computation in float64; ``drop`` is applied where it applies dropout."""
    s = model.config
    sd = {k: v.to(torch.float64) for k, v in model.state_dict().items()}
    x = x.to(torch.float64)
    h = x if s["skip_input_projection"] else _skip_mlp(sd, "input_projector.projector", x)
    c = h.shape[1]
    for i in range(s["attn_num_layers"]):
        p = f"transformer_encoder.layers.{i}"

        def n1(t, p=p):
            return _layer_norm(sd, f"{p}.norm1", t)

        def n2(t, p=p):
            return _layer_norm(sd, f"{p}.norm2", t)

        def sa(t, p=p):
            qkv = _skip_mlp(sd, f"{p}.in_projector.joint_projector", t)
            a = _naive_attention(
                qkv[:, :c],
                qkv[:, c : 2 * c],
                qkv[:, 2 * c :],
                seqlens,
                s["attn_num_heads_per_layer"],
            )
            if f"{p}.out_projector.projector.mlp.0.weight" in sd:
                a = _skip_mlp(sd, f"{p}.out_projector.projector", a)
            return drop(a)

        def ff(t, p=p):
            hidden = drop(torch.relu(_linear(sd, f"{p}.linear1", t)))
            return drop(_linear(sd, f"{p}.linear2", hidden))

        mode, first = s["attn_use_residual_addition"], s["attn_layer_norm_first"]
        if mode == 1 and first:
            h = h + sa(n1(h))
            h = h + ff(n2(h))
        elif mode == 1:
            h = n1(h + sa(h))
            h = n2(h + ff(h))
        elif mode == 2 and first:
            h = h + ff(n2(sa(n1(h))))
        elif mode == 2:
            t = n1(h + sa(h))
            h = n2(h + ff(t))
        elif first:
            h = ff(n2(sa(n1(h))))
        else:
            h = n2(ff(n1(sa(h))))
    if s["attn_use_extra_layer_norm"]:
        h = _layer_norm(sd, "transformer_encoder.norm", h)
    if not aggregate:
        return h
    events = unpack(h, seqlens)
    if s["attn_use_weighted_mean"]:
        agg = torch.stack(
            [(torch.softmax(e[:, -1], 0)[:, None] * e[:, :-1]).sum(0) for e in events]
        )
    elif s["attn_aggregation_mode"] == "mean":
        agg = torch.stack([e.mean(0) for e in events])
    else:
        agg = torch.stack([torch.cat([e.mean(0), e.var(0, unbiased=False)]) for e in events])
    if not s["attn_perform_final_mapping"]:
        return agg
    if "attention_to_output_mlp.weight" in sd:
        return _linear(sd, "attention_to_output_mlp", agg)
    if "attention_to_output_mlp.mlp.0.weight" in sd:
        return _skip_mlp(sd, "attention_to_output_mlp", agg)
    return agg


def _batch(input_dim, lens=(1, 7, 1, 33, 12, 5, 70, 2), seed=1, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    seqlens = torch.tensor(lens)
    return torch.randn(int(seqlens.sum()), input_dim, generator=gen, dtype=dtype), seqlens


def _rel(a, b):
    return float((a - b).abs().max().detach() / b.abs().max().detach())


VARIANTS = [
    {},  # mode 1, norm first
    {"attn_layer_norm_first": 0},
    {"attn_use_residual_addition": 2},
    {"attn_use_residual_addition": 2, "attn_layer_norm_first": 0},
    {"attn_use_residual_addition": 0, "attn_do_perlayer_out_projection": 0},
    {"attn_use_residual_addition": 0, "attn_layer_norm_first": 0, "attn_use_layer_norm_2": 0},
    {"attn_num_heads_per_layer": 4, "attn_use_extra_layer_norm": 1},
    {
        "attn_computational_dim": 12,
        "attn_aggregation_mode": "mean_n_diagonal",
        "io_add_skip_connection": 1,
        "io_mlp_hidden_dims": "16-8",
    },
    {"attn_use_weighted_mean": 1},
    {"attn_use_weighted_mean": 1, "attn_computational_dim": 13},
    {"skip_input_projection": 1, "input_dim": 8, "output_dim": 8},
]


@pytest.mark.parametrize(
    "variant", VARIANTS, ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) or "base"
)
@pytest.mark.parametrize("backend", ["torch", "padded"])
def test_model_matches_naive_float64_reference(variant, backend):
    settings = {
        "input_dim": 5,
        "output_dim": 8,
        "attn_num_layers": 2,
        "attn_internal_mlp_dim": 16,
        "io_mlp_hidden_dims": "16",
        "dtype": "float64",
        **variant,
    }
    model = LLPTransformerModel(attention_backend=backend, **settings).eval()
    _randomize(model)
    x, seqlens = _batch(settings["input_dim"])
    expected = reference_forward(model, x, seqlens)
    with torch.no_grad():
        assert _rel(model(x, seqlens), expected) < 1e-10
    assert _rel(model(x, seqlens), expected) < 1e-10  # autograd path (layers run whole)


def test_float32_default_preset_matches_reference():
    from llp_gap_reco.model.encoder.settings import PRESETS

    model = LLPTransformerModel(**PRESETS["default"]).eval()
    _randomize(model)
    x, seqlens = _batch(19, lens=(1, 40, 3, 120, 1, 9), dtype=torch.float32)
    with torch.inference_mode():
        out = model(x, seqlens)
    assert out.dtype == torch.float32 and out.shape == (6, 100)
    assert _rel(out.double(), reference_forward(model, x, seqlens)) < 1e-4


def test_dropout_is_applied_where_the_original_applies_it():
    """Train mode, same RNG seed: the model and the reference (dropout after the attention
    out-projection, after the ReLU and after linear2, in that order) agree exactly."""
    settings = {
        "input_dim": 5,
        "output_dim": 8,
        "attn_num_layers": 2,
        "attn_internal_mlp_dim": 16,
        "dtype": "float64",
        "attn_dropout": 0.3,
    }
    model = LLPTransformerModel(attention_backend="torch", **settings).train()
    _randomize(model)
    x, seqlens = _batch(5)
    torch.manual_seed(123)
    out = model(x, seqlens)
    torch.manual_seed(123)
    expected = reference_forward(model, x, seqlens, drop=lambda t: F.dropout(t, 0.3, True))
    assert _rel(out, expected) < 1e-10
    torch.manual_seed(123)
    no_drop = reference_forward(model, x, seqlens)
    assert _rel(out, no_drop) > 1e-3  # dropout did act
    with torch.no_grad():  # also without autograd: train mode keeps the original RNG order
        torch.manual_seed(123)
        assert _rel(model(x, seqlens), expected) < 1e-10


def test_mean_aggregation_is_mean_of_per_dom_outputs():
    model = LLPTransformerModel(input_dim=5, output_dim=8, attn_computational_dim=12).eval()
    x, seqlens = _batch(5, dtype=torch.float32)
    with torch.no_grad():
        per_dom = model(x, seqlens, perform_final_aggregation=False, perform_final_mapping=False)
        pooled = model(x, seqlens, perform_final_mapping=False)
        mapped = model(x, seqlens)
    assert per_dom.shape == (int(seqlens.sum()), 12)
    per_event = torch.stack([e.double().mean(0) for e in unpack(per_dom, seqlens)])
    assert _rel(pooled.double(), per_event) < 1e-6
    torch.testing.assert_close(mapped, model.attention_to_output_mlp(pooled))


def test_mean_n_diagonal_is_mean_and_population_variance():
    model = LLPTransformerModel(
        input_dim=5,
        output_dim=8,
        attn_computational_dim=12,
        attn_aggregation_mode="mean_n_diagonal",
    ).eval()
    x, seqlens = _batch(5, dtype=torch.float32)
    with torch.no_grad():
        per_dom = model(x, seqlens, perform_final_aggregation=False, perform_final_mapping=False)
        pooled = model(x, seqlens, perform_final_mapping=False)
    events = [e.double() for e in unpack(per_dom, seqlens)]
    expected = torch.stack([torch.cat([e.mean(0), e.var(0, unbiased=False)]) for e in events])
    assert pooled.shape == (len(seqlens), 24)
    assert _rel(pooled.double(), expected) < 1e-5
    assert torch.all(pooled[seqlens == 1, 12:] == 0)  # one DOM: no spread


def test_per_dom_output_with_final_mapping_is_row_wise():
    model = LLPTransformerModel(input_dim=5, output_dim=8, attn_computational_dim=12).eval()
    x, seqlens = _batch(5, dtype=torch.float32)
    with torch.no_grad():
        rows = model(x, seqlens, perform_final_aggregation=False)
        raw = model(x, seqlens, perform_final_aggregation=False, perform_final_mapping=False)
    torch.testing.assert_close(rows, model.attention_to_output_mlp(raw))
    assert rows.shape == (int(seqlens.sum()), 8)


def test_no_final_mapping_model_refuses_explicit_mapping():
    model = LLPTransformerModel(input_dim=5, attn_perform_final_mapping=0)
    x, seqlens = _batch(5, dtype=torch.float32)
    assert model(x, seqlens).shape == (len(seqlens), 50)
    with pytest.raises(ValueError, match="attn_perform_final_mapping"):
        model(x, seqlens, perform_final_mapping=True)


def test_list_input_equals_packed_input():
    model = LLPTransformerModel(input_dim=5, output_dim=8).eval()
    x, seqlens = _batch(5, dtype=torch.float32)
    events = [e[None] for e in unpack(x, seqlens)]  # original form [1, L_i, D]
    with torch.no_grad():
        packed = model(x, seqlens)
        listed = model(events, seqlens)
        no_lens = model(events)
    assert torch.equal(packed, listed) and torch.equal(packed, no_lens)
    x2, s2 = pack(events)
    assert torch.equal(x2, x) and torch.equal(s2, seqlens)
