"""The g layer's 1D maps: an equal-weight logistic-mixture CDF followed by logit or Phi^-1.

All functions work elementwise on ``u [..., dim]``; kernel parameters carry the kernel axis last:
``means/log_widths [..., dim, K]`` (contiguous reductions). Everything in log space.
"""

from __future__ import annotations

import math
from typing import Tuple

import torch
import torch.nn.functional as F

#: below / above this CDF value Phi^-1 uses the closed-form tail approximation (original: 0.5e-7)
TAIL_BOUND = 0.5e-7
#: constant of the erfinv approximation used in the tails
ERFINV_A = 0.147
_LOG4 = math.log(4.0)
_LOG_SQRT_2PI = math.log(math.sqrt(2.0 * math.pi))


def logistic_mixture(
    u: torch.Tensor, means: torch.Tensor, log_widths: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(log F, log(1 - F), log f)`` of ``F = mean_k sigmoid((u - mu_k) / w_k)``, like ``u``."""
    a = (u.unsqueeze(-1) - means) * torch.exp(-log_widths)
    sp = F.softplus(-a)
    log_k = math.log(means.shape[-1])
    log_cdf = torch.logsumexp(-sp, dim=-1) - log_k
    log_sf = torch.logsumexp(-a - sp, dim=-1) - log_k
    log_pdf = torch.logsumexp(-a - log_widths - 2.0 * sp, dim=-1) - log_k
    return log_cdf, log_sf, log_pdf


def logit_map(
    log_cdf: torch.Tensor, log_sf: torch.Tensor, log_pdf: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """``y = logit(F)`` and ``log dy/du = log f + log(1/F + 1/(1-F))``."""
    return log_cdf - log_sf, torch.logaddexp(-log_sf, -log_cdf) + log_pdf


def _tail_terms(ln_fac: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """erfinv-approximation magnitude ``|y|`` and its log-derivative factor, for ``ln_fac < 0``."""
    c = 2.0 / (math.pi * ERFINV_A)
    comb = c + 0.5 * ln_fac
    root = torch.sqrt(comb**2 - ln_fac / ERFINV_A)
    magnitude = torch.sqrt((2.0 * (root - comb)).clamp_min(0.0))
    log_num = torch.log(-(comb - 1.0 / ERFINV_A - root))
    log_den = 0.5 * math.log(8.0) + 0.5 * torch.log(root - comb) + torch.log(root)
    return magnitude, log_num - log_den


def inverse_normal_map(
    log_cdf: torch.Tensor, log_sf: torch.Tensor, log_pdf: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """``y = Phi^-1(F)`` and ``log dy/du``; closed-form erfinv approximation in the tails.

    Inside ``TAIL_BOUND < F < 1 - TAIL_BOUND``: ``y = sqrt(2) erfinv(2F - 1)``,
    ``log dy/du = log sqrt(2 pi) + y^2 / 2 + log f``. Both branches are evaluated on safe inputs
    and merged with ``where`` so gradients stay finite.
    """
    cdf = torch.exp(log_cdf)
    right = cdf >= 1.0 - TAIL_BOUND
    left = cdf <= TAIL_BOUND
    good = ~(right | left)
    cdf_good = torch.where(good, cdf, torch.full_like(cdf, 0.5))
    e = torch.erfinv(2.0 * cdf_good - 1.0)
    y_good = e * math.sqrt(2.0)
    d_good = _LOG_SQRT_2PI + e**2 + log_pdf

    ln_fac = log_cdf + log_sf + _LOG4
    ln_fac_safe = torch.where(good, torch.full_like(ln_fac, -20.0), ln_fac.clamp_max(-1e-3))
    magnitude, log_factor = _tail_terms(ln_fac_safe)
    cdf_tail = torch.where(good, torch.zeros_like(cdf), cdf)
    d_tail = log_factor - log_sf - log_cdf + torch.log(torch.abs(1.0 - 2.0 * cdf_tail)) + log_pdf
    y = torch.where(good, y_good, torch.where(right, magnitude, -magnitude))
    return y, torch.where(good, d_good, d_tail)


def gaussianize(
    u: torch.Tensor,
    means: torch.Tensor,
    log_widths: torch.Tensor,
    inverse_normal: bool,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension map ``u -> y`` of one g layer and ``log dy/du`` (density direction)."""
    quantities = logistic_mixture(u, means, log_widths)
    return inverse_normal_map(*quantities) if inverse_normal else logit_map(*quantities)
