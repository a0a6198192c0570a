"""The ``torch`` backend: exact attention within events, grouped by length.

Per batch (the plan, shared by all layers):

* events of length 1 attend only to themselves: their output is ``v`` (no call at all);
* events with ``L >= solo_min_len`` get one unmasked SDPA call each, on a view of the packed
  tensor (no copy, no padding);
* the others are sorted by length and cut greedily into buckets whose shortest event is at least
  ``longest / max_ratio`` long and whose padded size ``b * L_max`` stays within ``max_tokens``;
  each bucket is gathered into ``[b, H, L_max, d]`` and runs one SDPA call with an additive
  key-padding bias.

Outputs are put back into packed row order with one gather. Linear layers never see padding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class BucketPolicy:
    """How events are grouped; see the module docstring."""

    solo_min_len: int = 256
    max_ratio: float = 1.5
    max_tokens: int = 16384


#: per device type; tuned with benchmarks/bench_encoder.py (CPU) and gpu_encoder.py (CUDA)
DEFAULT_POLICIES = {
    "cpu": BucketPolicy(solo_min_len=512, max_ratio=1.25, max_tokens=16384),
    "cuda": BucketPolicy(solo_min_len=1024, max_ratio=2.0, max_tokens=65536),
}


@dataclass
class Bucket:
    """``b`` events padded to ``L_max``: gather index, key mask, flat positions of real rows."""

    index: torch.Tensor  # [b, L_max] packed row of each slot (padding slots repeat a real row)
    key_bias: Optional[torch.Tensor]  # [b, 1, 1, L_max] 0 on real keys, -inf on padding; or None
    real: torch.Tensor  # [n_real] positions in the flattened [b * L_max] slots


@dataclass
class BucketPlan:
    singles: Optional[torch.Tensor]  # [n1] packed rows of length-1 events
    solos: list[tuple[int, int]]  # (start, end) rows of each long event
    buckets: list[Bucket]
    inverse: Optional[torch.Tensor]  # [N_total] row of the concatenated parts; None = identity


class BucketedAttention:
    """The default backend on CPU, and on CUDA without xformers."""

    name = "torch"

    def __init__(self, policy: Optional[BucketPolicy] = None) -> None:
        self.policy = policy

    def unavailable_reason(self, device: torch.device, dtype: torch.dtype) -> Optional[str]:
        return None

    def plan(self, seqlens: torch.Tensor, device: torch.device, dtype: torch.dtype) -> BucketPlan:
        policy = self.policy or DEFAULT_POLICIES.get(device.type, DEFAULT_POLICIES["cuda"])
        lens = seqlens.detach().to("cpu", torch.int64)
        starts = torch.cumsum(lens, 0) - lens
        parts: list[torch.Tensor] = []

        one = lens == 1
        singles = starts[one] if bool(one.any()) else None
        if singles is not None:
            parts.append(singles)

        solo = lens >= max(policy.solo_min_len, 2)
        solos = [(s, s + n) for s, n in zip(starts[solo].tolist(), lens[solo].tolist())]
        parts += [torch.arange(s, e) for s, e in solos]

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
            bucket, rows = _bucket(starts[order[i:j]], sorted_lens[i:j], lmax, device, dtype)
            buckets.append(bucket)
            parts.append(rows)
            i = j

        rows = torch.cat(parts)
        inverse = None
        if not bool((rows == torch.arange(len(rows))).all()):
            inverse = torch.empty_like(rows)
            inverse[rows] = torch.arange(len(rows))
            inverse = inverse.to(device)
        if singles is not None:
            singles = singles.to(device)
        return BucketPlan(singles, solos, buckets, inverse)

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plan: BucketPlan
    ) -> torch.Tensor:
        parts = []
        if plan.singles is not None:
            parts.append(v.index_select(0, plan.singles))
        for s, e in plan.solos:
            # 4-D [1, H, L, d]: SDPA's fused CPU kernel takes 4-D inputs only
            ql, kl, vl = (t[None, s:e].transpose(1, 2) for t in (q, k, v))
            parts.append(F.scaled_dot_product_attention(ql, kl, vl)[0].transpose(0, 1))
        for b in plan.buckets:
            qb, kb, vb = (t[b.index].transpose(1, 2) for t in (q, k, v))  # [b, H, L_max, d]
            out = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=b.key_bias)
            parts.append(out.transpose(1, 2).flatten(0, 1).index_select(0, b.real))
        out = torch.cat(parts) if len(parts) > 1 else parts[0]
        return out if plan.inverse is None else out.index_select(0, plan.inverse)


def _bucket(
    starts: torch.Tensor, lens: torch.Tensor, lmax: int, device: torch.device, dtype: torch.dtype
) -> tuple[Bucket, torch.Tensor]:
    """A bucket of events (first rows ``starts``, lengths ``lens``) padded to ``lmax``."""
    slot = torch.arange(lmax)
    real = slot[None, :] < lens[:, None]  # [b, L_max]
    index = starts[:, None] + torch.where(real, slot[None, :], 0)
    flat_real = real.flatten().nonzero().squeeze(1)
    key_bias = None if bool(real.all()) else key_padding_bias(real, dtype).to(device)
    return Bucket(index.to(device), key_bias, flat_real.to(device)), index.flatten()[flat_real]


def key_padding_bias(real: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``real [b, L] -> [b, 1, 1, L]`` additive bias: 0 on real keys, -inf on padding.

    An additive float mask keeps SDPA on its fused CPU kernel; a boolean mask sends it to the
    unfused math path (several times slower here)."""
    bias = torch.zeros(real.shape, dtype=dtype).masked_fill_(~real, float("-inf"))
    return bias[:, None, None, :]
