#!/usr/bin/env python3
"""Renders the README's physics numbers from the committed evaluation reports.

    python resources/reports/render_readme.py            # print the markdown
    python resources/reports/render_readme.py --write    # replace the README sections

Reports (``report.json`` as ``llp-gap-reco evaluate`` / ``quickstart`` write it; small):

- ``resources/reports/quickstart/report.json``: ``make quickstart``'s
  ``quickstart_output/report/report.json``;
- ``resources/reports/physics/report.json``: the README's physics-bar run
  (``reports/flow/report.json`` of its commands).

Copy a run's file there and rerun with ``--write``. A section whose report is missing is left
as it is in the README, and the script says so.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
README = HERE.parents[1] / "README.md"
SECTIONS = {
    "quickstart": (HERE / "quickstart" / "report.json", "make quickstart"),
    "physics": (HERE / "physics" / "report.json", "`resources/reports/physics_run.sh`"),
}


def _median_3d(report: dict, model: str) -> str:
    rows = {r["quantity"]: r for r in report["resolution"].get(model, [])}
    if "prod_3d" not in rows:
        return "-"
    return f"{rows['prod_3d']['median']:.0f} / {rows['decay_3d']['median']:.0f} m"


def _budget(report: dict, name: str) -> str:
    b = (report.get("training_budget") or {}).get(name)
    if b:
        stop = " (safety stop)" if b.get("safety_stop_triggered") else ""
        minutes = b["seconds"] / 60
        return f"{b['steps_done']:,} of {b['steps_requested']:,} steps, {minutes:.1f} min{stop}"
    t = report.get("training" if name == "flow" else "baseline_training")
    if t and t.get("global_step") is not None:
        return f"{t.get('global_step', '?'):,} steps, {t.get('elapsed_s', 0) / 60:.1f} min"
    return "not recorded"


def render(report: dict, source: str, command: str) -> str:
    cov = report["coverage"]
    temp = cov.get("base_temperature")
    lines = [
        f"From `{source}` ({report.get('n_ok', report.get('n_events'))} held-out events of "
        f"`{_run_folder(report.get('data'))}`; made by {command}):",
        "",
        "| | value |",
        "|---|---|",
        f"| median 3D error, production / decay vertex (flow posterior mean) | "
        f"{_median_3d(report, 'flow')} |",
        f"| same, MSE baseline with the same encoder | {_median_3d(report, 'mse_baseline')} |",
        f"| same, prior (constant guess) | {_median_3d(report, 'prior')} |",
        f"| truth inside the 68% / 90% highest-density region | {100 * cov['summary_68']:.1f}% / "
        f"{100 * cov['summary_90']:.1f}% |",
        f"| fitted base temperature (posterior width) | {'-' if temp is None else f'{temp:.3f}'}"
        f"{' x a width per event' if cov.get('event_temperature') else ''}"
        f"{' (with a hit-DOM term)' if cov.get('brightness_width') else ''}"
        f"{_level_map(cov.get('hdr_levels'), bool(cov.get('region_tilt')))} |",
        f"| gap-length prior the flow learned | {_gap_prior(report)} |",
        f"| training of the flow | {_budget(report, 'flow')} |",
        f"| training of the MSE baseline | {_budget(report, 'mse_baseline')} |",
    ]
    lines += _conditional(cov.get("conditional") or {})
    return "\n".join(lines)


def _run_folder(data: str | None) -> str:
    """The evaluated folder as the run's own: its last three path parts (``report.json`` keeps
    the absolute path of the machine it was made on)."""
    if not data:
        return "not recorded"
    path = pathlib.PurePath(data)
    return "/".join(path.parts[-3:]) if path.is_absolute() else data


def _gap_prior(report: dict) -> str:
    prior = (report.get("training") or {}).get("gap_prior")
    if prior == "flat":
        return "flat (regions hold per true gap length; moments weighted back)"
    return "the training set's own" if prior == "simulated" else "not recorded"


#: README labels of the conditional-coverage variables
CONDITIONAL_LABELS = {
    "n_doms": "hit DOMs",
    "gap_length": "true gap length [m]",
    "cos_zenith": "true cos(zenith)",
    "total_charge": "total charge [PE]",
}


def _conditional(conditional: dict) -> list[str]:
    """Per quintile of each variable: its range and the 68% / 90% HDR coverage (percent)."""
    if not conditional:
        return []
    lines = ["", "Truth inside the 68% / 90% region per quintile (`coverage.conditional`):", ""]
    lines += ["| quintile of | 1 | 2 | 3 | 4 | 5 |", "|---|---|---|---|---|---|"]
    for var, bins in conditional.items():
        label = CONDITIONAL_LABELS.get(var, var)
        ranges = " | ".join(f"{b['lo']:.3g}-{b['hi']:.3g}" for b in bins)
        cover = " | ".join(
            f"{100 * b['observed_68']:.0f}% / {100 * b['observed_90']:.0f}%" for b in bins
        )
        lines += [f"| {label} | {ranges} |", f"| coverage | {cover} |"]
    return lines


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}-report:start -->", f"<!-- {name}-report:end -->"


def _level_map(levels: list | None, tilt: bool = False) -> str:
    """The level map and the region tilt in the temperature row (empty without either)."""
    what = "the gap-length tilted posterior's" if tilt else "the flow's"
    if not levels or [round(v, 9) for v in levels] == [0.68, 0.9]:
        return "; regions of the gap-length tilted posterior (region tilt)" if tilt else ""
    return "; 68% / 90% regions = {} {:.1f}% / {:.1f}% HDRs (level map{})".format(
        what, *(100 * v for v in levels), ", region tilt" if tilt else ""
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update README.md in place")
    args = parser.parse_args(argv)
    text = README.read_text()
    missing = []
    for name, (path, command) in SECTIONS.items():
        if not path.exists():
            missing.append(name)
            print(
                f"{path.relative_to(HERE.parents[1])}: missing, README section '{name}' left "
                "as it is",
                file=sys.stderr,
            )
            continue
        block = render(
            json.loads(path.read_text()), str(path.relative_to(HERE.parents[1])), command
        )
        if not args.write:
            print(f"{name}:\n{block}\n")
            continue
        start, end = _markers(name)
        if start not in text or end not in text:
            raise SystemExit(f"README.md has no {start} ... {end} markers")
        head, rest = text.split(start, 1)
        text = f"{head}{start}\n{block}\n{end}{rest.split(end, 1)[1]}"
    if args.write:
        README.write_text(text)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
