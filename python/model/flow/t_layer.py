"""The affine ("t") layer with a full lower-triangular scale: ``x = L z + m``.

A flow made of this layer alone is ``MultivariateNormal(m, scale_tril=L)``. Parameters per event:
``raw [B, dim + dim*(dim-1)/2]`` = bounded log-diagonal of L, then strictly-lower entries filled
one sub-diagonal at a time from the farthest (offset -(dim-1)) to offset -1.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Tuple

import torch

from .g_layer import with_sample_axes
from .widths import bounded_log_width


@cache
def strict_lower_indices(dim: int) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    """Rows and columns of the strictly-lower entries in the original's fill order."""
    rows, cols = [], []
    for k in range(dim - 1, 0, -1):
        rows += [i + k for i in range(dim - k)]
        cols += list(range(dim - k))
    return tuple(rows), tuple(cols)


@dataclass
class TParams:
    """Per-event parameters of one t layer: ``scale_tril [B, dim, dim]``, ``log_diag [B, dim]``."""

    scale_tril: torch.Tensor
    log_diag: torch.Tensor

    @classmethod
    def from_vector(cls, theta: torch.Tensor, dim: int, w_min: float, w_max: float) -> TParams:
        log_diag = bounded_log_width(theta[:, :dim], w_min, w_max)
        rows, cols = strict_lower_indices(dim)
        lower = theta.new_zeros(theta.shape[0], dim, dim)
        lower[:, rows, cols] = theta[:, dim:]
        return cls(lower + torch.diag_embed(log_diag.exp()), log_diag)

    def to_base(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``z = L^-1 x`` by triangular solve; ``log|det dz/dx| = -sum log L_dd`` ``[B, ...]``."""
        flat = x.reshape(x.shape[0], -1, x.shape[-1]).transpose(1, 2)
        z = torch.linalg.solve_triangular(self.scale_tril, flat, upper=False)
        z = z.transpose(1, 2).reshape(x.shape)
        logdet = -self.log_diag.sum(-1)
        return z, with_sample_axes(logdet, x).expand(x.shape[:-1])

    def from_base(self, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``x = L z``; ``log|det dx/dz| = sum log L_dd``."""
        x = (with_sample_axes(self.scale_tril, z) @ z.unsqueeze(-1)).squeeze(-1)
        logdet = self.log_diag.sum(-1)
        return x, with_sample_axes(logdet, z).expand(z.shape[:-1])
