"""Optional backend: the real ``jammy_flows`` model behind the ``ConditionalFlow`` interface.

Only this module imports ``jammy_flows`` (not on PyPI; install it from its repository). It
exists to cross-check the native flow and to run original checkpoints with the original code.
It uses the original convention: labels in metres, no standardisation; sampling is the
original's (numpy base draws, bisection + Newton per sample), so it is slow.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .summary import PosteriorSummary, summary_from_samples

logger = logging.getLogger(__name__)


def jammy_available() -> bool:
    """Whether ``jammy_flows`` can be imported here."""
    try:
        import jammy_flows  # noqa: F401
    except Exception:
        return False
    return True


class JammyFlow(nn.Module):
    """``jammy_flows.pdf("e<dim>", flow_defs, ...)`` configured as the original model.

    Its state dict has the keys of the native flow (``mlp_predictors.0.*``), so checkpoints move
    freely between the two.
    """

    def __init__(
        self,
        flow_defs: str = "gggggt",
        conditional_input_dim: int = 100,
        dim: int = 6,
        mlp_hidden_dims: Sequence[int] = (128,),
        n_kernels: int = 10,
        g_width_min: float = 0.01,
        g_width_max: float = 1.0,
        t_width_min: float = 0.01,
        t_width_max: float = 100.0,
        dtype: str = "float64",
    ) -> None:
        super().__init__()
        import jammy_flows

        options = {
            "t": {
                "cov_type": "full",
                "lower_bound_for_widths": t_width_min,
                "upper_bound_for_widths": t_width_max,
            },
            "g": {
                "fit_normalization": 0,
                "num_kde": n_kernels,
                "lower_bound_for_widths": g_width_min,
                "upper_bound_for_widths": g_width_max,
            },
        }
        self.pdf = jammy_flows.pdf(
            f"e{dim}",
            flow_defs,
            conditional_input_dim=conditional_input_dim,
            options_overwrite=options,
            amortization_mlp_dims="-".join(str(h) for h in mlp_hidden_dims),
        )
        self.pdf.to(torch.float64 if dtype == "float64" else torch.float32)
        self.dim = dim

    @property
    def dtype(self) -> torch.dtype:
        return next(self.pdf.parameters()).dtype

    def state_dict(self, *args: Any, **kwargs: Any) -> Dict[str, torch.Tensor]:  # type: ignore[override]
        return self.pdf.state_dict(*args, **kwargs)

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        return self.pdf.load_state_dict(state_dict, strict=strict, assign=assign)

    def log_prob(self, x: torch.Tensor, encoding: torch.Tensor) -> torch.Tensor:
        """``log p(x | encoding)`` ``[B]`` for ``x [B, dim]`` (metres)."""
        return self.pdf(x.to(self.dtype), conditional_input=encoding.to(self.dtype))[0]

    def sample_with_log_prob(
        self, encoding: torch.Tensor, n: int, seed: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples per event ``[B, n, dim]`` and their ``log p`` ``[B, n]``."""
        b = encoding.shape[0]
        enc = encoding.to(self.dtype).repeat_interleave(n, 0)
        np.random.seed(seed)  # noqa: NPY002 (the original draws from numpy's global RNG)
        x, _, log_p, _ = self.pdf.sample(conditional_input=enc, samplesize=b * n, seed=seed)
        return x.reshape(b, n, self.dim), log_p.reshape(b, n)

    def sample(
        self, encoding: torch.Tensor, n: int, generator: Optional[torch.Generator] = None
    ) -> torch.Tensor:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        return self.sample_with_log_prob(encoding, n, seed)[0]

    def init_from_labels(self, labels: torch.Tensor, seed: int = 0) -> None:
        """The original ``init_params(data=labels)`` (uses numpy's and torch's global RNGs)."""
        np.random.seed(seed)  # noqa: NPY002 (the original draws from numpy's global RNG)
        torch.manual_seed(seed)
        self.pdf.init_params(data=torch.as_tensor(labels, dtype=self.dtype))

    @torch.no_grad()
    def summarize(
        self, encoding: torch.Tensor, n_samples: int = 300, seed: int = 0
    ) -> PosteriorSummary:
        """Plain Monte Carlo summary from the original's sampler (as ``marginal_moments``)."""
        x, log_p = self.sample_with_log_prob(encoding, n_samples, seed)
        return summary_from_samples(x.transpose(1, 2), log_p)
