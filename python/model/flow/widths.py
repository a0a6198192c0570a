"""Bounded widths: a smooth map from a raw parameter to a width in [w_min, w_min + w_max).

``h(theta) = w_min + 1 / (exp(-theta) + 1 / w_max)``: exponential-like for small ``theta``,
saturating at ``w_max`` for large ``theta``. Used for the g-layer kernel widths and the t-layer
Cholesky diagonal. Computed in log space exactly as the original (two log-sum-exps).
"""

from __future__ import annotations

import math

import torch


def bounded_log_width(theta: torch.Tensor, w_min: float, w_max: float) -> torch.Tensor:
    """``log h(theta)``, elementwise; any shape, stable for any finite ``theta``."""
    ln_max, ln_min = math.log(w_max), math.log(w_min)
    inner = ln_max - torch.logaddexp(torch.zeros_like(theta), ln_max - theta)
    return torch.logaddexp(inner, torch.full_like(theta, ln_min))


def raw_from_width(
    width: torch.Tensor, w_min: float, w_max: float, margin: float = 1e-6
) -> torch.Tensor:
    """Inverse of ``h``: the raw parameter giving ``width``, clamped into the open range.

    Widths outside ``(w_min, w_min + w_max)`` are clamped to ``margin`` (relative) inside it.
    """
    lo = w_min * (1.0 + margin)
    hi = w_min + w_max * (1.0 - margin)
    excess = width.clamp(lo, hi) - w_min
    return -torch.log(1.0 / excess - 1.0 / w_max)
