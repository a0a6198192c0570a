"""Training / validation split of a converted folder: by whole files, or by events within files.

With enough data files the split is by files (:func:`split_files`): whole files are held out,
so no file is read by both sides. A folder with fewer files than the requested validation
fraction needs (``round(val_fraction * n_files) < 1``, a single file above all) is split by
events instead (:func:`split_events`): a seeded choice of events of every file is held out, and
both sides are written as data files of their own into a work folder (normally
``RUN_DIR/split/``), which the packed loader reads like any other data files. Both splits are
deterministic functions of the file names, their contents and the seed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
from typing import Sequence, Union

import numpy as np
import pyarrow.parquet as pq

from ...core.atomic import atomic_write
from ...core.errors import InputError
from .reader import resolve_files

logger = logging.getLogger(__name__)

#: the ways :func:`split_train_val` can split a folder
SPLIT_MODES = ("files", "events", "none")


def split_files(
    folder_or_files: Union[str, Sequence[str]], val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Deterministic ``(train, validation)`` split of data files (both sorted).

    ``round(val_fraction * n_files)`` files, at least one when ``val_fraction > 0`` and there
    are two or more files, go to validation; the choice depends only on the file names and
    ``seed``.
    """
    files = resolve_files(folder_or_files)[0]
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    files = sorted(files, key=os.path.basename)
    n_val = int(round(val_fraction * len(files)))
    if val_fraction > 0 and len(files) > 1:
        n_val = min(max(n_val, 1), len(files) - 1)
    perm = np.random.default_rng(seed).permutation(len(files))
    val = set(perm[:n_val].tolist())
    return (
        [f for i, f in enumerate(files) if i not in val],
        [f for i, f in enumerate(files) if i in val],
    )


def _n_rows(path: str) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def _write_rows(source: str, rows: np.ndarray, target: pathlib.Path) -> str:
    """Rows ``rows`` (sorted) of data file ``source`` as a new data file ``target`` (same
    schema, codec and row-group size as the source)."""
    pf = pq.ParquetFile(source)
    meta = pf.metadata
    codec = meta.row_group(0).column(0).compression if meta.num_row_groups else "NONE"
    row_group_size = max(meta.row_group(0).num_rows, 1) if meta.num_row_groups else 100
    table = pf.read().take(rows)
    atomic_write(
        target,
        lambda tmp: pq.write_table(
            table,
            tmp,
            row_group_size=row_group_size,
            compression=codec.lower(),
            use_dictionary=["string_list", "om_list"],
        ),
    )
    return str(target)


def _n_val_events(total: int, val_fraction: float) -> int:
    return min(max(int(round(val_fraction * total)), 1), total - 1)


def split_events(
    files: Sequence[str],
    val_fraction: float,
    seed: int,
    work_dir: Union[str, os.PathLike],
    write: bool = True,
    pieces: int = 1,
) -> tuple[list[str], list[str]]:
    """Split the events of ``files`` into training and validation data files in ``work_dir``.

    ``round(val_fraction * n_events)`` events (at least one, and at least one left for
    training) are chosen for validation by a permutation seeded with ``seed``; each source file
    ``<name>.pq`` becomes ``work_dir/val.<name>.pq`` and ``pieces`` training files
    ``work_dir/train.<k>.<name>.pq`` (consecutive rows; ``pieces`` = the number of DDP ranks,
    which read disjoint files), rows kept in file order, empty ones left out. ``write=False``
    returns the same paths without writing (the other ranks, while rank 0 writes).
    """
    files = sorted(files, key=os.path.basename)
    sizes = np.array([_n_rows(f) for f in files], dtype=np.int64)
    total = int(sizes.sum())
    if total < 2:
        raise InputError(
            f"{total} event(s) in {len(files)} data file(s): too few to split into training and "
            "validation events; simulate or convert more events, or pass val_fraction=0"
        )
    n_val = _n_val_events(total, val_fraction)
    is_val = np.zeros(total, dtype=bool)
    is_val[np.random.default_rng(seed).permutation(total)[:n_val]] = True
    starts = np.concatenate([[0], np.cumsum(sizes)])
    work = pathlib.Path(work_dir)
    train: list[str] = []
    val: list[str] = []
    for i, f in enumerate(files):
        mine = is_val[starts[i] : starts[i + 1]]
        parts = [("val", np.flatnonzero(mine), val)] + [
            (f"train.{k:03d}", rows, train)
            for k, rows in enumerate(np.array_split(np.flatnonzero(~mine), max(pieces, 1)))
        ]
        for side, rows, out in parts:
            if rows.size == 0:
                continue
            target = work / f"{side}.{os.path.basename(f)}"
            out.append(_write_rows(f, rows, target) if write else str(target))
    return train, val


@dataclasses.dataclass(frozen=True)
class Split:
    """The data files of each side and how they were chosen (``mode`` in :data:`SPLIT_MODES`)."""

    train_files: list[str]
    val_files: list[str]
    mode: str
    message: str


def split_train_val(
    folder_or_files: Union[str, Sequence[str]],
    val_fraction: float,
    seed: int,
    work_dir: Union[str, os.PathLike],
    write: bool = True,
    pieces: int = 1,
) -> Split:
    """Training and validation data of a converted folder, split as the module docstring says.

    ``val_fraction == 0``: every file trains, none validates (mode ``"none"``). Fewer files than
    ``val_fraction`` needs: :func:`split_events` into ``work_dir`` (mode ``"events"``).
    Otherwise :func:`split_files` (mode ``"files"``). ``write``, ``pieces``: see
    :func:`split_events`. ``message`` says what was done (logged once here, at warning level
    for the event split).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    files = sorted(resolve_files(folder_or_files)[0], key=os.path.basename)
    if not files:
        raise InputError(f"{folder_or_files}: no data files to train on")
    if val_fraction == 0:
        split = Split(
            files,
            [],
            "none",
            f"val_fraction 0: all {len(files)} data file(s) train, none validates",
        )
        logger.info("%s", split.message)
        return split
    if len(files) >= 2 and round(val_fraction * len(files)) >= 1:
        train, val = split_files(files, val_fraction, seed)
        split = Split(
            train, val, "files", f"{len(train)} training files, {len(val)} validation files"
        )
        logger.info("%s", split.message)
        return split
    train, val = split_events(files, val_fraction, seed, work_dir, write=write, pieces=pieces)
    total = sum(map(_n_rows, files))
    n_val = _n_val_events(total, val_fraction)
    n_train = total - n_val
    split = Split(
        train,
        val,
        "events",
        f"{len(files)} data file(s) are too few for a validation share of "
        f"{val_fraction:g} by whole files: split by events within the files "
        f"instead ({n_train} training, {n_val} validation events, seed {seed}; "
        f"written to {work_dir})",
    )
    logger.warning("%s", split.message)
    return split
