"""The ``torch`` backend: exact attention within events, grouped by length.

Per batch (the plan, shared by all layers):

* events of length 1 attend only to themselves: their output is ``v`` (no call at all);
* events with ``L >= solo_min_len`` get one unmasked SDPA call each, on a view of the packed
  tensor (no padding);
* the others are sorted by length and cut greedily into buckets whose shortest event is at least
  ``longest / max_ratio`` long and whose padded size ``b * L_max`` stays within ``max_tokens``;
  each bucket is gathered (one index op for q, k and v) into ``[b, H, L_max, d]``, runs one SDPA
  call with an additive key-padding bias, and is scattered back with one ``index_copy_``
  (padding slots land on a spare row that is dropped).

Linear layers never see padding; the output is written in packed row order directly.

On CUDA the SDPA calls exclude PyTorch's cuDNN attention kernel: it builds a graph for every new
shape, and bucket shapes change with every batch (on an H200, bf16 training of the quick model
ran 9x slower with it; see ``benchmarks/results/gpu.json``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class BucketPolicy:
    """How events are grouped; see the module docstring."""

    solo_min_len: int = 512
    max_ratio: float = 1.25
    max_tokens: int = 16384


#: per device type; tuned with benchmarks/bench_encoder.py (CPU) and gpu_encoder.py (CUDA)
DEFAULT_POLICIES = {
    "cpu": BucketPolicy(solo_min_len=512, max_ratio=1.25, max_tokens=16384),
    "cuda": BucketPolicy(solo_min_len=1024, max_ratio=2.0, max_tokens=65536),
}


@dataclass
class Bucket:
    """``b`` events padded to ``L_max``."""

    gather: torch.Tensor  # [b, L_max] packed row of each slot (padding repeats a real row)
    scatter: torch.Tensor  # [b * L_max] packed row of each slot, padding -> N_total (spare)
    key_bias: Optional[torch.Tensor]  # [b, 1, 1, L_max] 0 on real keys, -inf on padding


@dataclass
class BucketPlan:
    n_rows: int
    singles: Optional[torch.Tensor]  # [n1] packed rows of length-1 events
    solos: list[tuple[int, int]]  # (start, end) rows of each long event
    buckets: list[Bucket]


class BucketedAttention:
    """The default backend on CPU, and on CUDA without xformers."""

    name = "torch"

    def __init__(self, policy: Optional[BucketPolicy] = None) -> None:
        self.policy = policy

    def unavailable_reason(
        self, device: torch.device, dtype: torch.dtype, head_dim: Optional[int] = None
    ) -> Optional[str]:
        return None

    def plan(self, seqlens: torch.Tensor, device: torch.device, dtype: torch.dtype) -> BucketPlan:
        policy = self.policy or DEFAULT_POLICIES.get(device.type, DEFAULT_POLICIES["cuda"])
        lens = seqlens.detach().to("cpu", torch.int64)
        starts = torch.cumsum(lens, 0) - lens
        n_rows = int(lens.sum())

        one = lens == 1
        singles = starts[one].to(device) if bool(one.any()) else None
        solo = lens >= max(policy.solo_min_len, 2)
        solos = [(s, s + n) for s, n in zip(starts[solo].tolist(), lens[solo].tolist())]

        rest = (~one & ~solo).nonzero().squeeze(1)
        order = rest[torch.argsort(lens[rest], descending=True, stable=True)]
        sorted_lens = lens[order]
        neg_lens = -sorted_lens.to(torch.float64)  # ascending, for searchsorted
        buckets = []
        i = 0
        while i < len(order):
            lmax = int(sorted_lens[i])
            # first position whose length drops below lmax / max_ratio (lengths descending)
            cut = torch.tensor([-lmax / policy.max_ratio], dtype=torch.float64)
            shorter = int(torch.searchsorted(neg_lens, cut, right=True))
            j = min(shorter, i + max(1, policy.max_tokens // lmax), len(order))
            buckets.append(
                _bucket(starts[order[i:j]], sorted_lens[i:j], lmax, n_rows, device, dtype)
            )
            i = j
        return BucketPlan(n_rows, singles, solos, buckets)

    def attend(self, qkv: torch.Tensor, plan: BucketPlan) -> torch.Tensor:
        with sdpa_kernels(qkv.device):
            return self._attend(qkv, plan)

    def _attend(self, qkv: torch.Tensor, plan: BucketPlan) -> torch.Tensor:
        n, _, h, d = qkv.shape
        out = qkv.new_empty(n + 1, h, d)  # row n: spare target of padding slots
        if plan.singles is not None:
            out.index_copy_(0, plan.singles, qkv[:, 2].index_select(0, plan.singles))
        for s, e in plan.solos:
            # 4-D [1, H, L, d]: SDPA's fused CPU kernel takes 4-D inputs only
            q, k, v = qkv[None, s:e].permute(2, 0, 3, 1, 4)
            out[s:e] = F.scaled_dot_product_attention(q, k, v)[0].transpose(0, 1)
        for b in plan.buckets:
            q, k, v = qkv[b.gather].permute(2, 0, 3, 1, 4)  # each [b, H, L_max, d]
            bias = b.key_bias
            if bias is not None and bias.dtype != qkv.dtype:  # e.g. under autocast
                bias = bias.to(qkv.dtype)
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            out.index_copy_(0, b.scatter, o.transpose(1, 2).flatten(0, 1))
        return out[:n]


def _bucket(
    starts: torch.Tensor,
    lens: torch.Tensor,
    lmax: int,
    n_rows: int,
    device: torch.device,
    dtype: torch.dtype,
) -> Bucket:
    """A bucket of events (first rows ``starts``, lengths ``lens``) padded to ``lmax``."""
    slot = torch.arange(lmax)
    real = slot[None, :] < lens[:, None]  # [b, L_max]
    gather = starts[:, None] + torch.where(real, slot[None, :], 0)
    scatter = torch.where(real, gather, n_rows).flatten()
    key_bias = None if bool(real.all()) else key_padding_bias(real, dtype).to(device)
    return Bucket(gather.to(device), scatter.to(device), key_bias)


def key_padding_bias(real: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``real [b, L] -> [b, 1, 1, L]`` additive bias: 0 on real keys, -inf on padding.

    An additive float mask keeps SDPA on its fused CPU kernel; a boolean mask sends it to the
    unfused math path (several times slower here)."""
    bias = torch.zeros(real.shape, dtype=dtype, device=real.device)
    bias.masked_fill_(~real, float("-inf"))
    return bias[:, None, None, :]


def sdpa_kernels(device: torch.device) -> contextlib.AbstractContextManager:
    """SDPA kernel choice for ``device``: on CUDA every kernel but cuDNN's (see module doc)."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    try:
        # optional: torch.nn.attention exists from torch 2.3 on
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # torch < 2.3
        return contextlib.nullcontext()
    names = ("FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH")
    return sdpa_kernel([getattr(SDPBackend, n) for n in names if hasattr(SDPBackend, n)])
