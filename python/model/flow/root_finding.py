"""Vectorised safeguarded Newton iteration for many independent monotone increasing 1D equations."""

from __future__ import annotations

from typing import Callable, Tuple

import torch

#: default absolute tolerance on the root, per dtype (in the layer's input units)
DEFAULT_TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def solve_increasing(
    fn: Callable[[torch.Tensor], Tuple[torch.Tensor, torch.Tensor]],
    target: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    tol: float | None = None,
    max_iter: int = 100,
) -> torch.Tensor:
    """Solve ``fn(u) = target`` for ``u`` in ``[lo, hi]`` elementwise, all elements at once.

    ``fn`` returns ``(value, log_derivative)`` and must be increasing with
    ``fn(lo) <= target <= fn(hi)``. Each step takes the Newton step when it lands strictly inside
    the current bracket and the bisection midpoint otherwise, then shrinks the bracket, so it
    converges for every element. Stops when every element's step is below
    ``tol * (1 + |u|)`` or after ``max_iter`` steps. Elements with a non-finite target or
    bracket give NaN. No gradient flows through the iteration.
    """
    tol = DEFAULT_TOL.get(target.dtype, 1e-6) if tol is None else tol
    with torch.no_grad():
        valid = torch.isfinite(target) & torch.isfinite(lo) & torch.isfinite(hi)
        lo, hi = lo.clone(), hi.clone()
        u = 0.5 * (lo + hi)
        for _ in range(max_iter):
            value, log_deriv = fn(u)
            residual = value - target
            above = residual > 0
            hi = torch.where(above, u, hi)
            lo = torch.where(above, lo, u)
            newton = u - residual * torch.exp(-log_deriv)
            inside = (newton >= lo) & (newton <= hi)
            u_next = torch.where(inside, newton, 0.5 * (lo + hi))
            step = (u_next - u).abs()
            u = u_next
            # non-finite targets or brackets cannot converge: they are not waited for
            if bool(((step <= tol * (1.0 + u.abs())) | ~valid).all()):
                break
        # and they come out as NaN, never as a silently finite bracket end
        u = torch.where(valid, u, torch.full_like(u, float("nan")))
    return u
