"""Coverage, resolution and pull metrics against closed-form Gaussian references (scipy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from llp_gap_reco.evaluation.coverage import coverage_curve, hdr_rank, threshold_coverage
from llp_gap_reco.evaluation.pulls import pull_summary, pulls
from llp_gap_reco.evaluation.resolution import (
    prior_table,
    resolution_table,
    uninformative_models,
)
from scipy import stats

LEVELS = np.array([0.1, 0.3, 0.5, 0.68, 0.8, 0.9, 0.95])


def _toy_posteriors(n_events: int, truth_scale: float, n_samples: int, seed: int):
    """Random 6D Gaussian posteriors ``N(mu, L L^T)``; truths drawn with L widened by a factor.

    Returns ``(mu, cov, truth, logp_samples [B, S], logp_truth [B])``; log densities are written
    out from the Cholesky factor (samples are ``mu + L z``).
    """
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n_events, 6, generator=g, dtype=torch.float64) * 50
    a = torch.randn(n_events, 6, 6, generator=g, dtype=torch.float64)
    cov = a @ a.transpose(1, 2) + 0.5 * torch.eye(6, dtype=torch.float64)
    chol = torch.linalg.cholesky(cov)
    norm = -chol.diagonal(dim1=1, dim2=2).log().sum(-1) - 3 * np.log(2 * np.pi)
    z_truth = truth_scale * torch.randn(n_events, 6, generator=g, dtype=torch.float64)
    truth = mu + (chol @ z_truth[..., None]).squeeze(-1)
    z = torch.randn(n_events, n_samples, 6, generator=g, dtype=torch.float64)
    logp_samples = norm[:, None] - 0.5 * (z**2).sum(-1)
    logp_truth = norm - 0.5 * (z_truth**2).sum(-1)
    return mu, cov, truth, logp_samples, logp_truth


@pytest.mark.parametrize("truth_scale", [1.0, 1.4])
def test_coverage_matches_direct_gaussian_computation(truth_scale):
    mu, cov, truth, logp_s, logp_t = _toy_posteriors(3000, truth_scale, 2000, seed=7)
    rank = hdr_rank(logp_s, logp_t)
    observed, err = coverage_curve(rank, LEVELS)

    # Direct: for a Gaussian the alpha-HDR is the ellipsoid with Mahalanobis^2 <= chi2_6(alpha).
    diff = truth - mu
    maha2 = (torch.linalg.solve(cov, diff[..., None]).squeeze(-1) * diff).sum(-1)
    direct = (maha2.numpy()[None, :] <= stats.chi2.ppf(LEVELS, 6)[:, None]).mean(1)
    # Finite samples only move events that sit right at an HDR boundary.
    np.testing.assert_allclose(observed, direct, atol=0.02)
    # Known coverage: P(k^2 chi2_6 <= chi2_6(alpha)).
    expected = stats.chi2.cdf(stats.chi2.ppf(LEVELS, 6) / truth_scale**2, 6)
    tol = 4 * np.sqrt(expected * (1 - expected) / 3000) + 0.01
    assert np.all(np.abs(observed - expected) < tol)
    assert np.all(err > 0)


def test_threshold_coverage_equals_rank_coverage():
    _, _, _, logp_s, logp_t = _toy_posteriors(1000, 1.0, 4000, seed=3)
    for level in (0.68, 0.9):
        thr = torch.quantile(logp_s, 1 - level, dim=1)
        via_thr = threshold_coverage(logp_t.numpy(), thr.numpy())
        via_rank = coverage_curve(hdr_rank(logp_s, logp_t), np.array([level]))[0][0]
        assert abs(via_thr - via_rank) < 0.01
        assert abs(via_thr - level) < 4 * np.sqrt(level * (1 - level) / 1000)


def test_resolution_table_recovers_known_gaussian_errors():
    rng = np.random.default_rng(11)
    truth = rng.normal(0, 300, size=(20000, 6))
    sigma = np.array([2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    bias = np.array([1.0, 0, 0, -1.0, 0, 0])
    pred = truth + bias + rng.normal(0, sigma, truth.shape)
    rows = {r["quantity"]: r for r in resolution_table(pred, truth)}
    for i, name in enumerate(["prod_x", "prod_y", "prod_z", "decay_x", "decay_y", "decay_z"]):
        assert rows[name]["median"] == pytest.approx(bias[i], abs=0.1 * sigma[i])
        assert rows[name]["width68"] == pytest.approx(sigma[i] * stats.norm.ppf(0.84), rel=0.05)
    # Isotropic check for the 3D distance: chi distribution with 3 dof.
    iso = resolution_table(truth + rng.normal(0, 5.0, truth.shape), truth)
    rows = {r["quantity"]: r for r in iso}
    chi3 = 5 * np.sqrt(stats.chi2.ppf([0.5, 0.68], 3))
    assert rows["prod_3d"]["median"] == pytest.approx(chi3[0], rel=0.03)
    assert rows["decay_3d"]["width68"] == pytest.approx(chi3[1], rel=0.03)
    assert rows["gap_length"]["n"] == 20000


def test_models_no_better_than_the_constant_guess_are_named():
    """A prediction at the mean label (a flow stuck at its prior) is named; one that pins a
    vertex to 5 m is not, nor one that pins only one of the two vertices."""
    rng = np.random.default_rng(12)
    truth = rng.normal(0, 300, size=(5000, 6))
    near_prior = np.broadcast_to(truth.mean(0), truth.shape) + rng.normal(0, 5.0, truth.shape)
    good = truth + rng.normal(0, 5.0, truth.shape)
    half = np.concatenate([good[:, :3], near_prior[:, 3:]], axis=1)
    preds = {"stuck": near_prior, "good": good, "half": half}
    resolution = {name: resolution_table(pred, truth) for name, pred in preds.items()}
    resolution["prior"] = prior_table(truth)
    assert uninformative_models(resolution) == ["stuck"]
    assert uninformative_models({"good": resolution["good"]}) == []  # no prior to compare with


def test_pulls_of_calibrated_errors_are_standard_normal():
    rng = np.random.default_rng(5)
    truth = rng.normal(0, 100, size=(20000, 6))
    sigma = rng.uniform(1, 20, size=truth.shape)
    mean = truth + sigma * rng.normal(size=truth.shape)
    p = pulls(mean, sigma, truth)
    for row in pull_summary(p):
        assert abs(row["mean"]) < 0.05 and row["std"] == pytest.approx(1.0, abs=0.03)
    sigma[0, 0] = 0.0
    assert np.isnan(pulls(mean, sigma, truth)[0, 0])
