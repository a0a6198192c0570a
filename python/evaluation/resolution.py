"""Point-estimate resolution: vertex and gap-length errors of a posterior mean against the truth.

All inputs are in metres. ``pred`` and ``truth`` are ``[N, 6]`` arrays ordered
``(prod_x, prod_y, prod_z, decay_x, decay_y, decay_z)``.
"""

from __future__ import annotations

import numpy as np

TARGET_NAMES = ("prod_x", "prod_y", "prod_z", "decay_x", "decay_y", "decay_z")


def gap_length(v: np.ndarray) -> np.ndarray:
    """``[N, 6] -> [N]``: |decay - production| in metres."""
    return np.linalg.norm(v[:, 3:6] - v[:, 0:3], axis=1)


def central_width(err: np.ndarray, level: float = 0.68) -> float:
    """Half the width of the central ``level`` interval of ``err`` (= sigma for a Gaussian)."""
    lo, hi = np.quantile(err, [(1 - level) / 2, (1 + level) / 2])
    return float(hi - lo) / 2


def resolution_table(pred: np.ndarray, truth: np.ndarray) -> list[dict]:
    """Rows ``{quantity, median, width68, n}`` in metres.

    Per coordinate: ``median`` is the median signed error (bias), ``width68`` half the central
    68% interval of the signed error. ``prod_3d`` / ``decay_3d``: ``median`` and ``width68`` are
    the 50% and 68% quantiles of the 3D distance. ``gap_length``: signed error of
    |decay - prod| of the prediction against the true one.
    """
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    ok = np.isfinite(pred).all(1) & np.isfinite(truth).all(1)
    pred, truth = pred[ok], truth[ok]
    err = pred - truth
    rows = [
        {
            "quantity": name,
            "median": float(np.median(err[:, i])),
            "width68": central_width(err[:, i]),
            "n": int(ok.sum()),
        }
        for i, name in enumerate(TARGET_NAMES)
    ]
    for name, sl in (("prod_3d", slice(0, 3)), ("decay_3d", slice(3, 6))):
        dist = np.linalg.norm(err[:, sl], axis=1)
        rows.append(
            {
                "quantity": name,
                "median": float(np.median(dist)),
                "width68": float(np.quantile(dist, 0.68)),
                "n": int(ok.sum()),
            }
        )
    gerr = gap_length(pred) - gap_length(truth)
    rows.append(
        {
            "quantity": "gap_length",
            "median": float(np.median(gerr)),
            "width68": central_width(gerr),
            "n": int(ok.sum()),
        }
    )
    return rows


def prior_table(truth: np.ndarray, reference: np.ndarray | None = None) -> list[dict]:
    """The resolution of a constant guess (the mean of ``reference`` labels, default ``truth``).

    This is the "prior width" a trained model must beat.
    """
    ref = truth if reference is None else reference
    guess = np.broadcast_to(np.asarray(ref, np.float64).mean(0), np.shape(truth))
    return resolution_table(guess, truth)


#: a model whose median 3D errors of both vertices are at least this fraction of the constant
#: guess's has learned (next to) nothing
UNINFORMATIVE_RATIO = 0.9


def uninformative_models(
    resolution: dict[str, list[dict]], ratio: float = UNINFORMATIVE_RATIO
) -> list[str]:
    """Models of ``resolution`` (name -> :func:`resolution_table` rows, with ``"prior"``) whose
    median 3D errors of the production and of the decay vertex are both at least ``ratio``
    times the constant guess's: a flow that stayed at the prior, say."""
    if "prior" not in resolution:
        return []

    def medians(rows: list[dict]) -> tuple[float, float]:
        by = {r["quantity"]: r["median"] for r in rows}
        return by["prod_3d"], by["decay_3d"]

    prior = medians(resolution["prior"])
    return [
        name
        for name, rows in resolution.items()
        if name != "prior" and all(m >= ratio * p for m, p in zip(medians(rows), prior))
    ]
