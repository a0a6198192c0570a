"""Running the ``llp-gap-reco`` console script in a subprocess."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

SCRIPT = pathlib.Path(sys.executable).parent / "llp-gap-reco"


def cli(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess:
    """``llp-gap-reco ARGS`` in ``cwd`` (the installed console script when there is one), with
    this process's import path."""
    cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "llp_gap_reco.cli.main"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run(
        [*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
