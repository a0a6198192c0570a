"""Conditional coverage, per-coordinate intervals, SBC ranks, HDR volumes and binned resolution
against naive float64 references and known Gaussian posteriors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from llp_gap_reco.evaluation.binned_resolution import binned_resolution
from llp_gap_reco.evaluation.conditional import (
    conditional_coverage,
    coordinate_coverage,
    hdr_inside,
)
from llp_gap_reco.evaluation.coverage import hdr_rank
from llp_gap_reco.evaluation.sbc import (
    chi2_pvalue,
    coordinate_ranks,
    rank_histogram,
    sbc_summary,
)
from llp_gap_reco.evaluation.volume import log_hdr_volume
from scipy import stats


def naive_quantile(values: list[float], q: float) -> float:
    """Linear-interpolation quantile of a list (numpy's default definition), pure Python."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    i = int(math.floor(pos))
    return s[i] if i + 1 >= len(s) else s[i] + (pos - i) * (s[i + 1] - s[i])


def naive_bins(values, rank, n_bins=5) -> list[dict]:
    """Quantile-bin coverage with plain loops: edges from the sorted values, duplicates merged,
    bin ``lo <= v < hi`` (last bin closed)."""
    finite = [float(v) for v in values if math.isfinite(v)]
    edges = sorted({naive_quantile(finite, k / n_bins) for k in range(n_bins + 1)})
    rows = []
    for b in range(len(edges) - 1):
        lo, hi, last = edges[b], edges[b + 1], b == len(edges) - 2
        n = in68 = in90 = 0
        for v, r in zip(values, rank):
            if math.isfinite(v) and lo <= v and (v < hi or (last and v == hi)):
                n += 1
                in68 += r <= 0.68
                in90 += r <= 0.90
        rows.append({"lo": lo, "hi": hi, "n": n, "observed_68": in68 / n, "observed_90": in90 / n})
    return rows


def test_quintile_coverage_matches_a_plain_loop():
    rng = np.random.default_rng(1)
    n_doms = rng.poisson(12, 997).astype(float)  # many ties: merged edges
    gap = rng.uniform(20, 600, 997)
    gap[::50] = np.nan  # a variable the folder lacks for some events: left out
    rank = rng.uniform(0, 1, 997) ** 1.3
    got = conditional_coverage({"n_doms": n_doms, "gap_length": gap}, hdr_inside(rank))
    for name, values in (("n_doms", n_doms), ("gap_length", gap)):
        ref = naive_bins(values.tolist(), rank.tolist())
        assert len(got[name]) == len(ref)
        for g, r in zip(got[name], ref):
            for key in ("lo", "hi", "observed_68", "observed_90"):
                assert g[key] == pytest.approx(r[key], abs=1e-12), (name, key)
            assert g["n"] == r["n"]
            assert g["stderr_68"] == pytest.approx(
                math.sqrt(r["observed_68"] * (1 - r["observed_68"]) / r["n"]), rel=1e-9
            )
    assert sum(r["n"] for r in got["gap_length"]) == int(np.isfinite(gap).sum())
    assert sum(r["n"] for r in got["n_doms"]) == 997
    assert len(got["gap_length"]) == 5


def gaussian_events(n: int, rng, width_ratio: np.ndarray, n_samples: int = 400):
    """Diagonal 6D Gaussian posteriors (sigma per event and coordinate), truths drawn with
    ``sigma * width_ratio``; posterior samples, their log densities and the truth's."""
    mu = rng.normal(0, 100, (n, 6))
    sigma = rng.uniform(20, 80, (n, 6))
    truth = mu + sigma * width_ratio[:, None] * rng.normal(size=(n, 6))
    samples = mu[:, None, :] + sigma[:, None, :] * rng.normal(size=(n, n_samples, 6))

    def logp(x):
        z = (x - mu[:, None, :]) / sigma[:, None, :]
        return (-0.5 * z**2 - np.log(sigma[:, None, :] * math.sqrt(2 * math.pi))).sum(-1)

    return samples, logp(samples), logp(truth[:, None, :])[:, 0], truth


def test_conditional_coverage_finds_a_posterior_too_narrow_only_for_long_gaps():
    rng = np.random.default_rng(2)
    n = 5000
    gap = rng.uniform(20, 600, n)
    ratio = np.where(gap > 480, 1.6, 1.0)  # truths spread 1.6x wider than the posterior says
    samples, lp_s, lp_t, truth = gaussian_events(n, rng, ratio)
    rank = hdr_rank(lp_s, lp_t)
    rows = conditional_coverage({"gap_length": gap}, hdr_inside(rank))["gap_length"]
    # expected coverage of the narrow bin: P(chi2_6 <= chi2_6.ppf(a) / 1.6^2)
    for a, p in ((0.68, "68"), (0.90, "90")):
        for r in rows[:4]:
            assert abs(r[f"observed_{p}"] - a) < 4 * r[f"stderr_{p}"] + 0.0125, r
        narrow = stats.chi2.cdf(stats.chi2.ppf(a, 6) / 1.6**2, 6)
        assert rows[4][f"observed_{p}"] == pytest.approx(
            narrow, abs=4 * rows[4][f"stderr_{p}"] + 0.0125
        )
        assert rows[4][f"observed_{p}"] < a - 0.25
    # The same shows per coordinate: central intervals of the long gaps hold too few truths.
    u = coordinate_ranks(samples, truth) / samples.shape[1]
    coords = coordinate_coverage(u, {"gap_length": gap})
    narrow_1d = 2 * stats.norm.cdf(stats.norm.ppf(0.84) / 1.6) - 1
    for c in coords.values():
        top = c["conditional"]["gap_length"][4]
        assert top["observed_68"] == pytest.approx(narrow_1d, abs=4 * top["stderr_68"] + 0.01)
        assert c["conditional"]["gap_length"][0]["observed_68"] == pytest.approx(0.68, abs=0.06)


def test_central_interval_coverage_equals_the_direct_z_test():
    rng = np.random.default_rng(3)
    samples, _, _, truth = gaussian_events(3000, rng, np.ones(3000), n_samples=1000)
    mu, sd = samples.mean(1), samples.std(1)
    u = coordinate_ranks(samples, truth) / samples.shape[1]
    got = coordinate_coverage(u, {"n_doms": rng.poisson(30, 3000).astype(float)})
    for j, c in enumerate(got.values()):
        z = np.abs(truth[:, j] - mu[:, j]) / sd[:, j]
        for a, p in ((0.68, "68"), (0.90, "90")):
            direct = float((z <= stats.norm.ppf((1 + a) / 2)).mean())
            # the two differ by the Monte Carlo error of the sample quantiles only
            assert c["overall"][f"observed_{p}"] == pytest.approx(direct, abs=0.02)
            assert c["overall"][f"observed_{p}"] == pytest.approx(
                a, abs=4 * c["overall"][f"stderr_{p}"]
            )
        assert sum(r["n"] for r in c["conditional"]["n_doms"]) == 3000


def test_rank_histogram_and_chi2_match_plain_references():
    rng = np.random.default_rng(4)
    s, ranks = 37, rng.integers(0, 38, 1000)
    counts, expected = rank_histogram(ranks, s, 7)
    ref = [0] * 7
    for r in ranks.tolist():
        ref[int(r * 7 / 38)] += 1
    assert counts.tolist() == ref
    per_value = [sum(1 for v in range(38) if int(v * 7 / 38) == b) for b in range(7)]
    assert expected == pytest.approx([1000 * w / 38 for w in per_value])
    stat, dof, p = chi2_pvalue(counts, expected)
    ref_stat, ref_p = stats.chisquare(counts, expected)
    assert (stat, dof, p) == pytest.approx((ref_stat, 6, ref_p), rel=1e-9)
    with pytest.raises(ValueError, match="0..37"):
        rank_histogram(np.array([38]), s, 7)


def test_sbc_ranks_are_uniform_when_calibrated_and_u_shaped_when_too_narrow():
    rng = np.random.default_rng(5)
    n, s = 4000, 200
    calibrated = gaussian_events(n, rng, np.ones(n), n_samples=s)
    narrow = gaussian_events(n, rng, np.full(n, 1.6), n_samples=s)
    ok = sbc_summary(coordinate_ranks(calibrated[0], calibrated[3]), s)
    bad = sbc_summary(coordinate_ranks(narrow[0], narrow[3]), s)
    assert ok["n_bins"] == 20
    for name in ok["coordinates"]:
        c, b = ok["coordinates"][name], bad["coordinates"][name]
        assert int(np.sum(c["counts"])) == n
        assert c["p_value"] > 1e-3  # fixed seed: a uniform sample, not a flaky test
        assert b["p_value"] < 1e-12
        counts, expected = np.asarray(b["counts"]), np.asarray(b["expected"])
        assert counts[0] > 1.8 * expected[0] and counts[-1] > 1.8 * expected[-1]  # U shape
        assert counts[8:12].sum() < 0.8 * expected[8:12].sum()


def test_hdr_volume_of_a_gaussian_equals_the_ellipsoid():
    rng = np.random.default_rng(6)
    a = rng.normal(size=(4, 6, 6))
    cov = a @ a.transpose(0, 2, 1) * 400 + np.eye(6) * 100  # m^2
    n = 40000
    z = rng.normal(size=(4, n, 6))  # x = L z: log p(x) from z and log det(cov) alone
    _, logdet = np.linalg.slogdet(cov)
    logp = -0.5 * (z**2).sum(-1) - 0.5 * logdet[:, None] - 3 * math.log(2 * math.pi)
    for level in (0.68, 0.90):
        got = log_hdr_volume(torch.from_numpy(logp), level)
        # ellipsoid {d^2 <= chi2_6.ppf(level)}: volume of the unit 6-ball pi^3/6 times r^6
        ref = math.log(math.pi**3 / 6) + 3 * math.log(stats.chi2.ppf(level, 6)) + 0.5 * logdet
        np.testing.assert_allclose(got, ref, atol=0.05)  # MC: sd 0.009 / 0.014 at 68 / 90%


def test_binned_resolution_matches_a_plain_loop():
    rng = np.random.default_rng(7)
    n = 600
    truth = rng.normal(0, 300, (n, 6))
    flow = truth + rng.normal(0, 50, (n, 6))
    base = truth + rng.normal(0, 80, (n, 6))
    n_doms = rng.integers(8, 200, n).astype(float)
    lv = rng.normal(30, 2, n)
    rows = binned_resolution(
        n_doms, {"flow": flow, "mse_baseline": base}, truth, {"68": lv, "90": lv + 1}
    )
    assert len(rows) == 5
    for r in rows:
        last = r is rows[-1]
        sel = [
            i
            for i in range(n)
            if r["lo"] <= n_doms[i] and (n_doms[i] < r["hi"] or (last and n_doms[i] == r["hi"]))
        ]
        assert r["n"] == len(sel)
        for m, p in (("flow", flow), ("mse_baseline", base)):
            d = [math.dist(p[i, 3:], truth[i, 3:]) for i in sel]
            assert r["median_3d"][m]["decay"] == pytest.approx(float(np.median(d)), rel=1e-12)
        assert r["log_hdr_volume_90"] == pytest.approx(float(np.median(lv[sel] + 1)))
        assert r["hdr_side_68"] == pytest.approx(math.exp(float(np.median(lv[sel])) / 6))
