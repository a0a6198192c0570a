"""Per-group feature normalisation ``x_new = (x - offset) * scale``.

The YAML file is a mapping ``group: {offset: float, scale: float}``, read with ``yaml.safe_load``
exactly as the original training scripts read their ``normalization_args``. Groups are applied in
the order of ``feature_indices`` (the order of ``feature_indices.yaml``), one after the other: a
column listed by two groups (older folders list the total-charge column under ``log_charges`` and
``log_total_charge``) is transformed by both, exactly as the original ``LLPDataset`` does;
:func:`compute_normalization` fits the groups with that in mind.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, TypeVar, Union

import numpy as np
import torch

from ...core.atomic import atomic_write_yaml
from ...core.yaml_file import read_yaml
from .format import DatasetFormatError
from .reader import read_data_file, resolve_files

logger = logging.getLogger(__name__)

#: numpy in, numpy out; torch in, torch out
ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def _columns(indices: Union[int, Sequence[int]]) -> list[int]:
    return [int(i) for i in np.atleast_1d(indices)]


@dataclass
class Normalization:
    """``groups``: group name -> ``{"offset": float, "scale": float}``."""

    groups: dict

    def __post_init__(self) -> None:
        clean = {}
        for name, args in dict(self.groups).items():
            if not isinstance(args, Mapping) or not {"offset", "scale"} <= set(args):
                raise DatasetFormatError(
                    f"normalisation group {name!r} needs 'offset' and 'scale', got {args!r}"
                )
            offset, scale = float(args["offset"]), float(args["scale"])
            if not (np.isfinite(offset) and np.isfinite(scale)):
                raise DatasetFormatError(f"normalisation group {name!r} is not finite: {args!r}")
            clean[str(name)] = {"offset": offset, "scale": scale}
        self.groups = clean

    @classmethod
    def from_dict(cls, args: Mapping) -> Normalization:
        """From a ``normalization_args`` mapping (also accepts one nested under that key)."""
        if "normalization_args" in args and isinstance(args["normalization_args"], Mapping):
            args = args["normalization_args"]
        return cls(dict(args))

    @classmethod
    def from_yaml(cls, path: Union[str, os.PathLike]) -> Normalization:
        args = read_yaml(path, "normalisation file")
        if not isinstance(args, Mapping):
            raise DatasetFormatError(f"{path}: expected a mapping group -> {{offset, scale}}")
        try:
            return cls.from_dict(args)
        except DatasetFormatError as err:
            raise DatasetFormatError(f"{path}: {err}") from err

    @classmethod
    def identity(cls, feature_indices: Mapping) -> Normalization:
        return cls({g: {"offset": 0.0, "scale": 1.0} for g in feature_indices})

    def to_dict(self) -> dict:
        return {g: dict(v) for g, v in self.groups.items()}

    def to_yaml(self, path: Union[str, os.PathLike]) -> None:
        atomic_write_yaml(path, self.to_dict())

    def check_covers(self, feature_indices: Mapping) -> None:
        """Raise when a group of ``feature_indices`` has no normalisation entry."""
        missing = [g for g in feature_indices if g not in self.groups]
        if missing:
            raise DatasetFormatError(
                f"normalisation lacks group(s) {missing}; it has {list(self.groups)}"
            )

    def apply(self, x: ArrayT, feature_indices: Mapping, inplace: bool = False) -> ArrayT:
        """Normalise ``x [..., D]`` (numpy or torch) group by group in ``feature_indices`` order."""
        self.check_covers(feature_indices)
        if not inplace:
            x = x.clone() if isinstance(x, torch.Tensor) else np.array(x, copy=True)
        for group, indices in feature_indices.items():
            cols = _columns(indices)
            args = self.groups[group]
            x[..., cols] = (x[..., cols] - args["offset"]) * args["scale"]
        return x

    def invert(self, x: ArrayT, feature_indices: Mapping) -> ArrayT:
        """Undo :meth:`apply` (groups in reverse order)."""
        self.check_covers(feature_indices)
        x = x.clone() if isinstance(x, torch.Tensor) else np.array(x, copy=True)
        for group, indices in reversed(list(feature_indices.items())):
            cols = _columns(indices)
            args = self.groups[group]
            x[..., cols] = x[..., cols] / args["scale"] + args["offset"]
        return x

    def apply_target(self, target: ArrayT) -> ArrayT:
        """The original target scaling: multiply by the ``position`` scale (no offset)."""
        return target * self.groups["position"]["scale"]

    def affine(self, feature_indices: Mapping, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-column ``(a, b)`` float64 [D] with ``apply(x) == x * a + b`` (groups composed)."""
        self.check_covers(feature_indices)
        a, b = np.ones(dim), np.zeros(dim)
        for group, indices in feature_indices.items():
            cols = _columns(indices)
            s, o = self.groups[group]["scale"], self.groups[group]["offset"]
            a[cols], b[cols] = a[cols] * s, (b[cols] - o) * s
        return a, b


