"""The reference backend: pad every event to the longest, one SDPA call with a key mask."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ....core.batch import to_padded
from .bucketed import key_padding_bias, sdpa_kernels


class PaddedAttention:
    """``[N_total, 3, H, d] -> [B, L_max, ...]``, key-padding mask, back to packed rows."""

    name = "padded"

    def unavailable_reason(
        self, device: torch.device, dtype: torch.dtype, head_dim: Optional[int] = None
    ) -> Optional[str]:
        return None

    def plan(self, seqlens: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        return seqlens.to(device)

    def attend(self, qkv: torch.Tensor, plan: torch.Tensor) -> torch.Tensor:
        n, _, h, d = qkv.shape
        padded, mask = to_padded(qkv.reshape(n, 3 * h * d), plan)  # [B, L_max, 3 H d]
        b, lmax = mask.shape
        q, k, v = padded.view(b, lmax, 3, h, d).permute(2, 0, 3, 1, 4)  # each [B, H, L_max, d]
        bias = key_padding_bias(mask, qkv.dtype).to(qkv.device)
        with sdpa_kernels(qkv.device):
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return out.transpose(1, 2)[mask]
