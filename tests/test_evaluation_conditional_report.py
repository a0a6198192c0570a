"""The conditional sections of ``evaluate`` on a simulated folder: event variables against the
simulator's own pulses and truth, and the report.json layout against the saved arrays."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from _training_helpers import make_bundle, make_folder
from llp_gap_reco.data.parquet import ConvertedFolder
from llp_gap_reco.evaluation.evaluate import evaluate
from llp_gap_reco.evaluation.event_variables import VARIABLES, event_variables
from llp_gap_reco.simulation import simulate

PNG = b"\x89PNG\r\n\x1a\n"
N_EVENTS, SEED = 80, 13


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(
        tmp_path_factory.mktemp("conditional") / "sim",
        n_events=N_EVENTS,
        events_per_file=20,
        seed=SEED,
    )


def _folder_ids(folder: str):
    t = [
        pq.read_table(
            f,
            columns=[
                "run_id",
                "event_id",
                "nch",
                *(f"llp_{k}_{c}" for k in ("prod", "decay") for c in "xyz"),
            ],
        )
        for f in ConvertedFolder(folder).files
    ]
    cols = {c: np.concatenate([x.column(c).to_numpy() for x in t]) for c in t[0].column_names}
    truth = np.stack([cols[f"llp_{k}_{c}"] for k in ("prod", "decay") for c in "xyz"], 1)
    return cols["run_id"], cols["event_id"], cols["nch"], truth


def test_event_variables_equal_the_simulated_pulses_and_truth(folder, tmp_path):
    reference = {ev.event_id: ev for ev in simulate(N_EVENTS, seed=SEED)}
    run, event, nch, truth = _folder_ids(folder)
    order = np.arange(run.size)[::-1]  # any order of the events: matched by id
    v = event_variables(folder, run[order], event[order], nch[order], truth[order])
    assert set(v) == set(VARIABLES)
    for i, k in enumerate(order):
        ev = reference[int(event[k])]
        assert v["total_charge"][i] == pytest.approx(ev.pulses[:, 4].sum(), rel=1e-5)
        assert v["cos_zenith"][i] == pytest.approx(math.cos(ev.truth["zenith"]), abs=1e-12)
        assert v["gap_length"][i] == pytest.approx(ev.truth["gap_length"], rel=1e-9)
        assert v["n_doms"][i] == len(np.unique(ev.pulses[:, :2], axis=0))

    # Files without the totcharge / muon_zenith columns: charge from the log(1 + q) feature
    # column, zenith from indexfile.pq.
    bare = tmp_path / "bare"
    shutil.copytree(folder, bare)
    for f in ConvertedFolder(str(bare)).files:
        t = pq.read_table(f)
        pq.write_table(t.drop_columns(["totcharge", "muon_zenith"]), f)
    w = event_variables(str(bare), run, event, nch, truth)
    u = event_variables(folder, run, event, nch, truth)
    np.testing.assert_allclose(w["total_charge"], u["total_charge"], rtol=1e-5)
    np.testing.assert_allclose(w["cos_zenith"], u["cos_zenith"], rtol=1e-12)


def test_evaluate_reports_conditional_coverage_sbc_and_binned_resolution(folder, tmp_path):
    flow, point = make_bundle(folder, "flow"), make_bundle(folder, "point")
    out = tmp_path / "report"
    s = 150
    rep = evaluate(
        flow,
        folder,
        out,
        baseline=point,
        n_samples=64,
        coverage_samples=s,
        n_corner=0,
        progress=False,
    )
    saved = json.loads((out / "report.json").read_text())
    a = np.load(out / "arrays.npz")
    n_ok = saved["n_ok"]
    cond = saved["coverage"]["conditional"]
    assert list(cond) == ["n_doms", "gap_length", "cos_zenith", "total_charge"]
    for var, rows in cond.items():
        assert len(rows) == 5, var
        assert sum(r["n"] for r in rows) == n_ok
        values = a[f"variable_{var}"]
        for r in rows:
            assert {"lo", "hi", "n", "observed_68", "observed_90", "stderr_68", "stderr_90"} <= set(
                r
            )
            last = r is rows[-1]
            sel = (values >= r["lo"]) & ((values < r["hi"]) | (last & (values == r["hi"])))
            assert int(sel.sum()) == r["n"]
            assert r["observed_68"] == pytest.approx(float((a["rank"][sel] <= 0.68).mean()))
            assert r["observed_90"] == pytest.approx(float((a["rank"][sel] <= 0.90).mean()))
    coords = saved["coverage"]["coordinates"]
    assert list(coords) == ["prod_x", "prod_y", "prod_z", "decay_x", "decay_y", "decay_z"]
    for j, c in enumerate(coords.values()):
        u = a["coord_rank"][:, j] / s
        assert c["overall"]["observed_68"] == pytest.approx(float((abs(u - 0.5) <= 0.34).mean()))
        assert set(c["conditional"]) == set(VARIABLES)
    sbc = saved["coverage"]["sbc"]
    assert sbc["samples_per_event"] == s
    for c in sbc["coordinates"].values():
        assert sum(c["counts"]) == n_ok and len(c["counts"]) == sbc["n_bins"]
        assert 0 <= c["p_value"] <= 1
    rows = saved["resolution_by_n_doms"]
    assert sum(r["n"] for r in rows) == n_ok
    assert set(rows[0]["median_3d"]) == {"flow", "mse_baseline"}
    assert all(
        math.isfinite(r["log_hdr_volume_68"]) and r["hdr_side_68"] < r["hdr_side_90"] for r in rows
    )
    for name in (
        "coverage_conditional",
        "coverage_coordinates",
        "sbc_ranks",
        "resolution_by_n_doms",
    ):
        png = out / rep["figures"][name]
        assert png.read_bytes()[:8] == PNG and png.stat().st_size > 5000
    md = (out / "report.md").read_text()
    for section in (
        "## Coverage per quintile",
        "**gap_length**",
        "## Per-coordinate",
        "## Resolution and HDR size",
        "![sbc_ranks](sbc_ranks.png)",
    ):
        assert section in md
