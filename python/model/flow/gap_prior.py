"""The gap-length weights a flow was trained with, and the posterior moments they imply.

A flow trained with each event weighted by ``w(gap length)`` (``TrainConfig.gap_prior="flat"``)
models the posterior under the training set's prior times ``w``: for the flat-prior weights a
posterior whose regions hold their level for every true gap length. Its samples, weighted by
``1 / w(gap)``, are samples of the posterior under the training set's own prior, whose mean is
the best point estimate for events distributed like the training set (self-normalised
importance sampling). :class:`GapPriorTable` holds ``w`` as a table over gap-length bins.
"""

from __future__ import annotations

from typing import Any, Union, overload

import numpy as np
import torch
from numpy.typing import ArrayLike


@overload
def gap_lengths(labels: torch.Tensor) -> torch.Tensor: ...
@overload
def gap_lengths(labels: np.ndarray) -> np.ndarray: ...
def gap_lengths(labels: Union[np.ndarray, torch.Tensor]) -> Union[np.ndarray, torch.Tensor]:
    """``|decay - production|`` (m) of labels ``[..., 6, ...]`` with the coordinates on axis
    ``axis=1`` (production xyz, decay xyz; m): ``[N, 6] -> [N]``, ``[B, 6, n] -> [B, n]``."""
    diff = labels[:, 3:6] - labels[:, 0:3]
    if isinstance(diff, torch.Tensor):
        return torch.linalg.vector_norm(diff, dim=1)
    return np.linalg.norm(diff, axis=1)


class GapPriorTable:
    """Loss weight ``w`` per gap-length bin: ``edges [K + 1]`` (m, increasing) and
    ``weight [K]`` (> 0); gaps outside the edges take the edge bins' weights."""

    def __init__(self, edges: ArrayLike, weight: ArrayLike) -> None:
        e = torch.as_tensor(edges, dtype=torch.float64).flatten()
        w = torch.as_tensor(weight, dtype=torch.float64).flatten()
        if e.numel() < 2 or w.numel() != e.numel() - 1:
            raise ValueError(
                f"gap prior: {e.numel()} edges need {e.numel() - 1} weights, got {w.numel()}"
            )
        if not (bool(torch.isfinite(e).all()) and bool((e[1:] > e[:-1]).all())):
            raise ValueError("gap prior: edges must be finite and increasing")
        if not (bool(torch.isfinite(w).all()) and bool((w > 0).all())):
            raise ValueError("gap prior: weights must be finite and > 0")
        self.edges, self.weight = e, w

    def config(self) -> dict[str, Any]:
        """Plain data that rebuilds the table: ``GapPriorTable(**config)``."""
        return {"edges": [float(v) for v in self.edges], "weight": [float(v) for v in self.weight]}

    def of_gaps(self, gap: torch.Tensor) -> torch.Tensor:
        """Weights of gap lengths ``gap`` (m, any shape), float64 on ``gap``'s device."""
        edges = self.edges.to(gap.device)
        i = torch.bucketize(gap.to(torch.float64).contiguous(), edges[1:-1], right=True)
        return self.weight.to(gap.device)[i]

    def weights(self, labels: torch.Tensor) -> torch.Tensor:
        """Loss weights ``[B]`` of labels ``[B, 6]`` (m), in the labels' dtype."""
        return self.of_gaps(gap_lengths(labels.detach())).to(labels.dtype)

    def sample_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Importance weights ``1 / w`` ``[B, n]`` of posterior samples ``x [B, 6, n]`` (m),
        normalised to sum 1 per event, in ``x``'s dtype."""
        v = 1.0 / self.of_gaps(gap_lengths(x))
        return (v / v.sum(-1, keepdim=True)).to(x.dtype)
