"""The reference backend: pad every event to the longest, one SDPA call with a key mask."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ...batch import to_padded
from .bucketed import key_padding_bias


class PaddedAttention:
    """``[N_total, H, d] -> [B, L_max, H, d]``, key-padding mask, back to packed rows."""

    name = "padded"

    def unavailable_reason(self, device: torch.device, dtype: torch.dtype) -> Optional[str]:
        return None

    def plan(self, seqlens: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        return seqlens.to(device)

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plan: torch.Tensor
    ) -> torch.Tensor:
        n, h, d = q.shape
        (qp, mask), (kp, _), (vp, _) = (to_padded(t.reshape(n, h * d), plan) for t in (q, k, v))
        b, lmax = mask.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, lmax, h, d).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            heads(qp), heads(kp), heads(vp), attn_mask=key_padding_bias(mask, q.dtype).to(q.device)
        )
        return out.transpose(1, 2)[mask]
