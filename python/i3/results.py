"""One event's reconstruction result as the frame writers need it (pure Python/numpy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import numpy as np
import torch

from ..core.status import Status
from ..model.flow import PosteriorSummary

_NAN6 = np.full(6, np.nan)

#: names of the six posterior coordinates, in target order
COORDINATES = ("prod_x", "prod_y", "prod_z", "decay_x", "decay_y", "decay_z")

#: ``_Params`` names of the 21 independent covariance entries (upper triangle, row by row):
#: ``cov_prod_x_prod_x, cov_prod_x_prod_y, ..., cov_decay_z_decay_z`` [m^2]
COVARIANCE_NAMES = tuple(
    (i, j, f"cov_{COORDINATES[i]}_{COORDINATES[j]}") for i in range(6) for j in range(i, 6)
)


@dataclass
class EventResult:
    """Posterior summary of one event, metres; NaN everywhere when ``status`` is not OK."""

    status: Status
    n_doms: int = 0  # modules entering the encoder (after exclusions)
    n_doms_excluded: int = 0  # hit modules removed entirely by the DOM exclusions
    mean: np.ndarray = field(default_factory=lambda: _NAN6.copy())  # [6]
    cov: np.ndarray = field(default_factory=lambda: np.full((6, 6), np.nan))  # [6, 6]
    sigma: np.ndarray = field(default_factory=lambda: _NAN6.copy())  # [6]
    gap_length_mean: float = float("nan")
    gap_length_sigma: float = float("nan")
    logp_threshold_68: float = float("nan")
    logp_threshold_90: float = float("nan")

    @classmethod
    def failed(cls, status: Status, n_doms: int = 0, n_doms_excluded: int = 0) -> EventResult:
        return cls(status=Status(status), n_doms=int(n_doms), n_doms_excluded=int(n_doms_excluded))

    @property
    def production(self) -> np.ndarray:
        return self.mean[:3]

    @property
    def decay(self) -> np.ndarray:
        return self.mean[3:]

    def params(self) -> dict[str, float]:
        """Flat ``name -> value`` map (the ``_Params`` I3MapStringDouble and parquet columns)."""
        out: dict[str, float] = {}
        for i, name in enumerate(COORDINATES):
            out[name] = float(self.mean[i])
            out[f"{name}_sigma"] = float(self.sigma[i])
        out["gap_length"] = float(self.gap_length_mean)
        out["gap_length_sigma"] = float(self.gap_length_sigma)
        out["logp_threshold_68"] = float(self.logp_threshold_68)
        out["logp_threshold_90"] = float(self.logp_threshold_90)
        for i, j, name in COVARIANCE_NAMES:
            out[name] = float(self.cov[i, j])
        out["n_doms"] = float(self.n_doms)
        out["n_doms_excluded"] = float(self.n_doms_excluded)
        out["status"] = float(int(self.status))
        return out


def results_from_summary(
    summary: PosteriorSummary,
    n_doms: Sequence[int],
    n_doms_excluded: Optional[Sequence[int]] = None,
) -> list[EventResult]:
    """Split a batched posterior summary (``.mean [B,6]``, ``.cov``, ...) into per-event results;
    ``n_doms``/``n_doms_excluded``: per-event counts [B]."""
    n_ex = n_doms_excluded if n_doms_excluded is not None else [0] * len(n_doms)

    def np_(t: Union[torch.Tensor, np.ndarray]) -> np.ndarray:
        return t.detach().cpu().double().numpy() if hasattr(t, "detach") else np.asarray(t, float)

    mean, cov, sigma = np_(summary.mean), np_(summary.cov), np_(summary.sigma)
    gm, gs = np_(summary.gap_length_mean), np_(summary.gap_length_sigma)
    t68, t90 = np_(summary.logp_threshold_68), np_(summary.logp_threshold_90)
    status = np.asarray(np_(summary.status), dtype=np.int64)
    out = []
    for i in range(mean.shape[0]):
        st = Status(int(status[i]))
        if st is not Status.OK:
            out.append(EventResult.failed(st, n_doms[i], n_ex[i]))
            continue
        out.append(
            EventResult(
                status=st,
                n_doms=int(n_doms[i]),
                n_doms_excluded=int(n_ex[i]),
                mean=mean[i],
                cov=cov[i],
                sigma=sigma[i],
                gap_length_mean=float(gm[i]),
                gap_length_sigma=float(gs[i]),
                logp_threshold_68=float(t68[i]),
                logp_threshold_90=float(t90[i]),
            )
        )
    return out
