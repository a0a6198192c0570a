"""``SkipMLP``: linear layers with Tanh between them and an optional linear skip connection.

Parameter names follow the original: ``mlp.0``, ``mlp.2``, ... (``mlp.1`` is the Tanh) and
``skip_connection`` (no bias).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn


def parse_hidden_dims(hidden_dims: str) -> list[int]:
    """``"128-256" -> [128, 256]``; ``"" -> []``."""
    return [int(p) for p in hidden_dims.split("-")] if hidden_dims else []


class SkipMLP(nn.Module):
    """``x [..., input_dim] -> [..., output_dim]``: Linear, (Tanh, Linear)*, plus ``W_skip x``."""

    def __init__(
        self,
        input_dim: int,
        hidden_dims: str,
        output_dim: int,
        add_skip_connection: bool = False,
        dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        dims = [input_dim, *parse_hidden_dims(hidden_dims), output_dim]
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            if i:
                layers.append(nn.Tanh())
            layers.append(nn.Linear(d_in, d_out, dtype=dtype))
        self.mlp = nn.Sequential(*layers)
        self.skip_connection = (
            nn.Linear(input_dim, output_dim, bias=False, dtype=dtype)
            if add_skip_connection
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mlp(x)
        return y if self.skip_connection is None else self.skip_connection(x) + y
