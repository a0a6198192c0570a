"""The point-estimate baseline head: ``Linear(D, 6)`` on the encoding, trained with MSE.

It predicts standardised targets ``(x - label_offset) / label_scale``; :meth:`predict` returns
metres. Used for the MSE baseline of the evaluation report ("the same encoder trained with MSE").
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import nn


class PointHead(nn.Module):
    """``encoding [B, D] -> [B, dim]`` standardised; ``config`` rebuilds it."""

    label_offset: torch.Tensor  # [dim] float64 buffer, metres
    label_scale: torch.Tensor  # [dim] float64 buffer, metres

    def __init__(
        self,
        conditional_input_dim: int,
        dim: int = 6,
        label_offset: Optional[Sequence[float]] = None,
        label_scale: Optional[Sequence[float]] = None,
    ) -> None:
        super().__init__()
        self.conditional_input_dim, self.dim = int(conditional_input_dim), int(dim)
        self.linear = nn.Linear(self.conditional_input_dim, self.dim)
        off = torch.zeros(dim) if label_offset is None else torch.as_tensor(label_offset)
        scale = torch.ones(dim) if label_scale is None else torch.as_tensor(label_scale)
        self.register_buffer("label_offset", off.to(torch.float64), persistent=False)
        self.register_buffer("label_scale", scale.to(torch.float64), persistent=False)

    @property
    def config(self) -> dict[str, Any]:
        return {
            "conditional_input_dim": self.conditional_input_dim,
            "dim": self.dim,
            "label_offset": self.label_offset.tolist(),
            "label_scale": self.label_scale.tolist(),
        }

    def init_from_labels(self, labels: torch.Tensor, seed: int = 0) -> None:
        """Standardisation constants from training labels ``[N, dim]`` (metres)."""
        labels = labels.to(torch.float64)
        self.label_offset.copy_(labels.mean(0))
        self.label_scale.copy_(labels.std(0).clamp_min(1e-6))

    def standardize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.to(torch.float64) - self.label_offset) / self.label_scale

    def forward(self, encoding: torch.Tensor) -> torch.Tensor:
        return self.linear(encoding.to(self.linear.weight.dtype))

    def predict(self, encoding: torch.Tensor) -> torch.Tensor:
        """Point estimate in metres ``[B, dim]`` (float64)."""
        return self(encoding).to(torch.float64) * self.label_scale + self.label_offset

    def loss(self, targets: torch.Tensor, encoding: torch.Tensor) -> torch.Tensor:
        """Per-event mean squared error on standardised targets ``[B]``."""
        return ((self(encoding).to(torch.float64) - self.standardize(targets)) ** 2).mean(-1)
