"""One encoder layer (self-attention block + feed-forward block) and the stack of them.

Parameter names follow the original: ``in_projector.joint_projector.mlp.0``,
``out_projector.projector.mlp.0``, ``linear1``, ``linear2``, ``norm1``, ``norm2``; the stack is
``layers.<i>`` plus ``norm`` (the optional extra layer norm after the last layer).
"""

from __future__ import annotations

from typing import Callable, Optional, cast

import torch
import torch.nn.functional as F
from torch import nn

from .projection import JointQKVProjector, SelfProjector

#: ``attend(qkv [N_total, 3, H, d_head]) -> [N_total, H, d_head]`` (batch plan already bound)
Attend = Callable[[torch.Tensor], torch.Tensor]


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

    # The layer is ``combine(x, attention(qkv(x)))``; everything but the attention is row-wise,
    # which lets the stack run it in row chunks at inference (see EncoderStack).
    def qkv(self, x: torch.Tensor) -> torch.Tensor:
        """``x [n, E] -> [n, 3E]``: the joint q|k|v projection of ``norm1(x)`` (norm first) or
        ``x``."""
        return self.in_projector(self.norm1(x) if self.norm_first else x)

    def heads(self, qkv: torch.Tensor) -> torch.Tensor:
        """``[N, 3E] -> [N, 3, H, E/H]`` view: q, k, v; head h holds channels h*E/H ..."""
        return qkv.view(qkv.shape[0], 3, self.nhead, -1)

    def combine(self, x: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
        """``x, attention output [n, E] -> layer output [n, E]`` (table in the class doc)."""
        sa = self.dropout1(attn if self.out_projector is None else self.out_projector(attn))
        ff, n1, n2 = self._ff_block, self.norm1, self.norm2
        if self.residual_mode == 1:
            if self.norm_first:
                x = x + sa
                return x + ff(n2(x))
            x = n1(x + sa)
            return n2(x + ff(x))
        if self.residual_mode == 2:
            if self.norm_first:
                return x + ff(n2(sa))
            return n2(x + ff(n1(x + sa)))
        if self.norm_first:
            return ff(n2(sa))
        return n2(ff(n1(sa)))

    def forward(self, x: torch.Tensor, attend: Attend) -> torch.Tensor:
        attn = attend(self.heads(self.qkv(x)))
        return self.combine(x, attn.reshape(x.shape[0], self.embed_dim))

    def _ff_block(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(x), inplace=True))))


class EncoderStack(nn.Module):
    """``layers.0 .. layers.{n-1}`` applied in turn, then ``norm`` if configured.

    Without autograd (and without active dropout) the row-wise parts run in chunks of
    ``row_chunk`` rows written into buffers reused by all layers: the intermediates stay in
    cache and no large tensor is allocated per layer (large fresh allocations cost page faults
    that can exceed the arithmetic). With autograd the layers run whole, so dropout draws its
    random numbers in the original order.
    """

    row_chunk = 4096

    def __init__(self, layers: list[EncoderLayer], norm: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm = norm

    @property
    def encoder_layers(self) -> list[EncoderLayer]:
        """``layers`` as the :class:`EncoderLayer` list it holds (typed view, same modules)."""
        return [cast(EncoderLayer, layer) for layer in self.layers]

    def forward(self, x: torch.Tensor, attend: Attend) -> torch.Tensor:
        dropout_active = self.training and any(
            isinstance(m, nn.Dropout) and m.p > 0 for m in self.modules()
        )
        if torch.is_grad_enabled() or dropout_active:
            for layer in self.encoder_layers:
                x = layer(x, attend)
        else:
            x = self._forward_chunked(x, attend)
        return x if self.norm is None else self.norm(x)

    def _forward_chunked(self, x: torch.Tensor, attend: Attend) -> torch.Tensor:
        n, e = x.shape
        x = x.clone()  # updated in place below; never the caller's tensor
        qkv = x.new_empty(n, 3 * e)
        rows = [slice(i, min(i + self.row_chunk, n)) for i in range(0, n, self.row_chunk)]
        for layer in self.encoder_layers:
            for r in rows:
                qkv[r] = layer.qkv(x[r])
            attn = attend(layer.heads(qkv)).reshape(n, e)
            for r in rows:
                x[r] = layer.combine(x[r], attn[r])
        return x
