"""Fast per-event inversion of g layers by monotone tabulation (used by posterior summaries).

For every event and dimension, the 1D map ``y = G(u)`` is evaluated exactly (value and
derivative) on knots placed relative to each kernel, ``u = mu_k + w_k s`` for ``s`` in
``KNOT_OFFSETS`` plus two far outer knots, and sorted. ``u(y)`` is then the cubic Hermite
interpolant through ``(y_i, u_i, du/dy_i)`` (exact derivatives), continued linearly beyond the
outer knots. Per sample this costs a search and a cubic in Horner form, independent of the
number of kernels; the kernel sums are paid once per event. Tensors use the layout
``[B, dim, n]``.
"""

from __future__ import annotations

from typing import Tuple

import torch

from .g_layer import GParams
from .gaussianize import gaussianize

#: knot positions relative to each kernel, in units of its width
KNOT_OFFSETS = (-2.5, -1.0, 0.0, 1.0, 2.5)
#: outer knots sit this many (largest) widths beyond the outermost kernel means
OUTER_OFFSET = 30.0


class TabulatedInverse:
    """Tabulated ``G^-1`` of one g layer for all events.

    Interval ``i`` of ``M + 1`` (``M`` knots) holds ``u = c0 + c1 d + c2 d^2 + c3 d^3`` with
    ``d = y - anchor_i``; intervals 0 and ``M`` are the linear continuations. One table
    ``[B, dim, 5, M + 1]`` (anchor, c0..c3) is gathered once per sample.
    """

    def __init__(self, layer: GParams) -> None:
        means = layer.means.transpose(1, 2)  # [B, dim, K]
        widths = layer.log_widths.transpose(1, 2).exp()
        offsets = means.new_tensor(KNOT_OFFSETS)
        knots = (means.unsqueeze(-1) + widths.unsqueeze(-1) * offsets).flatten(-2)
        w_max = widths.amax(-1, keepdim=True)
        outer_lo = means.amin(-1, keepdim=True) - OUTER_OFFSET * w_max
        outer_hi = means.amax(-1, keepdim=True) + OUTER_OFFSET * w_max
        u = torch.cat([outer_lo, knots, outer_hi], -1).sort(-1).values  # [B, dim, M]
        y, log_deriv = gaussianize(
            u,
            means.unsqueeze(-2),
            layer.log_widths.transpose(1, 2).unsqueeze(-2),
            layer.inverse_normal,
        )
        y = torch.cummax(y, -1).values.contiguous()
        s = torch.exp(-log_deriv)  # du/dy at the knots
        h = (y[..., 1:] - y[..., :-1]).clamp_min(torch.finfo(y.dtype).tiny)
        du = u[..., 1:] - u[..., :-1]
        s0, s1 = s[..., :-1], s[..., 1:]
        c2 = (3.0 * du / h - 2.0 * s0 - s1) / h
        c3 = (s0 + s1 - 2.0 * du / h) / (h * h)
        zero = torch.zeros_like(u[..., :1])
        self.rotation = layer.rotation
        self.knots_y = y
        self.table = torch.stack(
            [
                torch.cat([y[..., :1], y], -1),  # anchor
                torch.cat([u[..., :1], u[..., :-1], u[..., -1:]], -1),
                torch.cat([s[..., :1], s0, s[..., -1:]], -1),
                torch.cat([zero, c2, zero], -1),
                torch.cat([zero, c3, zero], -1),
            ],
            2,
        )  # [B, dim, 5, M+1]: anchor, c0..c3 (rows contiguous for the per-sample arithmetic)
        self.floor = 1e-3 * s.amin(-1, keepdim=True)

    def inverse(self, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``u = G^-1(y)`` and ``log du/dy`` for ``y [B, dim, n]`` (same layout out)."""
        y = y.contiguous()
        idx = torch.searchsorted(self.knots_y, y)  # interval index 0..M
        table = self.table.gather(3, idx.unsqueeze(2).expand(-1, -1, 5, -1))
        anchor, c0, c1, c2, c3 = table.unbind(2)
        d = y - anchor
        u = ((c3 * d + c2) * d + c1) * d + c0
        slope = (3.0 * c3 * d + 2.0 * c2) * d + c1
        return u, torch.log(torch.maximum(slope, self.floor))

    def from_base(self, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Sampling direction, layout ``[B, dim, n]``: ``x = Q G^-1(y)``, ``log|dx/dy|`` [B, n]."""
        u, log_slope = self.inverse(y)
        return self.rotation @ u, log_slope.sum(1)
