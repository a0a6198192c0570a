"""Evaluation figures (matplotlib, Agg backend: no display needed). Each writes one PNG."""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..core.atomic import atomic_write  # noqa: E402
from .resolution import TARGET_NAMES  # noqa: E402


def _save(fig: Figure, path: pathlib.Path) -> pathlib.Path:
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".")))
    plt.close(fig)
    return path


def plot_errors(errors: dict[str, np.ndarray], path: pathlib.Path) -> pathlib.Path:
    """Histograms of signed errors [m] per coordinate; ``errors`` maps model name -> ``[N, 6]``."""
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for i, ax in enumerate(axes.flat):
        allv = np.concatenate([e[:, i][np.isfinite(e[:, i])] for e in errors.values()])
        lim = np.quantile(np.abs(allv), 0.98) if allv.size else 1.0
        bins = np.linspace(-lim, lim, 51)
        for name, e in errors.items():
            ax.hist(e[:, i], bins=bins, histtype="step", label=name)
        ax.set_xlabel(f"{TARGET_NAMES[i]} error [m]")
    axes.flat[0].legend()
    return _save(fig, path)


def plot_pulls(p: np.ndarray, path: pathlib.Path) -> pathlib.Path:
    """Pull histograms per coordinate against the standard normal density."""
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    grid = np.linspace(-5, 5, 201)
    for i, ax in enumerate(axes.flat):
        col = p[:, i][np.isfinite(p[:, i])]
        ax.hist(np.clip(col, -5, 5), bins=np.linspace(-5, 5, 41), density=True, histtype="step")
        ax.plot(grid, np.exp(-(grid**2) / 2) / np.sqrt(2 * np.pi), "k--", lw=1, label="N(0,1)")
        ax.set_xlabel(f"pull {TARGET_NAMES[i]}")
        ax.set_title(f"mean {col.mean():+.2f}  std {col.std():.2f}" if col.size else "no data")
    axes.flat[0].legend()
    return _save(fig, path)


def plot_coverage(
    levels: np.ndarray, observed: np.ndarray, err: np.ndarray, path: pathlib.Path
) -> pathlib.Path:
    """Observed vs nominal HDR coverage with a binomial 1-sigma band."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
    ax.errorbar(levels, observed, yerr=err, fmt="o-", ms=3, label="observed")
    ax.set_xlabel("nominal HDR probability")
    ax.set_ylabel("fraction of events with truth inside")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend()
    return _save(fig, path)


def plot_corner(
    samples: np.ndarray,
    truth: np.ndarray | None,
    mean: np.ndarray,
    path: pathlib.Path,
    title: str = "",
) -> pathlib.Path:
    """Corner plot of one event's posterior samples ``[S, 6]`` [m], truth and mean marked."""
    d = samples.shape[1]
    fig, axes = plt.subplots(d, d, figsize=(11, 11), squeeze=False)
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            if j > i:
                ax.axis("off")
                continue
            if i == j:
                ax.hist(samples[:, i], bins=40, histtype="step", color="C0")
                if truth is not None:
                    ax.axvline(truth[i], color="C3")
                ax.axvline(mean[i], color="k", ls="--")
            else:
                ax.hist2d(samples[:, j], samples[:, i], bins=40, cmap="Blues")
                if truth is not None:
                    ax.plot(truth[j], truth[i], "x", color="C3", ms=8, mew=2)
                ax.plot(mean[j], mean[i], "+", color="k", ms=8)
            if i == d - 1:
                ax.set_xlabel(f"{TARGET_NAMES[j]} [m]", fontsize=8)
            if j == 0 and i > 0:
                ax.set_ylabel(f"{TARGET_NAMES[i]} [m]", fontsize=8)
            ax.tick_params(labelsize=6)
    fig.suptitle(title)
    return _save(fig, path)
