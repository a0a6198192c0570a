"""IC86 geometry tables for tests: graphnet's surveyed one when present, a stand-in otherwise.

The surveyed table is ``data/geometry_tables/icecube/icecube86.parquet`` of
https://github.com/graphnet-team/graphnet (Apache-2.0). It is not part of this project; download
it and name it with ``LLP_GAP_RECO_IC86_TABLE`` (or put it in ``LLP_GAP_RECO_REAL_I3_DIR`` as
``icecube86.parquet``). :func:`write_graphnet_standin` writes a table in the same format from
:meth:`Geometry.icecube86_like` positions, so that the reading of that format is tested without it.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
from llp_gap_reco.geometry import Geometry

TABLE_ENV = "LLP_GAP_RECO_IC86_TABLE"
REAL_DIR_ENV = "LLP_GAP_RECO_REAL_I3_DIR"
NO_TABLE = (
    f"no surveyed IC86 table: download data/geometry_tables/icecube/icecube86.parquet "
    f"of graphnet-team/graphnet and set {TABLE_ENV} to it"
)

# I3OMGeo.OMType codes as graphnet stores them in ``dom_type``
IN_ICE_CODE, ICETOP_CODE = 20, 30
ICETOP_STATIONS, ICETOP_OMS, ICETOP_Z = 81, (61, 62, 63, 64), 1950.0  # metres
HIGH_QE_STRINGS = range(79, 87)  # DeepCore strings: rde 1.35


def real_ic86_table() -> pathlib.Path | None:
    """The surveyed table named by ``LLP_GAP_RECO_IC86_TABLE`` or lying in
    ``LLP_GAP_RECO_REAL_I3_DIR``; None when neither is set. A variable naming a missing file is an
    error, not a skip."""
    named = os.environ.get(TABLE_ENV, "")
    if named:
        path = pathlib.Path(named)
        if not path.is_file():
            raise FileNotFoundError(f"{TABLE_ENV}={named!r}: no such file")
        return path
    folder = os.environ.get(REAL_DIR_ENV, "")
    if folder and (pathlib.Path(folder) / "icecube86.parquet").is_file():
        return pathlib.Path(folder) / "icecube86.parquet"
    return None


def write_graphnet_standin(path: os.PathLike | str) -> pathlib.Path:
    """Write :meth:`Geometry.icecube86_like` in graphnet's ``icecube86.parquet`` format.

    Same columns, dtypes and units as graphnet's table: ``dom_x/y/z`` in metres (float32 values
    stored as float64), ``pmt_area`` in m^2, ``rde``, ``string``, ``pmt_number`` (0: IC86 modules
    have one PMT, one row each), ``dom_number``, ``dom_type`` (I3OMGeo.OMType: 20 in-ice, 30
    IceTop), ``pmt_dir_x/y/z``, ``sensor_id``, the zeroed pulse columns ``dom_time, charge,
    hlc``, and a pandas index ``x, y, z``. In-ice rows first, then 4 IceTop DOMs (om 61-64) on
    each of the 81 surface stations.
    """
    import pandas as pd  # optional dependency; graphnet writes its tables with pandas

    like = Geometry.icecube86_like()
    surface = np.arange(1, ICETOP_STATIONS + 1)
    xy_of = {int(s): like.pos[like.string == s][0, :2] for s in surface}
    top_string = np.repeat(surface, len(ICETOP_OMS))
    top_om = np.tile(ICETOP_OMS, ICETOP_STATIONS)
    top_pos = np.column_stack(
        [np.array([xy_of[int(s)] for s in top_string]), ICETOP_Z + 0.5 * (top_om - 61)]
    )
    string = np.r_[like.string, top_string].astype(np.int64)
    pos = np.r_[like.pos, top_pos].astype(np.float32).astype(np.float64)
    n = len(string)
    in_ice = np.r_[np.ones(len(like), bool), np.zeros(len(top_string), bool)]
    df = pd.DataFrame(
        {
            "dom_x": pos[:, 0],
            "dom_y": pos[:, 1],
            "dom_z": pos[:, 2],
            "pmt_area": np.full(n, np.float32(0.0444), np.float64),
            "rde": np.where(
                in_ice & np.isin(string, HIGH_QE_STRINGS), np.float32(1.35), 1.0
            ).astype(np.float64),
            "string": string,
            "pmt_number": np.zeros(n, np.int64),
            "dom_number": np.r_[like.om, top_om].astype(np.int64),
            "dom_type": np.where(in_ice, IN_ICE_CODE, ICETOP_CODE).astype(np.int64),
            "pmt_dir_x": np.zeros(n),
            "pmt_dir_y": np.zeros(n),
            "pmt_dir_z": np.full(n, -1.0),
            "sensor_id": np.arange(n, dtype=np.int64),
            "dom_time": np.zeros(n, np.int64),
            "charge": np.zeros(n, np.int64),
            "hlc": np.full(n, -1, np.int64),
        }
    )
    df.index = pd.MultiIndex.from_arrays([df.dom_x, df.dom_y, df.dom_z], names=["x", "y", "z"])
    path = pathlib.Path(path)
    df.to_parquet(path)
    return path
