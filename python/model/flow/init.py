"""Data-driven initialisation from training labels (the original ``init_params``).

Walks the layers from the label side inward: the last layer's offset is the label mean; a t layer
gets the Cholesky factor of the label covariance (small singular values lifted to 1e-4 of the
largest, as the original), fitted by reverse KL when the width bounds clip the diagonal; a g
layer gets random Householder vectors, kernel means at 10 evenly spaced percentiles (0..100) of
the rotated data per dimension and raw log-widths ``log(1.5 * smallest percentile gap)``. The
labels are pushed through each fitted layer before the next. Finally every MLP weight and bias is
re-drawn (PyTorch default) and divided by ``damping_factor`` and the last bias is set to the
fitted vector, so every event starts with the same data-fitted density.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Union

import torch
from torch import nn

from .g_layer import GParams
from .t_layer import TParams, strict_lower_indices
from .widths import bounded_log_width, raw_from_width

if TYPE_CHECKING:  # annotation only: conditional_flow imports this module
    from .conditional_flow import ConditionalFlow

logger = logging.getLogger(__name__)


def _fit_t(
    data: torch.Tensor, w_min: float, w_max: float, min_sv_ratio: float = 1e-4
) -> torch.Tensor:
    """Raw t parameters ``[dim + dim(dim-1)/2]`` whose ``L L^T`` matches ``data^T data / N``."""
    dim = data.shape[1]
    cov = data.T @ data / data.shape[0]
    evals, evecs = torch.linalg.eigh(cov)
    evals = evals.clamp_min(min_sv_ratio * evals.max())
    cov = (evecs * evals) @ evecs.T
    chol = torch.linalg.cholesky(cov)
    rows, cols = strict_lower_indices(dim)
    theta = torch.cat([raw_from_width(chol.diagonal(), w_min, w_max), chol[rows, cols]])
    diag = chol.diagonal()
    if bool(((diag <= w_min) | (diag >= w_min + w_max)).any()):
        logger.warning(
            "label scale outside the t-layer width bounds [%g, %g] (Cholesky diagonal %s): "
            "fitting the clipped covariance by reverse KL; standardise labels for new models",
            w_min,
            w_min + w_max,
            diag.tolist(),
        )
        theta = _reverse_kl_fit(theta, cov, w_min, w_max)
    return theta


def _reverse_kl_fit(
    theta: torch.Tensor, cov: torch.Tensor, w_min: float, w_max: float
) -> torch.Tensor:
    """Minimise ``KL(N(0, L L^T) || N(0, cov))`` over the raw t parameters (LBFGS, float64)."""
    dim = cov.shape[0]
    theta = theta.detach().clone().to(torch.float64).requires_grad_(True)
    cov_inv = torch.linalg.inv(cov.to(torch.float64))
    rows, cols = strict_lower_indices(dim)
    opt = torch.optim.LBFGS([theta], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        log_diag = bounded_log_width(theta[:dim], w_min, w_max)
        lower = theta.new_zeros(dim, dim)
        lower = lower.index_put((torch.tensor(rows), torch.tensor(cols)), theta[dim:])
        chol = lower + torch.diag(log_diag.exp())
        kl = 0.5 * (torch.trace(cov_inv @ chol @ chol.T) - 2.0 * log_diag.sum())
        kl.backward()
        return kl

    opt.step(closure)
    return theta.detach().to(cov.dtype)


def init_from_labels(
    flow: ConditionalFlow, labels: torch.Tensor, seed: int = 0, damping_factor: float = 1000.0
) -> None:
    """Initialise ``flow`` (a ``ConditionalFlow``) in place from ``labels [N, dim]`` (metres)."""
    labels = torch.as_tensor(labels, dtype=torch.float64)
    if labels.dim() != 2 or labels.shape[1] != flow.dim or labels.shape[0] < 2:
        raise ValueError(f"labels must have shape [N >= 2, {flow.dim}], got {tuple(labels.shape)}")
    if not bool(torch.isfinite(labels).all()):
        raise ValueError("labels contain non-finite values")
    gen = torch.Generator().manual_seed(seed)
    if flow.label_standardization:
        scale = labels.std(0).clamp_min(1e-12)
        flow.set_label_standardization(labels.mean(0), scale)
        labels = (labels - labels.mean(0)) / scale
    data = labels
    blocks = []
    for slot in reversed(flow.slots):
        parts = []
        if slot.has_offset:
            mean = data.mean(0)
            parts.append(mean)
            data = data - mean
        if slot.kind == "t":
            theta = _fit_t(data, flow.t_width_min, flow.t_width_max)
            layer: Union[TParams, GParams] = TParams.from_vector(
                theta[None], flow.dim, flow.t_width_min, flow.t_width_max
            )
            parts.append(theta)
        else:
            vs = torch.randn(flow.dim * flow.dim, generator=gen, dtype=torch.float64)
            q = GParams.from_vector(
                torch.cat([vs, torch.zeros(2 * flow.n_kernels * flow.dim, dtype=torch.float64)])[
                    None
                ],
                flow.dim,
                flow.n_kernels,
                flow.g_width_min,
                flow.g_width_max,
                slot.inverse_normal,
            ).rotation
            rotated = data @ q[0]
            levels = torch.linspace(0.0, 1.0, flow.n_kernels, dtype=torch.float64)
            means = torch.quantile(rotated, levels, dim=0)  # [K, dim]
            gap = (means[1:] - means[:-1]).amin(0).clamp_min(1e-6)
            raw_widths = torch.log(1.5 * gap).expand(flow.n_kernels, -1)
            theta = torch.cat([vs, means.flatten(), raw_widths.flatten()])
            layer = GParams.from_vector(
                theta[None],
                flow.dim,
                flow.n_kernels,
                flow.g_width_min,
                flow.g_width_max,
                slot.inverse_normal,
            )
            parts.append(theta)
        data = layer.to_base(data[None])[0][0]
        blocks.append(torch.cat(parts))
    vector = torch.cat(blocks[::-1])
    mlp = flow._mlp
    with torch.no_grad():
        for module in mlp:
            if isinstance(module, nn.Linear):
                module.reset_parameters()
                module.weight.div_(damping_factor)
                module.bias.div_(damping_factor)
        last = mlp[-1]
        assert isinstance(last, nn.Linear)
        last.bias.copy_(vector.to(last.bias.dtype))
    logger.info("initialised %s flow from %d labels", flow.flow_defs, labels.shape[0])
