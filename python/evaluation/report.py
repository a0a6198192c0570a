"""The evaluation report: ``report.json`` (every number), ``report.md`` (tables, figure links)."""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any

from ..core.atomic import atomic_write_text
from .report_conditional import conditional_markdown


def _clean(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "tolist"):
        return _clean(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _fmt(v: Any) -> str:
    return "n/a" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v))


def _resolution_md(resolution: dict[str, list[dict]]) -> list[str]:
    models = list(resolution)
    head = "| quantity | " + " | ".join(f"{m} median [m] | {m} 68% [m]" for m in models) + " |"
    lines = [head, "|---" * (1 + 2 * len(models)) + "|"]
    for i, row in enumerate(resolution[models[0]]):
        cells = []
        for m in models:
            r = resolution[m][i]
            cells += [_fmt(r["median"]), _fmt(r["width68"])]
        lines.append(f"| {row['quantity']} | " + " | ".join(cells) + " |")
    return lines


def write_report(out_dir: pathlib.Path, report: dict) -> tuple[pathlib.Path, pathlib.Path]:
    """Write ``report.json`` and ``report.md`` into ``out_dir``; returns both paths.

    ``report`` keys used for markdown: ``model``, ``data``, ``n_events``, ``n_ok``,
    ``resolution`` (model name -> rows), ``pulls`` (rows), ``coverage`` (levels, observed,
    stderr, summary_68, summary_90), ``figures`` (name -> file name).
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = _clean(report)
    jpath = out_dir / "report.json"
    atomic_write_text(jpath, json.dumps(report, indent=2))

    cov = report["coverage"]
    md = [
        "# LLP gap reconstruction: evaluation report",
        "",
        f"- model: `{report['model']}`",
        f"- data: `{report['data']}`",
        f"- events: {report['n_events']} ({report['n_ok']} reconstructed with status OK)",
        *(f"- **warning**: {w}" for w in report.get("warnings") or []),
        "",
        "## Resolution (posterior mean vs truth)",
        "",
        "Per coordinate: median signed error and half the central 68% interval. 3D: 50% and 68%",
        "quantiles of the distance. `prior` is a constant guess (the mean training label).",
        "",
        *_resolution_md(report["resolution"]),
        "",
        "## Pulls (mean - truth) / sigma",
        "",
        "| quantity | mean | std | robust 68% half-width |",
        "|---|---|---|---|",
        *[
            f"| {r['quantity']} | {_fmt(r['mean'])} | {_fmt(r['std'])} | {_fmt(r['width68'])} |"
            for r in report["pulls"]
        ],
        "",
        "## Coverage of highest-density regions",
        "",
        f"From the summary thresholds: 68% region holds the truth in {_fmt(cov['summary_68'])},"
        f" 90% region in {_fmt(cov['summary_90'])} of events.",
        f"Base temperature of the flow: {_fmt(cov.get('base_temperature', 1.0))}"
        " (1: uncalibrated; else fitted on the training run's validation events)"
        + ("; times a width per event from its encoding" if cov.get("event_temperature") else "")
        + _level_map(cov.get("hdr_levels"))
        + (
            "; regions of the posterior tilted in gap length (region tilt)"
            if cov.get("region_tilt")
            else ""
        )
        + ".",
        "",
        "| nominal | observed | std. error |",
        "|---|---|---|",
        *[
            f"| {a:.2f} | {_fmt(o)} | {_fmt(e)} |"
            for a, o, e in zip(cov["levels"], cov["observed"], cov["stderr"])
        ],
        "",
        *conditional_markdown(report),
        "## Figures",
        "",
        *[f"![{name}]({fname})" for name, fname in report.get("figures", {}).items()],
        "",
    ]
    mpath = out_dir / "report.md"
    atomic_write_text(mpath, "\n".join(md))
    return jpath, mpath


def _level_map(levels: list | None) -> str:
    """The level map's part of the coverage sentence (empty without a map)."""
    if not levels or [round(v, 9) for v in levels] == [0.68, 0.9]:
        return ""
    return "; the 68% / 90% regions are the flow's {:.1f}% / {:.1f}% HDRs (level map)".format(
        *(100 * v for v in levels)
    )
