"""Figures of conditional coverage, per-coordinate calibration, SBC ranks and binned resolution
(matplotlib, Agg backend). Each writes one PNG; inputs are the report.json sections."""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .plots import _save  # noqa: E402

_LEVELS = (("68", 0.68, "C0"), ("90", 0.90, "C1"))


def _bin_labels(rows: list[dict]) -> list[str]:
    return [f"{r['lo']:.3g}–{r['hi']:.3g}" for r in rows]


def _values(rows: list[dict], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else r[key] for r in rows], np.float64)


def plot_conditional_coverage(
    conditional: dict[str, list[dict]], path: pathlib.Path, title: str = "HDR coverage per quintile"
) -> pathlib.Path:
    """One panel per variable: observed 68% / 90% coverage per bin (binomial 1-sigma bars),
    nominal levels dashed."""
    names = list(conditional)
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        rows = conditional[name]
        x = np.arange(len(rows))
        for p, nominal, color in _LEVELS:
            ax.errorbar(
                x,
                _values(rows, f"observed_{p}"),
                yerr=_values(rows, f"stderr_{p}"),
                fmt="o-",
                ms=4,
                color=color,
                label=f"{p}% region",
            )
            ax.axhline(nominal, color=color, ls="--", lw=1)
        ax.set_xticks(x, _bin_labels(rows), rotation=30, fontsize=7)
        ax.set_xlabel(name)
        ax.set_ylim(0, 1.02)
    axes[0, 0].set_ylabel("fraction of truths inside")
    axes[0, 0].legend(fontsize=8, loc="lower left")
    fig.suptitle(title)
    return _save(fig, path)


def plot_coordinate_coverage(coordinates: dict[str, dict], path: pathlib.Path) -> pathlib.Path:
    """One panel per coordinate: coverage of its central 68% (solid) / 90% (dotted) interval per
    quintile (Q1 lowest) of each variable (colour), nominal levels dashed."""
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), sharey=True)
    for ax, (coord, c) in zip(axes.flat, coordinates.items()):
        for k, (var, rows) in enumerate(c["conditional"].items()):
            x = np.arange(1, len(rows) + 1)
            for p, style in (("68", "o-"), ("90", "s:")):
                ax.plot(
                    x,
                    _values(rows, f"observed_{p}"),
                    style,
                    color=f"C{k}",
                    ms=3,
                    label=var if p == "68" else None,
                )
        for _, nominal, _c in _LEVELS:
            ax.axhline(nominal, color="k", ls="--", lw=1)
        ov = c["overall"]
        ax.set_title(
            f"{coord}: {ov['observed_68']:.3f} / {ov['observed_90']:.3f} overall", fontsize=9
        )
        ax.set_xticks(np.arange(1, 6), [f"Q{q}" for q in range(1, 6)])
        ax.set_xlabel("quintile of the variable (Q1: lowest)")
        ax.set_ylim(0, 1.02)
    axes[0, 0].set_ylabel("truth inside central interval")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    return _save(fig, path)


def plot_sbc(sbc: dict, path: pathlib.Path) -> pathlib.Path:
    """One panel per coordinate: histogram of the truth's rank among the posterior samples,
    the uniform expectation with its 95% binomial band; U shape: too narrow, hump: too wide."""
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, (coord, c) in zip(axes.flat, sbc["coordinates"].items()):
        counts, expected = np.asarray(c["counts"], float), np.asarray(c["expected"], float)
        n = counts.sum()
        edges = np.linspace(0, 1, counts.size + 1)
        band = 1.96 * np.sqrt(expected * (1 - expected / max(n, 1)))
        ax.stairs(counts, edges, color="C0", lw=1.8, label="observed")
        ax.stairs(
            expected + band,
            edges,
            baseline=expected - band,
            fill=True,
            color="k",
            alpha=0.15,
            label="uniform, 95%",
        )
        ax.stairs(expected, edges, color="k", lw=0.8, ls="--")
        p = c["p_value"]
        ax.set_title(f"{coord}: chi2 p = {'n/a' if p is None else f'{p:.2g}'}", fontsize=9)
        ax.set_xlabel("rank of truth / samples")
        ax.set_ylim(0, None)
    axes[0, 0].set_ylabel("events")
    axes[0, 0].legend(fontsize=7)
    return _save(fig, path)


def plot_binned_resolution(
    rows: list[dict], path: pathlib.Path, variable: str = "n_doms"
) -> pathlib.Path:
    """Left: median 3D error of production (solid) and decay (dashed) vertex per bin, per
    model. Right: median side of the cube with the 68% / 90% HDR volume."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    x = np.arange(len(rows))
    models = list(rows[0]["median_3d"]) if rows else []
    for k, m in enumerate(models):
        for v, style in (("prod", "o-"), ("decay", "s--")):
            y = [np.nan if r["median_3d"][m][v] is None else r["median_3d"][m][v] for r in rows]
            a1.plot(x, y, style, color=f"C{k}", label=f"{m} {v}")
    a1.set_ylabel("median 3D error [m]")
    a1.legend(fontsize=8)
    for p, _nominal, color in _LEVELS:
        a2.plot(x, _values(rows, f"hdr_side_{p}"), "o-", color=color, label=f"{p}% HDR")
    a2.set_ylabel("(HDR volume)^(1/6) [m]")
    a2.legend(fontsize=8)
    for ax in (a1, a2):
        ax.set_xticks(x, _bin_labels(rows), rotation=30, fontsize=7)
        ax.set_xlabel(variable)
    return _save(fig, path)
