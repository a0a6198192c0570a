"""Markdown of the conditional sections of the evaluation report (see
:mod:`.conditional_report`)."""

from __future__ import annotations


def _f(v: object, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _pct(row: dict, p: str) -> str:
    o, e = row.get(f"observed_{p}"), row.get(f"stderr_{p}")
    return "n/a" if o is None else f"{100 * o:.1f} ± {100 * (e or 0):.1f}"


def conditional_markdown(report: dict) -> list[str]:
    """Markdown lines of the conditional sections of a (JSON-clean) report."""
    cov = report["coverage"]
    if "conditional" not in cov:
        return []
    md = [
        "## Coverage per quintile of event variables",
        "",
        "Truth inside the 68% / 90% HDR, in per cent (± binomial standard error). Variables:",
        "hit DOMs, true gap length [m], cos(true muon zenith), total charge [PE].",
        "",
    ]
    for var, rows in cov["conditional"].items():
        md += [f"**{var}**", "", "| bin | n | 68% | 90% |", "|---|---|---|---|"]
        md += [
            f"| {_f(r['lo'])} – {_f(r['hi'])} | {r['n']} | {_pct(r, '68')} | {_pct(r, '90')} |"
            for r in rows
        ]
        md.append("")
    md += [
        "## Per-coordinate calibration",
        "",
        "Truth inside each coordinate's central 68% / 90% interval (per cent), and the",
        "chi-square p-value of uniform SBC ranks "
        f"({cov['sbc']['n_bins']} bins, {cov['sbc']['samples_per_event']} samples per event).",
        "",
        "| coordinate | 68% | 90% | SBC p-value |",
        "|---|---|---|---|",
    ]
    for name, c in cov["coordinates"].items():
        p = cov["sbc"]["coordinates"][name]["p_value"]
        md.append(
            f"| {name} | {_pct(c['overall'], '68')} | {_pct(c['overall'], '90')} | {_f(p, 2)} |"
        )
    rows = report.get("resolution_by_n_doms") or []
    if rows:
        models = list(rows[0]["median_3d"])
        md += [
            "",
            "## Resolution and HDR size per quintile of hit DOMs",
            "",
            "Median 3D error [m] of production / decay vertex per model; (HDR volume)^(1/6) "
            "[m], median over events.",
            "",
            "| n_doms | n | "
            + " | ".join(f"{m} prod / decay" for m in models)
            + " | 68% HDR side | 90% HDR side |",
            "|---" * (4 + len(models)) + "|",
        ]
        for r in rows:
            cells = [
                f"{_f(r['median_3d'][m]['prod'])} / {_f(r['median_3d'][m]['decay'])}"
                for m in models
            ]
            md.append(
                f"| {_f(r['lo'])} – {_f(r['hi'])} | {r['n']} | "
                + " | ".join(cells)
                + f" | {_f(r['hdr_side_68'])} | {_f(r['hdr_side_90'])} |"
            )
    return md + [""]
