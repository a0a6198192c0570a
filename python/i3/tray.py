"""A complete reconstruction tray, I3Reader -> LLPGapReco -> I3Writer, for scripts and the
quickstart. The output is written to a temporary name and renamed when the tray has finished."""

from __future__ import annotations

import logging
import os
import pathlib
import time
from collections.abc import Sequence
from typing import Any, Union

from icecube import dataio  # noqa: F401  (registers I3Reader and I3Writer)
from icecube.icetray import I3Tray

from .module import LLPGapReco

logger = logging.getLogger(__name__)


#: compression suffixes I3Writer recognises (it picks the compression from the file name)
I3_SUFFIXES = (".i3", ".i3.gz", ".i3.bz2", ".i3.zst")


def partial_path(output: Union[str, os.PathLike[str]]) -> pathlib.Path:
    """Where a tray writes ``output`` before renaming it: ``run.part.i3.zst`` for
    ``run.i3.zst``, so I3Writer still compresses as the final name says."""
    out = pathlib.Path(output)
    for suffix in sorted(I3_SUFFIXES, key=len, reverse=True):
        if out.name.endswith(suffix):
            return out.with_name(out.name[: -len(suffix)] + ".part" + suffix)
    return out.with_name(out.name + ".part.i3")


def reconstruct_files(
    inputs: Sequence[Union[str, os.PathLike[str]]],
    output: Union[str, os.PathLike[str]],
    model: Union[str, os.PathLike[str]],
    **module_params: Any,
) -> float:
    """Run ``inputs`` (GCD first when given) through :class:`LLPGapReco` into ``output``;
    ``module_params`` go to the module. Returns the tray's wall time [s]."""
    out = pathlib.Path(output)
    tmp = partial_path(out)
    tray = I3Tray()
    tray.AddModule("I3Reader", "reader", FilenameList=[str(f) for f in inputs])
    tray.AddModule(LLPGapReco, "llpreco", ModelPath=str(model), **module_params)
    tray.AddModule("I3Writer", "writer", Filename=str(tmp))
    t0 = time.perf_counter()
    tray.Execute()
    tmp.replace(out)
    return time.perf_counter() - t0
