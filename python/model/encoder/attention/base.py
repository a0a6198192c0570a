"""What an attention backend is: a plan built once per batch, then one call per layer.

All backends compute, for every event separately, ``softmax(q k^T / sqrt(d_head)) v`` per head
on the packed joint tensor ``qkv [N_total, 3, H, d_head]`` (``qkv[:, 0]`` = q, ``1`` = k,
``2`` = v) and return ``[N_total, H, d_head]``.
"""

from __future__ import annotations

from typing import Any, Optional, Protocol

import torch


class AttentionBackend(Protocol):
    """A way to compute attention within each event of a packed batch."""

    name: str

    def unavailable_reason(
        self, device: torch.device, dtype: torch.dtype, head_dim: Optional[int] = None
    ) -> Optional[str]:
        """``None`` when this backend runs for tensors on ``device`` with ``dtype`` (and heads
        of ``head_dim`` channels, when given); else why not, in words."""

    def plan(self, seqlens: torch.Tensor, device: torch.device, dtype: torch.dtype) -> Any:
        """Everything that depends only on the event lengths ``seqlens [B]`` (all >= 1), for
        tensors of ``dtype`` on ``device``."""

    def attend(self, qkv: torch.Tensor, plan: Any) -> torch.Tensor:
        """``qkv [N_total, 3, H, d_head] -> [N_total, H, d_head]``, attention within events."""
