"""Projections named as in the original (``projector`` / ``joint_projector`` inside a wrapper)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .mlp import SkipMLP


class SelfProjector(nn.Module):
    """``x [..., d_in] -> [..., d_out]`` through one :class:`SkipMLP` named ``projector``."""

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        hidden_dims: str = "",
        add_skip_connection: bool = False,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        self.projector = SkipMLP(input_dim, hidden_dims, output_dim, add_skip_connection, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(x)


class JointQKVProjector(nn.Module):
    """``x [..., E] -> [..., 3E]`` (q | k | v side by side) through one :class:`SkipMLP` named
    ``joint_projector``; the original splits it as ``q = y[..., :E], k = y[..., E:2E],
    v = y[..., 2E:]``."""

    def __init__(
        self, embed_dim: int, hidden_dims: str = "", dtype: Optional[torch.dtype] = None
    ) -> None:
        super().__init__()
        self.joint_projector = SkipMLP(embed_dim, hidden_dims, 3 * embed_dim, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.joint_projector(x)
