"""One encoder layer (self-attention block + feed-forward block) and the stack of them.

Parameter names follow the original: ``in_projector.joint_projector.mlp.0``,
``out_projector.projector.mlp.0``, ``linear1``, ``linear2``, ``norm1``, ``norm2``; the stack is
``layers.<i>`` plus ``norm`` (the optional extra layer norm after the last layer).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .projection import JointQKVProjector, SelfProjector

#: ``attend(q, k, v) -> out`` on packed ``[N_total, H, d_head]`` tensors (plan already bound)
Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class EncoderLayer(nn.Module):
    """``x [N_total, E] -> [N_total, E]``.

    With ``sa(x) = dropout1(W_out attn(x))`` (no ``W_out`` without per-layer out projection) and
    ``ff(x) = dropout2(linear2(dropout(relu(linear1(x)))))``, norms ``n1, n2``:

    ========  ==============================  ================================
    residual  norm_first                      norm after
    ========  ==============================  ================================
    1         x += sa(n1 x); x += ff(n2 x)    x = n1(x + sa x); x = n2(x + ff x)
    2         x = x + ff(n2(sa(n1 x)))        s = n1(x + sa x); x = n2(x + ff s)
    0         x = ff(n2(sa(n1 x)))            x = n2(ff(n1(sa x)))
    ========  ==============================  ================================
    """

    def __init__(
        self,
        embed_dim: int,
        nhead: int,
        dim_feedforward: int,
        dropout: float,
        norm_first: bool,
        use_layer_norm_1: bool,
        use_layer_norm_2: bool,
        residual_mode: int,
        do_perlayer_out_projection: bool,
        dtype: Optional[torch.dtype] = None,
        layer_norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.nhead = nhead
        self.embed_dim = embed_dim
        self.norm_first = bool(norm_first)
        self.residual_mode = int(residual_mode)
        self.in_projector = JointQKVProjector(embed_dim, dtype=dtype)
        self.out_projector = (
            SelfProjector(embed_dim, embed_dim, dtype=dtype) if do_perlayer_out_projection else None
        )
        self.linear1 = nn.Linear(embed_dim, dim_feedforward, dtype=dtype)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, embed_dim, dtype=dtype)
        self.norm1 = (
            nn.LayerNorm(embed_dim, eps=layer_norm_eps, dtype=dtype)
            if use_layer_norm_1
            else nn.Identity()
        )
        self.norm2 = (
            nn.LayerNorm(embed_dim, eps=layer_norm_eps, dtype=dtype)
            if use_layer_norm_2
            else nn.Identity()
        )
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, attend: Attend) -> torch.Tensor:
        sa, ff, n1, n2 = (
            (lambda t: self._sa_block(t, attend)),
            self._ff_block,
            self.norm1,
            self.norm2,
        )
        if self.residual_mode == 1:
            if self.norm_first:
                x = x + sa(n1(x))
                return x + ff(n2(x))
            x = n1(x + sa(x))
            return n2(x + ff(x))
        if self.residual_mode == 2:
            if self.norm_first:
                return x + ff(n2(sa(n1(x))))
            s = n1(x + sa(x))
            return n2(x + ff(s))
        if self.norm_first:
            return ff(n2(sa(n1(x))))
        return n2(ff(n1(sa(x))))

    def _sa_block(self, x: torch.Tensor, attend: Attend) -> torch.Tensor:
        n = x.shape[0]
        q, k, v = (t.reshape(n, self.nhead, -1) for t in self.in_projector(x))
        out = attend(q, k, v).reshape(n, self.embed_dim)
        if self.out_projector is not None:
            out = self.out_projector(out)
        return self.dropout1(out)

    def _ff_block(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(x)))))


class EncoderStack(nn.Module):
    """``layers.0 .. layers.{n-1}`` applied in turn, then ``norm`` if configured."""

    def __init__(self, layers: list[EncoderLayer], norm: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = norm

    def forward(self, x: torch.Tensor, attend: Attend) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, attend)
        return x if self.norm is None else self.norm(x)
