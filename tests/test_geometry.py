"""Geometry: generated IceCube-86-like layout facts, lookups, unknown keys, table round trips."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from _ic86_table import NO_TABLE, real_ic86_table, write_graphnet_standin
from llp_gap_reco.geometry import Geometry, UnknownOMKeyError


@pytest.fixture(scope="module")
def geometry():
    return Geometry.icecube86_like()


def _string_xy(g: Geometry, strings) -> np.ndarray:
    return np.array([g.pos[g.string == s][0, :2] for s in strings])


def test_icecube86_like_layout(geometry):
    g = geometry
    assert len(g) == 5160
    assert np.unique(g.string).tolist() == list(range(1, 87))
    assert (np.bincount(g.string)[1:] == 60).all()
    ic = _string_xy(g, range(1, 79))
    d = np.linalg.norm(ic[:, None] - ic[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(d.min(1), 125.0, rtol=1e-9)  # triangular grid
    assert (np.sum(np.isclose(d, 125.0), axis=1) <= 6).all()
    assert np.hypot(ic[:, 0], ic[:, 1]).max() < 600.0  # compact, near-hexagonal footprint
    for s in (1, 40, 78):
        z = g.pos[g.string == s, 2]
        assert z[0] == pytest.approx(500.0) and z[-1] == pytest.approx(-500.0)
        np.testing.assert_allclose(-np.diff(z), 1000.0 / 59, rtol=1e-9)  # om 1 on top
    dc = _string_xy(g, range(79, 87))
    to_ic = np.linalg.norm(dc[:, None] - ic[None], axis=-1).min(1)
    np.testing.assert_allclose(to_ic, 125.0 / np.sqrt(3), rtol=1e-9)
    assert np.hypot(dc[:, 0], dc[:, 1]).max() < 200.0  # near the centre
    z = g.pos[g.string == 83, 2]
    deep = z[z < -150]
    assert deep.size == 50 and np.allclose(-np.diff(deep), 7.0)
    assert (z > -150).sum() == 10
    assert set(g.dom_type[g.string > 78]) == {"DeepCore"}
    assert set(g.dom_type[g.string <= 78]) == {"IceCube"}


def test_positions_and_lookup(geometry):
    rng = np.random.default_rng(0)
    rows = rng.integers(0, len(geometry), 500)
    s, o = geometry.string[rows], geometry.om[rows]
    np.testing.assert_array_equal(geometry.positions(s, o), geometry.pos[rows])
    # the pulses layout stores keys as float64
    np.testing.assert_array_equal(
        geometry.positions(s.astype(np.float64), o.astype(np.float64)), geometry.pos[rows]
    )
    pos, found = geometry.lookup(np.array([1, 99, 5, 3]), np.array([1, 1, 61, 2.5]))
    assert found.tolist() == [True, False, False, False]
    assert np.isnan(pos[1:]).all()
    np.testing.assert_array_equal(pos[0], geometry.positions([1], [1])[0])


def test_unknown_keys_raise_naming_them(geometry):
    with pytest.raises(UnknownOMKeyError) as err:
        geometry.positions(np.array([1, 99, 7, 99]), np.array([1, 3, 61, 3]))
    assert isinstance(err.value, KeyError)
    assert err.value.keys == [(7, 61), (99, 3)]
    assert "(99, 3)" in str(err.value) and "(7, 61)" in str(err.value)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_table_round_trip(geometry, tmp_path, suffix):
    path = tmp_path / f"geo{suffix}"
    geometry.to_table(path)
    back = Geometry.from_table(path)
    np.testing.assert_array_equal(back.string, geometry.string)
    np.testing.assert_array_equal(back.om, geometry.om)
    np.testing.assert_array_equal(back.pos, geometry.pos)
    np.testing.assert_array_equal(back.dom_type, geometry.dom_type)


def test_table_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("string,om,x,y\n1,1,0,0\n")
    with pytest.raises(ValueError, match=r"\['z'\]"):
        Geometry.from_table(bad)
    dup = tmp_path / "dup.csv"
    dup.write_text("string,om,x,y,z\n1,1,0,0,0\n1,1,5,0,0\n")
    with pytest.raises(ValueError, match=r"duplicate OMKeys \(1, 1\)"):
        Geometry.from_table(dup)
    with pytest.raises(FileNotFoundError, match="missing.pq"):
        Geometry.from_table(tmp_path / "missing.pq")


def test_from_i3geometry_duck_typed():
    keys = [(2, 5), (1, 7), (1, 3)]
    pairs = [
        (
            SimpleNamespace(string=s, om=o, pmt=0),
            SimpleNamespace(position=SimpleNamespace(x=10.0 * s, y=-1.0 * o, z=0.5 * s * o)),
        )
        for s, o in keys
    ]
    g = Geometry.from_i3geometry(SimpleNamespace(omgeo=SimpleNamespace(items=lambda: pairs)))
    assert list(zip(g.string.tolist(), g.om.tolist())) == sorted(keys)
    np.testing.assert_array_equal(g.positions([1, 2], [7, 5]), [[10, -7, 3.5], [20, -5, 5]])


def test_sparse_keys_use_the_binary_search_index():
    # string numbers far apart (no dense table): lookups must still be exact; the table is
    # stored in OMKey order but positions come back in query order
    s = np.array([5, 2_000_000, 7, 2_000_000])
    o = np.array([1, 1, 900_000, 2])
    g = Geometry(s, o, np.arange(12.0).reshape(4, 3))
    assert g._dense is None
    np.testing.assert_array_equal(g.positions(s, o), np.arange(12.0).reshape(4, 3))
    pos = g.positions([7, 2_000_000], [900_000, 2])
    np.testing.assert_array_equal(pos, [[6, 7, 8], [9, 10, 11]])
    assert g.lookup([2_000_000, 6], [3, 1])[1].tolist() == [False, False]


def test_graphnet_table_layout(tmp_path):
    """graphnet's table layout: dom_number, pmt_number, dom_x/y/z, integer OMType, a pandas
    index x/y/z; several PMTs per module; surface modules left out by default."""
    import pandas as pd

    rows = []
    for pmt, dx in enumerate((-0.1, 0.1, 0.3)):  # one mDOM (type 130) with three PMTs
        rows.append(
            dict(
                string=87,
                dom_number=4,
                pmt_number=pmt,
                dom_x=27.0 + dx,
                dom_y=-5.0,
                dom_z=100.0,
                dom_type=130,
                rde=1.0,
            )
        )
    rows.append(
        dict(
            string=1,
            dom_number=1,
            pmt_number=0,
            dom_x=-256.14,
            dom_y=-521.08,
            dom_z=496.03,
            dom_type=20,
            rde=1.0,
        )
    )
    rows.append(
        dict(
            string=80,
            dom_number=40,
            pmt_number=0,
            dom_x=1.0,
            dom_y=2.0,
            dom_z=-300.0,
            dom_type=20,
            rde=1.35,
        )
    )
    rows.append(
        dict(
            string=1,
            dom_number=61,
            pmt_number=0,
            dom_x=-265.6,
            dom_y=-497.6,
            dom_z=1944.7,
            dom_type=30,
            rde=1.0,
        )
    )
    df = pd.DataFrame(rows)
    df.index = pd.MultiIndex.from_arrays([df.dom_x, df.dom_y, df.dom_z], names=["x", "y", "z"])
    path = tmp_path / "graphnet.parquet"
    df.to_parquet(path)
    g = Geometry.from_table(path)
    assert list(zip(g.string.tolist(), g.om.tolist())) == [(1, 1), (80, 40), (87, 4)]
    assert g.dom_type.tolist() == ["IceCube", "DeepCore", "mDOM"]
    np.testing.assert_allclose(g.positions([87], [4]), [[27.1, -5.0, 100.0]], atol=1e-12)
    np.testing.assert_allclose(g.positions([1], [1]), [[-256.14, -521.08, 496.03]])
    surface = Geometry.from_table(path, in_ice_only=False)
    assert len(surface) == 4 and surface.dom_type[surface.om == 61].tolist() == ["IceTop"]


def _simulate_and_extract(g: Geometry) -> None:
    """Simulated events on ``g`` hit only its modules and give DOM features."""
    from llp_gap_reco.features import FeatureExtractor
    from llp_gap_reco.simulation import simulate

    ex = FeatureExtractor()
    events = list(simulate(20, seed=3, geometry=g))
    doms = [ex.extract(e.pulses, g) for e in events]
    assert all(d.status == 0 for d in doms) and np.mean([d.features.shape[0] for d in doms]) > 5
    hit = np.concatenate([e.pulses[:, :2] for e in events])
    assert (g.index(hit[:, 0], hit[:, 1]) >= 0).all() and np.isin(hit[:, 0], range(1, 87)).all()


def test_graphnet_icecube86_format(tmp_path, geometry):
    """A table in the format of graphnet's icecube86.parquet (written from the generated layout)
    reads back as that layout: IceTop rows left out, DeepCore strings labelled."""
    g = Geometry.from_table(write_graphnet_standin(tmp_path / "icecube86.parquet"))
    assert len(g) == 5160 and g.om.max() == 60
    np.testing.assert_array_equal(g.string, geometry.string)
    np.testing.assert_array_equal(g.om, geometry.om)
    np.testing.assert_allclose(g.pos, geometry.pos, rtol=0, atol=1e-4)  # stored as float32
    assert g.dom_type.tolist() == geometry.dom_type.tolist()
    assert set(g.dom_type[g.string > 78]) == {"DeepCore"}
    full = Geometry.from_table(tmp_path / "icecube86.parquet", in_ice_only=False)
    assert len(full) == 5160 + 324 and set(full.om[full.dom_type == "IceTop"]) == {61, 62, 63, 64}
    _simulate_and_extract(g)


def test_surveyed_icecube86_table(tmp_path, geometry):
    """graphnet's surveyed IC86 table (set LLP_GAP_RECO_IC86_TABLE): its facts, and the stand-in
    of the format tests has its schema."""
    import pyarrow.parquet as pq

    path = real_ic86_table()
    if path is None:
        pytest.skip(NO_TABLE)
    g = Geometry.from_table(path)
    assert len(g) == 5083 and np.unique(g.string).tolist() == list(range(1, 87))
    assert g.om.min() == 1 and g.om.max() == 60
    assert set(g.dom_type[g.string > 78]) == {"DeepCore"}
    assert set(g.dom_type[g.string <= 78]) == {"IceCube"}
    np.testing.assert_allclose(g.positions([1], [1])[0], [-256.14, -521.08, 496.03], atol=0.01)
    assert -520 < g.pos[:, 2].min() < -500 and 500 < g.pos[:, 2].max() < 530  # metres
    full = Geometry.from_table(path, in_ice_only=False)
    assert (full.dom_type == "IceTop").sum() == 324 and full.pos[:, 2].max() > 1900
    # the generated layout approximates this one
    footprint = np.hypot(*g.pos[:, :2].T).max()
    assert abs(footprint - np.hypot(*geometry.pos[:, :2].T).max()) < 100
    standin = write_graphnet_standin(tmp_path / "standin.parquet")
    real_schema, standin_schema = pq.read_schema(path), pq.read_schema(standin)
    assert standin_schema.remove_metadata().equals(real_schema.remove_metadata())
    assert (
        standin_schema.pandas_metadata["index_columns"]
        == real_schema.pandas_metadata["index_columns"]
    )
    _simulate_and_extract(g)
