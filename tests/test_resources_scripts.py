"""``resources/test/*.py`` (what ``ctest -R llp_gap_reco`` runs inside an icetray source tree),
each run as a script in its own process, as ctest would: exit code 0 or the test fails with the
script's output. There is no icetray source tree for ctest in CI, so pytest runs them."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "resources" / "test").glob("*.py"))


def test_there_are_scripts_to_run():
    assert SCRIPTS, "resources/test/ has no *.py"


@pytest.mark.icetray
@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_resources_test_script_exits_0(script, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, (
        f"{script.name} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
        f"--- stderr\n{proc.stderr[-4000:]}"
    )