def compute_normalization(
    folder_or_files: Union[str, Sequence[str]],
    feature_indices: Optional[Mapping] = None,
    max_files: Optional[int] = None,
) -> Normalization:
    """Normalisation from data: per group ``offset = mean``, ``scale = 1 / std`` of its values.

    Per-column moments are accumulated once, in float64, over all DOM rows of the (first
    ``max_files``) data files, on the unnormalised features. Groups are then fitted in the order
    :meth:`Normalization.apply` applies them, each on its columns *as they are when it is
    applied*: a column listed by two groups (the original layout lists the TotalCharge column
    under ``log_charges`` and ``log_total_charge``) is counted in the first group's statistics
    with its raw values and standardised again by the later group, so after ``apply`` it has
    mean 0 and standard deviation 1 like every other column of its last group. Disjoint groups
    get the plain per-group mean and std. A group whose values are constant gets ``scale = 1``.
    """

    files, folder = resolve_files(folder_or_files)
    if feature_indices is None:
        if folder is None:
            raise ValueError("feature_indices is needed when the files have no folder")
        feature_indices = folder.feature_indices
    files = files[:max_files] if max_files else files
    groups = {g: _columns(v) for g, v in feature_indices.items()}
    used = sorted({c for cols in groups.values() for c in cols})
    n, mean, m2 = _column_moments(files, used)
    # the affine map y = a x + b each column has gone through so far (groups applied in order)
    a, b = dict.fromkeys(used, 1.0), dict.fromkeys(used, 0.0)
    out = {}
    for g, cols in groups.items():
        if not cols:
            out[g] = {"offset": 0.0, "scale": 1.0}
            continue
        total = sum(n[c] for c in cols)
        if total == 0:
            raise DatasetFormatError(f"no values for feature group {g!r} in {len(files)} file(s)")
        # pooled moments of the columns' current values (a x + b)
        mu = sum(n[c] * (a[c] * mean[c] + b[c]) for c in cols) / total
        var = (
            sum(a[c] ** 2 * m2[c] + n[c] * (a[c] * mean[c] + b[c] - mu) ** 2 for c in cols) / total
        )
        std = max(var, 0.0) ** 0.5
        scale = 1.0 / std if std > 0 else 1.0
        out[g] = {"offset": mu, "scale": scale}
        for c in cols:
            a[c], b[c] = a[c] * scale, (b[c] - mu) * scale
        logger.info("normalisation %s: offset %.6g scale %.6g", g, mu, scale)
    return Normalization(out)


def _column_moments(
    files: Sequence[str], cols: list[int]
) -> tuple[dict[int, int], dict[int, float], dict[int, float]]:
    """Per column: number of values, mean and sum of squared deviations (float64; Chan's
    parallel update merges the files)."""
    n = dict.fromkeys(cols, 0)
    mean = dict.fromkeys(cols, 0.0)
    m2 = dict.fromkeys(cols, 0.0)
    for path in files:
        feats = read_data_file(path, bad_events="skip").features
        if feats.shape[0] == 0:
            continue
        block = feats[:, cols].astype(np.float64)
        fn = block.shape[0]
        fmean = block.mean(axis=0)
        fm2 = ((block - fmean) ** 2).sum(axis=0)
        for j, c in enumerate(cols):
            tot = n[c] + fn
            delta = float(fmean[j]) - mean[c]
            m2[c] += float(fm2[j]) + delta * delta * n[c] * fn / tot
            mean[c] += delta * fn / tot
            n[c] = tot
    return n, mean, m2
