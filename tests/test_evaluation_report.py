"""evaluate writes every artefact with consistent numbers; predict writes one row per event."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from _training_helpers import make_bundle, make_folder
from llp_gap_reco.bundle import save_bundle
from llp_gap_reco.cli.main import main
from llp_gap_reco.dataset import LoaderConfig, PackedLoader
from llp_gap_reco.evaluation.coverage import coverage_curve
from llp_gap_reco.evaluation.resolution import resolution_table

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluation")
    folder = make_folder(root / "sim", n_events=90, events_per_file=30, seed=9)
    flow = save_bundle(make_bundle(folder, "flow"), root / "flow.pt")
    point = save_bundle(make_bundle(folder, "point"), root / "point.pt")
    return folder, flow, point, root


def test_evaluate_writes_every_artefact(setup):
    folder, flow, point, root = setup
    out = root / "report"
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(flow),
                "--data",
                folder,
                "--out",
                str(out),
                "--baseline",
                str(point),
                "--samples",
                "128",
                "--coverage-samples",
                "200",
                "--corner",
                "2",
                "--no-progress",
            ]
        )
        == 0
    )
    names = {
        "report.json",
        "report.md",
        "errors.png",
        "pulls.png",
        "coverage.png",
        "corner_0.png",
        "corner_1.png",
        "arrays.npz",
    }
    assert names <= {p.name for p in out.iterdir()}
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == PNG and png.stat().st_size > 5000
    rep = json.loads((out / "report.json").read_text())
    assert rep["n_events"] == rep["n_ok"] == 90
    assert set(rep["resolution"]) == {"flow", "mse_baseline", "prior"}
    md = (out / "report.md").read_text()
    # a model is warned about exactly when both its median 3D errors reach 0.9x the prior's
    med = {m: {r["quantity"]: r["median"] for r in rows} for m, rows in rep["resolution"].items()}
    vertices = ("prod_3d", "decay_3d")
    flagged = [m for m in ("flow", "mse_baseline")
               if all(med[m][q] >= 0.9 * med["prior"][q] for q in vertices)]  # fmt: skip
    assert [w.split(":")[0] for w in rep["warnings"]] == flagged
    for w in rep["warnings"]:
        assert f"- **warning**: {w}" in md
    for section in (
        "## Resolution",
        "## Pulls",
        "## Coverage",
        "prod_3d",
        "gap_length",
        "mse_baseline",
        "![coverage](coverage.png)",
    ):
        assert section in md

    # The numbers in the report follow from the saved per-event arrays.
    a = np.load(out / "arrays.npz")
    rows = {r["quantity"]: r for r in resolution_table(a["mean"], a["truth"])}
    got = {r["quantity"]: r for r in rep["resolution"]["flow"]}
    assert got["decay_3d"]["median"] == pytest.approx(rows["decay_3d"]["median"])
    obs, _ = coverage_curve(a["rank"], np.asarray(rep["coverage"]["levels"]))
    assert rep["coverage"]["observed"] == pytest.approx(obs.tolist())
    assert np.all(np.diff(obs) >= 0)
    # Two independent estimates of the 68% coverage (QMC thresholds vs random-sample ranks).
    assert rep["coverage"]["summary_68"] == pytest.approx(
        coverage_curve(a["rank"], np.array([0.68]))[0][0], abs=0.08
    )


def test_predict_writes_one_row_per_event(setup):
    folder, flow, _, root = setup
    out = root / "preds.parquet"
    assert (
        main(
            [
                "predict",
                "--model",
                str(flow),
                "--data",
                folder,
                "--out",
                str(out),
                "--samples",
                "128",
                "--batch-size",
                "32",
                "--no-progress",
            ]
        )
        == 0
    )
    t = pq.read_table(out)
    assert t.num_rows == 90
    for col in (
        "run_id",
        "event_id",
        "status",
        "prod_x",
        "decay_z_sigma",
        "cov",
        "gap_length",
        "gap_length_sigma",
        "logp_threshold_68",
        "logp_threshold_90",
        "true_prod_x",
        "true_gap_length",
        "logp_truth",
    ):
        assert col in t.column_names, col
    from llp_gap_reco.bundle import load_bundle

    bundle = load_bundle(flow)
    b = next(
        iter(PackedLoader(folder, LoaderConfig(batch_size=90, shuffle=False), bundle.normalization))
    )
    s = bundle.reconstruct(b, n_samples=128)
    np.testing.assert_allclose(
        t.column("decay_y").to_numpy(), s.mean[:, 4].numpy(), rtol=1e-5, atol=1e-3
    )
    cov = np.stack(t.column("cov").to_numpy(zero_copy_only=False)).reshape(-1, 6, 6)
    np.testing.assert_allclose(cov, s.cov.numpy(), rtol=1e-4, atol=1e-2)
    enc = bundle.encode(b.x, b.seqlens).double()
    with torch.no_grad():
        logp = bundle.flow.log_prob(b.targets, enc).numpy()
    np.testing.assert_allclose(t.column("logp_truth").to_numpy(), logp, rtol=1e-9)
    assert np.array_equal(t.column("event_id").to_numpy(), b.event_id.numpy())
    assert torch.all(s.status == 0)
