"""Decode the ``data_encoded`` column (per-DOM feature rows of each event) into flat arrays.

Both stored layouts decode: ``list<list<double>>`` (older files) and
``list<fixed_size_list<float32, D>>`` (files this package writes), and also a flat ``list<float>``
holding each event's rows one after the other.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np
import pyarrow as pa

from .decoded import event_of_rows
from .format import FEATURES_COLUMN, DatasetFormatError


def decode_features(
    column: Union[pa.Array, pa.ChunkedArray],
    path: str,
    dim: Optional[int] = None,
    n_doms: Optional[np.ndarray] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``data_encoded`` -> ``(features [N_rows, D], offsets [E+1] int64)``.

    Layouts: ``list<list<double>>`` and ``list<fixed_size_list<float, D>>`` (a list of per-DOM
    rows), or ``list<float>`` holding each event's rows one after the other (row-major), which
    needs ``dim`` or the per-event DOM counts ``n_doms`` (the ``nch`` column).
    Raises :class:`DatasetFormatError` naming ``path`` and the event for a null event, a DOM row
    whose length differs from ``D`` or an unsupported type.
    """
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
        raise DatasetFormatError(
            f"{path}: column {FEATURES_COLUMN!r} has type {arr.type}, "
            "expected a list of per-DOM rows"
        )
    if arr.null_count:
        null = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise DatasetFormatError(f"{path}: event at row {null} has a null {FEATURES_COLUMN!r}")
    outer = arr.offsets.to_numpy().astype(np.int64)
    outer = outer - outer[0]
    inner = arr.flatten()
    itype = inner.type
    if pa.types.is_fixed_size_list(itype):
        d = itype.list_size
        if inner.null_count:
            raise DatasetFormatError(f"{path}: a DOM row of {FEATURES_COLUMN!r} is null")
        values = inner.flatten()
    elif pa.types.is_list(itype) or pa.types.is_large_list(itype):
        if inner.null_count:
            row = int(np.flatnonzero(inner.is_null().to_numpy(zero_copy_only=False))[0])
            ev = int(event_of_rows(outer, np.array([row]))[0])
            raise DatasetFormatError(f"{path}: event at row {ev} has a null DOM row")
        lens = np.diff(inner.offsets.to_numpy().astype(np.int64))
        d = int(lens[0]) if lens.size else (dim or 0)
        bad = np.flatnonzero(lens != d)
        if bad.size:
            ev = int(event_of_rows(outer, bad[:1])[0])
            raise DatasetFormatError(
                f"{path}: event at row {ev} has a DOM row of length {int(lens[bad[0]])}, "
                f"expected {d} features"
            )
        values = inner.flatten()
    elif pa.types.is_floating(itype) or pa.types.is_integer(itype):
        return _decode_flat(inner, outer, path, dim, n_doms)
    else:
        raise DatasetFormatError(
            f"{path}: column {FEATURES_COLUMN!r} has type {arr.type}, "
            "expected list<list<double>> or list<fixed_size_list<float, D>>"
        )
    if dim is not None and d != dim and outer[-1] > 0:
        raise DatasetFormatError(
            f"{path}: {FEATURES_COLUMN!r} has {d} features per DOM, "
            f"expected {dim} (feature_indices.yaml / manifest)"
        )
    if not pa.types.is_floating(values.type):
        values = values.cast(pa.float64())
    flat = values.to_numpy(zero_copy_only=False)  # nulls become NaN and are caught below
    return flat.reshape(-1, d if d else (dim or 0)), outer


def _decode_flat(
    values: pa.Array,
    outer: np.ndarray,
    path: str,
    dim: Optional[int],
    n_doms: Optional[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """A ``list<float>`` column (each event's rows one after the other) -> features, offsets."""
    lens = np.diff(outer)
    if dim is None:
        if n_doms is None or not n_doms.sum():
            raise DatasetFormatError(f"{path}: flat {FEATURES_COLUMN!r} needs the feature count")
        has = n_doms > 0  # the most common values-per-DOM (a bad event cannot shift it)
        dim = int(np.bincount(np.rint(lens[has] / n_doms[has]).astype(np.int64)).argmax())
    bad = np.flatnonzero(lens % dim if n_doms is None else lens != n_doms * dim)
    if bad.size:
        i = int(bad[0])
        raise DatasetFormatError(
            f"{path}: event at row {i} has {int(lens[i])} feature values, not a multiple of "
            f"{dim} features" + ("" if n_doms is None else f" x {int(n_doms[i])} DOMs (nch)")
        )
    if not pa.types.is_floating(values.type):
        values = values.cast(pa.float64())
    flat = values.to_numpy(zero_copy_only=False)
    return flat.reshape(-1, dim), outer // dim
