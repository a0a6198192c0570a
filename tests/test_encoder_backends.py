"""Attention backends agree (forward and backward), dispatch and fallback, bad input."""

from __future__ import annotations

import functools
import logging

import pytest
import torch
from llp_gap_reco.encoder import BucketPolicy, LLPTransformerModel
from llp_gap_reco.model.encoder.attention import BucketedAttention, PaddedAttention, get_backend
from llp_gap_reco.model.encoder.settings import PRESETS

pytestmark = pytest.mark.usefixtures("single_thread")


#: groupings of the torch backend: its CPU default, all events alone, everything in buckets,
#: small buckets with a low solo threshold (every code path: singles, solos, masked buckets)
POLICIES = {
    "default": None,
    "per_event": BucketPolicy(solo_min_len=2),
    "buckets_only": BucketPolicy(solo_min_len=10**9, max_ratio=4.0, max_tokens=10**6),
    "mixed": BucketPolicy(solo_min_len=60, max_ratio=1.3, max_tokens=64),
}


def _random_batch(
    seed: int, input_dim: int, n_events: int = 16, max_len: int = 90, long_event: int = 0
):
    """Random lengths with several length-1 events and optionally one ``long_event`` long."""
    gen = torch.Generator().manual_seed(seed)
    lens = torch.randint(1, max_len, (n_events,), generator=gen)
    lens[:: max(1, n_events // 5)] = 1
    if long_event:
        lens[3] = long_event
    x = torch.randn(int(lens.sum()), input_dim, generator=gen)
    return x, lens


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def _forward_backward(model, x, seqlens):
    model.zero_grad()
    x = x.clone().requires_grad_(True)
    out = model(x, seqlens)
    weights = torch.linspace(-1, 1, out.numel(), device=out.device).reshape(out.shape)
    (out * weights).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return out.detach(), x.grad.clone(), grads


@functools.cache
def _padded_reference(seed: int):
    """Model, batch and the padded backend's output and gradients (computed once per seed)."""
    settings = {
        **PRESETS["default"],
        "input_dim": 11,
        "attn_num_layers": 2,
        "attn_num_heads_per_layer": 4,
        "attn_dropout": 0.0,
    }
    torch.manual_seed(seed)
    model = LLPTransformerModel(**settings).eval()
    # seed 0 has one event past the CPU solo threshold (512)
    x, seqlens = _random_batch(seed, 11, long_event=520 if seed == 0 else 0)
    model.set_attention_backend("padded")
    return model, x, seqlens, _forward_backward(model, x, seqlens)


@pytest.mark.parametrize("policy", list(POLICIES), ids=list(POLICIES))
@pytest.mark.parametrize("seed", [0, 1])
def test_torch_backend_matches_padded_forward_and_backward(policy, seed):
    model, x, seqlens, (ref_out, ref_dx, ref_grads) = _padded_reference(seed)
    pol = POLICIES[policy]
    model.set_attention_backend("torch" if pol is None else BucketedAttention(pol))
    out, dx, grads = _forward_backward(model, x, seqlens)
    assert model.attention_backend == "torch"
    assert _rel(out, ref_out) < 1e-5
    assert _rel(dx, ref_dx) < 1e-5
    for name, g in grads.items():
        assert _rel(g, ref_grads[name]) < 1e-5, name
    with torch.inference_mode():  # the row-chunked inference path
        assert _rel(model(x, seqlens), ref_out) < 1e-5


def test_backends_agree_under_autocast():
    """Under (CPU) autocast q, k, v are bfloat16 while the batch plan was built for float32."""
    model = LLPTransformerModel(**{**PRESETS["default"], "input_dim": 11}).eval()
    x, seqlens = _random_batch(2, 11, n_events=12)
    outs = {}
    for backend in ("torch", "padded"):
        model.set_attention_backend(backend)
        with torch.autocast("cpu", dtype=torch.bfloat16):  # autograd on: layers run whole
            outs[backend] = model(x, seqlens).float().detach()
    assert _rel(outs["torch"], outs["padded"]) < 2e-2  # bfloat16 rounding


def test_row_chunked_inference_equals_whole_layers(monkeypatch):
    from llp_gap_reco.model.encoder.layer import EncoderStack

    model = LLPTransformerModel(**PRESETS["large"], attention_backend="torch").eval()
    x, seqlens = _random_batch(3, 11, n_events=12, long_event=150)
    with torch.no_grad():
        monkeypatch.setattr(EncoderStack, "row_chunk", 100)  # several chunks, ragged last
        chunked = model(x, seqlens)
    whole = model(x, seqlens).detach()  # autograd on: layers run whole
    assert _rel(chunked, whole) < 1e-5
    assert torch.isfinite(x).all()  # input untouched by the in-place chunked path


def test_bucket_plan_covers_every_row_once():
    seqlens = torch.tensor([1, 5, 600, 3, 1, 40, 41, 7, 300, 2])
    n = int(seqlens.sum())
    plan = BucketedAttention(BucketPolicy(solo_min_len=256, max_ratio=1.5, max_tokens=64)).plan(
        seqlens, torch.device("cpu"), torch.float32
    )
    assert plan.singles.tolist() == [0, 609]
    assert plan.solos == [(6, 606), (698, 998)]
    rows = [plan.singles] + [torch.arange(s, e) for s, e in plan.solos]
    for b in plan.buckets:
        lens = (b.scatter.view(b.gather.shape) < n).sum(1)
        assert lens.max() <= 1.5 * lens.min()  # lengths within max_ratio
        assert b.gather.numel() <= max(64, b.gather.shape[1])  # padded size within max_tokens
        assert (b.key_bias is None) == bool((lens == b.gather.shape[1]).all())
        rows.append(b.scatter[b.scatter < n])
    assert torch.sort(torch.cat(rows)).values.tolist() == list(range(n))


def test_length_one_events_output_their_value():
    """Attention over one key is the value itself: each backend must give exactly that."""
    qkv = torch.randn(3, 3, 2, 4)
    seqlens = torch.tensor([1, 1, 1])
    for backend in (BucketedAttention(), PaddedAttention()):
        plan = backend.plan(seqlens, torch.device("cpu"), torch.float32)
        torch.testing.assert_close(backend.attend(qkv, plan), qkv[:, 2])


def test_xformers_preference_falls_back_to_torch_on_cpu_with_one_log_line(caplog):
    model = LLPTransformerModel(input_dim=5, attn_package="xformers")
    x, seqlens = _random_batch(0, 5, n_events=4, max_len=10)
    with caplog.at_level(logging.INFO, logger="llp_gap_reco.model.encoder.model"):
        model(x, seqlens)
        model(x, seqlens)
    notes = [r.getMessage() for r in caplog.records if "xformers" in r.getMessage()]
    assert len(notes) == 1 and "using 'torch'" in notes[0]
    assert model.attention_backend == "torch"


def test_forcing_an_unavailable_backend_is_an_error():
    model = LLPTransformerModel(input_dim=5, attention_backend="xformers")
    x, seqlens = _random_batch(0, 5, n_events=4, max_len=10)
    with pytest.raises(RuntimeError, match="xformers"):
        model(x, seqlens)
    with pytest.raises(ValueError, match="flash"):
        model.set_attention_backend("flash")
    assert get_backend("padded").name == "padded"


@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["xformers", "torch"])
def test_cuda_backends_match_padded(backend):
    device = torch.device("cuda")
    settings = {
        **PRESETS["default"],
        "input_dim": 11,
        "attn_num_heads_per_layer": 4,
        "attn_dropout": 0.0,
    }
    reason = get_backend(backend).unavailable_reason(device, torch.float32, 100 // 4)
    if reason is not None:
        pytest.skip(reason)
    torch.manual_seed(0)
    model = LLPTransformerModel(**settings).eval().to(device)
    x, seqlens = _random_batch(0, 11, n_events=64, long_event=1500)
    x, seqlens = x.to(device), seqlens.to(device)
    model.set_attention_backend("padded")
    ref_out, ref_dx, ref_grads = _forward_backward(model, x, seqlens)
    model.set_attention_backend(backend)
    out, dx, grads = _forward_backward(model, x, seqlens)
    assert model.attention_backend == backend
    assert _rel(out, ref_out) < 1e-5 and _rel(dx, ref_dx) < 1e-5
    for name, g in grads.items():
        assert _rel(g, ref_grads[name]) < 1e-5, name


# ------------------------------------------------------------------------------ bad input
@pytest.fixture
def small_model():
    return LLPTransformerModel(input_dim=5, output_dim=8)


def test_zero_length_event_is_named(small_model):
    x = torch.randn(10, 5)
    with pytest.raises(ValueError, match=r"events \[2\].*no DOM rows"):
        small_model(x, torch.tensor([4, 6, 0]))
    events = [torch.randn(1, 3, 5), torch.zeros(1, 0, 5)]
    with pytest.raises(ValueError, match=r"events \[1\]"):
        small_model(events, torch.tensor([3, 0]))


def test_feature_dim_mismatch_is_named(small_model):
    events = [torch.randn(1, 3, 5), torch.randn(1, 2, 5), torch.randn(1, 4, 6)]
    with pytest.raises(ValueError, match="event 2: feature dimension 6"):
        small_model(events, torch.tensor([3, 2, 4]))
    with pytest.raises(ValueError, match="feature dimension 7"):
        small_model(torch.randn(9, 7), torch.tensor([4, 5]))


def test_nan_and_inf_inputs_are_named(small_model):
    x = torch.randn(12, 5)
    x[7, 2] = float("nan")
    x[11, 0] = float("inf")
    with pytest.raises(ValueError, match=r"events \[1, 2\] contain NaN"):
        small_model(x, torch.tensor([4, 6, 2]))


def test_inconsistent_lengths_are_named(small_model):
    with pytest.raises(ValueError, match="sum to 9"):
        small_model(torch.randn(10, 5), torch.tensor([4, 5]))
    events = [torch.randn(1, 3, 5), torch.randn(1, 2, 5)]
    with pytest.raises(ValueError, match=r"events \[1\].*datalens 4"):
        small_model(events, torch.tensor([3, 4]))
    with pytest.raises(ValueError, match="empty batch"):
        small_model([], torch.tensor([], dtype=torch.int64))


def test_dense_input_with_equal_lengths(small_model):
    small_model.eval()
    dense = torch.randn(3, 4, 5)
    with torch.no_grad():
        out = small_model(dense, torch.tensor([4, 4, 4]))
        packed = small_model(dense.reshape(12, 5), torch.tensor([4, 4, 4]))
    assert torch.equal(out, packed)
    with pytest.raises(ValueError, match=r"events \[1\] differ"):
        small_model(dense, torch.tensor([4, 3, 4]))


# ------------------------------------------------------------------------------ xformers probe
class _FakeFmha:
    """Stands in for ``xformers.ops.fmha``: a build that imports but may have no kernels."""

    def __init__(self, error: Exception | None) -> None:
        self.error, self.calls = error, 0

        class BlockDiagonalMask:
            @staticmethod
            def from_seqlens(lens):
                return tuple(lens)

        self.BlockDiagonalMask = BlockDiagonalMask

    def memory_efficient_attention(self, q, k, v, attn_bias=None):
        self.calls += 1
        if self.error is not None:
            raise self.error
        return q


def test_xformers_probe_reports_a_build_without_kernels(monkeypatch):
    from llp_gap_reco.model.encoder.attention import xformers_backend as xb

    broken = _FakeFmha(NotImplementedError("No operator found for `memory_efficient_attention`"))
    monkeypatch.setattr(xb, "_fmha", lambda: broken)
    reason = xb._probe(torch.device("cpu"), torch.float32, 50)
    assert reason is not None and "No operator found" in reason and "heads of 50" in reason
    working = _FakeFmha(None)
    monkeypatch.setattr(xb, "_fmha", lambda: working)
    assert xb._probe(torch.device("cpu"), torch.bfloat16, 64) is None
    assert broken.calls == 1 and working.calls == 1
