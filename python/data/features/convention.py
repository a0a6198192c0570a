"""Input conventions: how the charge columns are stored and which groups list which columns.

``package`` (the default; models trained with this package)
    ``TotalCharge = log(1 + Q)``, ``ChargeUntilT = log(1 + q)``; every column in exactly one
    group, ``feature_indices`` lists all groups of ``definitions.GROUPS`` in that order.
``original`` (models of the original research code and folders its converter wrote)
    The original converter listed the TotalCharge column under both ``log_total_charge`` and
    ``log_charges`` and applied ``log(x + 1)`` to each group in turn, so the stored TotalCharge
    is ``log(1 + log(1 + Q))`` while the ChargeUntilT columns are ``log(1 + q)`` once.
    ``feature_indices`` is the original layout: only the groups present, keys in sorted order
    (``yaml.dump`` sorted them, and the original ``LLPDataset`` normalises group by group in
    that order, so the shared column is transformed by both groups).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ...core.errors import InputError
from .definitions import GROUPS, Feature

PACKAGE = "package"
ORIGINAL = "original"
CONVENTIONS = (PACKAGE, ORIGINAL)
DEFAULT_CONVENTION = PACKAGE


def check_convention(value: Any, source: str) -> str:
    """The convention name, or ``InputError`` (a ``ValueError``) naming ``source`` and the
    allowed names."""
    if value is None:
        return DEFAULT_CONVENTION
    if value not in CONVENTIONS:
        raise InputError(f"{source}: convention must be one of {list(CONVENTIONS)}, got {value!r}")
    return str(value)


def convention_of(config: Mapping | None) -> str:
    """The convention a (normalised or raw) feature config names; configs written before the
    key existed are ``package``."""
    if not config:
        return DEFAULT_CONVENTION
    return check_convention(config.get("convention"), "feature config")


def check_features(features: Sequence[Feature], convention: str, source: str) -> None:
    """Refuse feature lists the convention cannot express (the original needs one TotalCharge)."""
    if convention != ORIGINAL:
        return
    n = sum(type(f).__name__ == "TotalCharge" for f in features)
    if n != 1:
        raise InputError(
            f"{source}: convention 'original' needs exactly one TotalCharge feature (the "
            f"original converter normalises its column under 'log_total_charge'), found {n}"
        )


def feature_indices(features: Sequence[Feature], convention: str) -> dict[str, list[int]]:
    """group -> columns (``x, y, z`` first) in the convention's layout (see module docstring)."""
    groups: dict[str, list[int]] = {g: [] for g in GROUPS}
    groups["position"] = [0, 1, 2]
    col = 3
    for f in features:
        cols = list(range(col, col + len(f.names)))
        groups[f.group] += cols
        if convention == ORIGINAL and type(f).__name__ == "TotalCharge":
            groups["log_charges"] += cols
        col += len(f.names)
    if convention == PACKAGE:
        return groups
    return {g: sorted(groups[g]) for g in sorted(groups) if groups[g]}


def finish_block(feature: Feature, block: np.ndarray, convention: str) -> np.ndarray:
    """A feature's float64 block as the convention stores it (the original logs TotalCharge
    a second time)."""
    if convention == ORIGINAL and type(feature).__name__ == "TotalCharge":
        return np.log1p(block)
    return block


def same_layout(a: Mapping, b: Mapping) -> bool:
    """Whether two ``feature_indices`` list the same columns per group (scalars = 1-lists)."""

    def norm(fi: Mapping) -> dict:
        return {
            str(g): sorted(int(i) for i in np.atleast_1d(v)) for g, v in fi.items() if np.size(v)
        }

    return norm(a) == norm(b)


def layout_convention(feature_indices: Mapping) -> str:
    """The convention a ``feature_indices`` layout implies: ``original`` when a
    ``log_total_charge`` column is also listed under ``log_charges``."""
    total = set(int(i) for i in np.atleast_1d(feature_indices.get("log_total_charge", [])))
    charges = set(int(i) for i in np.atleast_1d(feature_indices.get("log_charges", [])))
    return ORIGINAL if total & charges else PACKAGE
