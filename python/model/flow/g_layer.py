"""One Gaussianization ("g") layer: Householder rotation, per-dimension mixture CDF, logit/Phi^-1.

Density direction (label side -> base side): ``u = Q^T x``, ``y_d = G_d(u_d)``;
``log|det| = sum_d log G_d'(u_d)``. Sampling direction inverts ``G_d`` numerically, ``x = Q u``.
Parameters arrive per event: ``householder [B, dim, dim]`` (row k = v_k), ``means``,
``log_widths`` ``[B, K, dim]`` (already bounded). Inputs carry any number of sample axes between
the event axis and ``dim``: ``x [B, ..., dim]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch

from .gaussianize import gaussianize
from .root_finding import solve_increasing
from .widths import bounded_log_width


def householder_product(vs: torch.Tensor) -> torch.Tensor:
    """``Q = H_1 ... H_n``, ``H_k = I - 2 v_k v_k^T / |v_k|^2``; ``vs [B, n, dim]`` -> ``Q``."""
    v = vs / vs.norm(dim=-1, keepdim=True)
    eye = torch.eye(vs.shape[-1], dtype=vs.dtype, device=vs.device)
    q = eye.expand(vs.shape[0], -1, -1)
    for k in range(vs.shape[1]):
        vk = v[:, k]
        q = q - 2.0 * (q @ vk.unsqueeze(-1)) * vk.unsqueeze(-2)
    return q


def with_sample_axes(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """View event parameters ``p [B, *rest]`` as ``[B, 1, ..., 1, *rest]`` with one singleton per
    sample axis of ``x [B, ..., dim]``, so they broadcast against it."""
    return p.reshape(p.shape[:1] + (1,) * (x.dim() - 2) + p.shape[1:])


@dataclass
class GParams:
    """Per-event parameters of one g layer."""

    rotation: torch.Tensor  #: Q [B, dim, dim]
    means: torch.Tensor  #: [B, K, dim]
    log_widths: torch.Tensor  #: bounded log widths [B, K, dim]
    inverse_normal: bool

    @classmethod
    def from_vector(
        cls,
        theta: torch.Tensor,
        dim: int,
        n_kernels: int,
        w_min: float,
        w_max: float,
        inverse_normal: bool,
    ) -> GParams:
        """Split a ``[B, dim*dim + 2*K*dim]`` block into rotation, means and bounded log widths."""
        n_hh, n_k = dim * dim, n_kernels * dim
        vs = theta[:, :n_hh].reshape(-1, dim, dim)
        means = theta[:, n_hh : n_hh + n_k].reshape(-1, n_kernels, dim)
        raw = theta[:, n_hh + n_k : n_hh + 2 * n_k].reshape(-1, n_kernels, dim)
        return cls(
            householder_product(vs), means, bounded_log_width(raw, w_min, w_max), inverse_normal
        )

    def _maps(self, u: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        means = with_sample_axes(self.means.transpose(1, 2), u)
        log_widths = with_sample_axes(self.log_widths.transpose(1, 2), u)
        return gaussianize(u, means, log_widths, self.inverse_normal)

    def rotate_in(self, x: torch.Tensor) -> torch.Tensor:
        """``u = Q^T x`` for ``x [B, ..., dim]``."""
        q = with_sample_axes(self.rotation, x)
        return (q.transpose(-1, -2) @ x.unsqueeze(-1)).squeeze(-1)

    def rotate_out(self, u: torch.Tensor) -> torch.Tensor:
        """``x = Q u``."""
        q = with_sample_axes(self.rotation, u)
        return (q @ u.unsqueeze(-1)).squeeze(-1)

    def to_base(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Density direction: ``(y, log|det dy/dx|)``; ``x [B, ..., dim]``, logdet ``[B, ...]``."""
        y, log_deriv = self._maps(self.rotate_in(x))
        return y, log_deriv.sum(-1)

    def bracket(self, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``[lo, hi]`` in ``u`` containing the solution of ``G(u) = y``.

        With ``t = logit(F_target)``: ``min_k(mu_k + w_k t) <= u <= max_k(mu_k + w_k t)``, as each
        logistic kernel alone reaches ``F_target`` there. For Phi^-1 layers ``t`` is widened by 1
        to cover the tail approximation.
        """
        if self.inverse_normal:
            t = torch.special.log_ndtr(y) - torch.special.log_ndtr(-y)
            t_lo, t_hi = t - 1.0, t + 1.0
        else:
            t_lo = t_hi = y
        means = with_sample_axes(self.means.transpose(1, 2), y)
        widths = with_sample_axes(self.log_widths.transpose(1, 2), y).exp()
        lo = (means + widths * t_lo.unsqueeze(-1)).amin(-1)
        hi = (means + widths * t_hi.unsqueeze(-1)).amax(-1)
        return lo - 1e-6 * (1.0 + lo.abs()), hi + 1e-6 * (1.0 + hi.abs())

    def from_base(
        self, y: torch.Tensor, tol: float | None = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Sampling direction: ``x`` with ``G(Q^T x) = y`` and ``log|det dx/dy|`` ``[B, ...]``.

        Solved by safeguarded Newton to ``tol`` (``root_finding.DEFAULT_TOL``); with autograd on,
        one differentiable Newton step at the solution makes ``x`` reparameterised in ``y`` and
        the parameters (implicit-function gradients).
        """
        lo, hi = self.bracket(y)
        u = solve_increasing(lambda v: self._maps(v), y, lo, hi, tol=tol)
        value, log_deriv = self._maps(u)
        if torch.is_grad_enabled():
            u = u - (value - y) * torch.exp(-log_deriv)
        return self.rotate_out(u), -log_deriv.sum(-1)
