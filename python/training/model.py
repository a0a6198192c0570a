"""Encoder + head as one module (what the optimiser and DDP see).

The head is the conditional flow (loss ``-log p(target | encoding)``) or the MSE point head.
The encoder may run under CUDA autocast; the head always runs in its own dtype (float64 flows
as in the original), outside autocast.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn


class GapRecoModel(nn.Module):
    """``forward(x [N_total, D], seqlens [B], targets [B, 6]) -> per-event loss [B]``."""

    def __init__(self, encoder: nn.Module, head: nn.Module, kind: str,
                 amp_dtype: Optional[torch.dtype] = None) -> None:
        super().__init__()
        if kind not in ("flow", "point"):
            raise ValueError(f"kind must be 'flow' or 'point', got {kind!r}")
        self.encoder, self.head, self.kind = encoder, head, kind
        self.amp_dtype = amp_dtype

    def encode(self, x: torch.Tensor, seqlens: torch.Tensor) -> torch.Tensor:
        if self.amp_dtype is not None and x.device.type == "cuda":
            with torch.autocast("cuda", dtype=self.amp_dtype):
                return self.encoder(x, seqlens).float()
        return self.encoder(x, seqlens)

    def forward(self, x: torch.Tensor, seqlens: torch.Tensor, targets: torch.Tensor
                ) -> torch.Tensor:
        enc = self.encode(x, seqlens)
        with torch.autocast(x.device.type, enabled=False):
            if self.kind == "flow":
                return -self.head.log_prob(targets.to(self.head.dtype), enc.to(self.head.dtype))
            return self.head.loss(targets, enc)
