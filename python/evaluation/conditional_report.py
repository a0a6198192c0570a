"""The conditional parts of the evaluation report: coverage per quintile of event variables,
per-coordinate central intervals, SBC rank histograms, resolution and HDR volume per quintile of
hit DOMs, and their figures (markdown: :mod:`.report_conditional`)."""

from __future__ import annotations

import os
import pathlib
from typing import Any, Sequence, Union

import numpy as np

from . import plots_conditional as plots
from .binned_resolution import binned_resolution
from .conditional import conditional_coverage, coordinate_coverage, hdr_inside
from .event_variables import event_variables
from .sbc import sbc_summary


def conditional_sections(
    a: dict,
    ok: np.ndarray,
    data: Union[str, os.PathLike, Sequence],
    out_dir: pathlib.Path,
    coverage_samples: int,
) -> dict:
    """``{"coverage": {conditional, coordinates, sbc}, "resolution_by_n_doms": rows,
    "figures": {name: file}, "variables": {name: [N] over all events}}`` from the arrays of
    :func:`~.collect.collect` (``ok``: events with status OK)."""
    variables = event_variables(data, a["run_id"], a["event_id"], a["n_doms"], a["truth"])
    var_ok = {k: v[ok] for k, v in variables.items()}
    ranks = a["coord_rank"][ok]
    coverage: dict[str, Any] = {
        "conditional": conditional_coverage(var_ok, hdr_inside(a["rank"][ok])),
        "coordinates": coordinate_coverage(ranks / coverage_samples, var_ok),
        "sbc": sbc_summary(ranks, coverage_samples),
    }
    points = {"flow": a["mean"][ok]}
    if "baseline" in a:
        points["mse_baseline"] = a["baseline"][ok]
    by_n_doms = binned_resolution(
        var_ok["n_doms"],
        points,
        a["truth"][ok],
        {"68": a["log_volume_68"][ok], "90": a["log_volume_90"][ok]},
    )
    figures = {
        "coverage_conditional": plots.plot_conditional_coverage(
            coverage["conditional"], out_dir / "coverage_conditional.png"
        ).name,
        "coverage_coordinates": plots.plot_coordinate_coverage(
            coverage["coordinates"], out_dir / "coverage_coordinates.png"
        ).name,
        "sbc_ranks": plots.plot_sbc(coverage["sbc"], out_dir / "sbc_ranks.png").name,
        "resolution_by_n_doms": plots.plot_binned_resolution(
            by_n_doms, out_dir / "resolution_by_n_doms.png"
        ).name,
    }
    return {
        "coverage": coverage,
        "resolution_by_n_doms": by_n_doms,
        "figures": figures,
        "variables": variables,
    }
