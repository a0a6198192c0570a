"""An imported original model in the I3 paths (needs icecube: marker ``icetray``): ``convert
--model`` and ``LLPGapReco`` compute its features in the original convention, and ``predict`` on
the converted folder gives what ``LLPGapReco`` wrote into the frames."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from _seed_reference import load_reference, write_original_files

pytestmark = pytest.mark.icetray

REF, META = load_reference()
N = 24


def test_imported_model_in_convert_and_llpgapreco(tmp_path):
    from icecube import dataio
    from icecube.icetray import I3Tray
    from llp_gap_reco import LLPGapReco
    from llp_gap_reco.bundle import load_bundle
    from llp_gap_reco.cli.main import main
    from llp_gap_reco.data.parquet.convention import ConventionMismatch
    from llp_gap_reco.dataset import ConvertedFolder, read_data_file
    from llp_gap_reco.evaluation.predictions import predict_folder
    from llp_gap_reco.features import FeatureExtractor
    from llp_gap_reco.geometry import Geometry
    from llp_gap_reco.simulation import simulate

    files = write_original_files(REF, META, tmp_path / "original")
    model = str(tmp_path / "model.pt")
    assert (
        main(
            [
                "import-seed",
                "--settings",
                str(files["model.yaml"]),
                "--encoder-state",
                str(files["model_best.pth"]),
                "--flow-state",
                str(files["flow_best.pth"]),
                "--normalization",
                str(files["normalization_args.yaml"]),
                "--feature-indices",
                str(files["feature_indices.yaml"]),
                "--out",
                model,
            ]
        )
        == 0
    )
    i3 = str(tmp_path / "sim.i3.gz")
    assert main(["simulate", "--events", str(N), "--seed", "8", "--i3", i3]) == 0

    conv = str(tmp_path / "conv")
    assert main(["convert", "-i", i3, "-o", conv, "--model", model]) == 0
    cf = ConvertedFolder(conv)
    assert cf.manifest["feature_config"]["convention"] == "original"
    got = np.concatenate([read_data_file(f).features for f in cf.files])
    geo = Geometry.icecube86_like()
    events = list(simulate(N, seed=8))
    q = np.concatenate(
        [np.expm1(FeatureExtractor().event_features(e.pulses, geo)[:, 3]) for e in events]
    )
    want = np.log1p(np.log1p(q))
    assert got.shape[0] == want.shape[0]
    assert np.max(np.abs(got[:, 3] - want) / want) < 1e-5  # the original converter's column

    plain = str(tmp_path / "plain")  # the package convention: refused for this model
    assert main(["convert", "-i", i3, "-o", plain]) == 0
    with pytest.raises(ConventionMismatch):
        predict_folder(load_bundle(model), plain, str(tmp_path / "x.pq"), progress=False)

    out = str(tmp_path / "reco.i3.gz")
    tray = I3Tray()
    tray.AddModule("I3Reader", "reader", Filename=i3)
    tray.AddModule(
        LLPGapReco,
        "llpreco",
        ModelPath=model,
        BatchSize=8,
        Samples=256,
        SubEventStream="InIceSplit",
    )
    tray.AddModule("I3Writer", "writer", Filename=out)
    tray.Execute()
    preds = str(tmp_path / "preds.pq")
    predict_folder(load_bundle(model), conv, preds, n_samples=256, progress=False)
    table = pq.read_table(preds).to_pandas().set_index(["run_id", "event_id"])
    n = 0
    for f in dataio.I3File(out):
        if f.Stop.id != "P" or "LLPGapReco_Params" not in f:
            continue
        h = f["I3EventHeader"]
        row = table.loc[(h.run_id, h.event_id)]
        prod, decay = f["LLPGapReco_Production"], f["LLPGapReco_Decay"]
        np.testing.assert_allclose(
            [prod.x, prod.y, prod.z, decay.x, decay.y, decay.z],
            row[["prod_x", "prod_y", "prod_z", "decay_x", "decay_y", "decay_z"]].to_numpy(float),
            rtol=1e-4,
            atol=1e-3,
        )
        n += 1
    assert n == len(table) == N
