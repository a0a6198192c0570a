"""Per-event aggregation of per-DOM rows ``y [N_total, C]`` into ``[B, ...]`` (packed form).

* ``mean``: ``m_b = (1/L_b) sum_i y_i``;
* ``mean_n_diagonal``: ``[m_b, (1/L_b) sum_i (y_i - m_b)^2]`` (mean and population variance
  per channel), ``[B, 2C]``;
* weighted mean: the last channel ``w`` is a logit: ``sum_i softmax_b(w)_i y_i[:-1]``,
  ``[B, C-1]`` (softmax within each event).
"""

from __future__ import annotations

import torch


def segment_sum(y: torch.Tensor, seg: torch.Tensor, n_events: int) -> torch.Tensor:
    """``[N, C] -> [B, C]``: sum of the rows of each event (``seg [N]`` = event of each row)."""
    return y.new_zeros(n_events, y.shape[1]).index_add(0, seg, y)


def segment_mean(y: torch.Tensor, seg: torch.Tensor, seqlens: torch.Tensor) -> torch.Tensor:
    return segment_sum(y, seg, seqlens.shape[0]) / seqlens[:, None].to(y.dtype)


def mean_and_variance(y: torch.Tensor, seg: torch.Tensor, seqlens: torch.Tensor) -> torch.Tensor:
    """``[B, 2C]``: per-event mean, then per-event mean of squared deviations from it."""
    mean = segment_mean(y, seg, seqlens)
    var = segment_mean((y - mean.index_select(0, seg)) ** 2, seg, seqlens)
    return torch.cat([mean, var], dim=-1)


def weighted_mean(y: torch.Tensor, seg: torch.Tensor, seqlens: torch.Tensor) -> torch.Tensor:
    """``[B, C-1]``: softmax (within events) of the last channel weights the other channels."""
    logit = y[:, -1]
    top = logit.new_full((seqlens.shape[0],), float("-inf")).scatter_reduce(
        0, seg, logit, "amax", include_self=True
    )
    w = torch.exp(logit - top.index_select(0, seg))
    norm = w.new_zeros(seqlens.shape[0]).index_add(0, seg, w)
    w = w / norm.index_select(0, seg)
    return segment_sum(w[:, None] * y[:, :-1], seg, seqlens.shape[0])


def aggregate(
    y: torch.Tensor, seqlens: torch.Tensor, seg: torch.Tensor, mode: str, weighted: bool
) -> torch.Tensor:
    """Dispatch on the configured ``attn_aggregation_mode`` / ``attn_use_weighted_mean``."""
    if weighted:
        return weighted_mean(y, seg, seqlens)
    if mode == "mean":
        return segment_mean(y, seg, seqlens)
    if mode == "mean_n_diagonal":
        return mean_and_variance(y, seg, seqlens)
    raise ValueError(f"unknown aggregation mode {mode!r}")
