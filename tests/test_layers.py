"""The package's shape: reconstruction never loads training code, and no source file grows
past 400 lines. The import contracts themselves are checked by ``lint-imports`` (pyproject)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

from _training_helpers import make_bundle, make_folder
from llp_gap_reco.bundle import save_bundle

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "python"

PREDICT_PATH = """
import json, sys
from llp_gap_reco.bundle import load_bundle
from llp_gap_reco.evaluation.predictions import predict_folder
bundle = load_bundle(sys.argv[1])
n = predict_folder(bundle, sys.argv[2], sys.argv[3], n_samples=16, progress=False)
print(json.dumps({"n": n, "modules": sorted(m for m in sys.modules
                                               if m.startswith("llp_gap_reco"))}))
"""


def test_predict_path_does_not_import_training(tmp_path):
    folder = make_folder(tmp_path / "data", n_events=40, events_per_file=20)
    model = save_bundle(make_bundle(folder), tmp_path / "model.pt")
    out = tmp_path / "pred.parquet"
    proc = subprocess.run(
        [sys.executable, "-c", PREDICT_PATH, str(model), folder, str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["n"] == 40 and out.exists()
    assert "llp_gap_reco.model.bundle" in result["modules"]
    loaded_training = [m for m in result["modules"] if m.startswith("llp_gap_reco.training")]
    assert loaded_training == []


def test_no_source_file_over_400_lines():
    sizes = {
        str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 50
    assert {name: n for name, n in sizes.items() if n > 400} == {}
