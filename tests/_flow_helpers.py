"""Shared builders for the flow tests: non-Gaussian vertex-like labels and initialised flows."""

from __future__ import annotations

import torch
from llp_gap_reco.flow import ConditionalFlow


def vertex_labels(n: int, seed: int = 0) -> torch.Tensor:
    """``[n, 6]`` float64 production/decay vertices in metres: correlated, skewed, heavy-tailed.

    Production ~ correlated Gaussian (sigma ~ 200-400 m); decay = production + a gap along a
    direction with an exponential length (mean 150 m), so the gap length is skewed.
    """
    g = torch.Generator().manual_seed(seed)
    mix = torch.tensor([[300.0, 0, 0], [80.0, 250.0, 0], [-40.0, 60.0, 400.0]], dtype=torch.float64)
    prod = torch.randn(n, 3, generator=g, dtype=torch.float64) @ mix.T + torch.tensor(
        [20.0, -50.0, -100.0]
    )
    direction = torch.randn(n, 3, generator=g, dtype=torch.float64) * 0.3 + torch.tensor(
        [0.2, 0.1, -1.0]
    )
    direction = direction / direction.norm(dim=1, keepdim=True)
    length = -150.0 * torch.log(torch.rand(n, 1, generator=g, dtype=torch.float64))
    return torch.cat([prod, prod + length * direction], dim=1)


def initialised_flow(
    flow_defs: str = "gggggt",
    conditional_input_dim: int = 16,
    perturb: float = 0.05,
    seed: int = 0,
    **kwargs,
) -> ConditionalFlow:
    """A flow initialised on ``vertex_labels`` whose last-layer weights are perturbed so that
    different encodings give visibly different densities."""
    torch.manual_seed(seed)
    flow = ConditionalFlow(flow_defs, conditional_input_dim=conditional_input_dim, **kwargs)
    flow.init_from_labels(vertex_labels(1000, seed=seed), seed=seed)
    with torch.no_grad():
        last = flow.mlp_predictors[0][-1].weight
        last.add_(
            perturb
            * torch.randn(last.shape, generator=torch.Generator().manual_seed(seed + 1)).to(last)
        )
    return flow


def encodings(b: int, d: int = 16, seed: int = 1, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(b, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)
