"""Posterior summaries: accuracy vs an 8,192-sample reference, determinism, HDR levels, status."""

from __future__ import annotations

import math

import pytest
import torch
from _flow_helpers import encodings, initialised_flow
from conftest import one_torch_thread
from llp_gap_reco.core.status import Status
from llp_gap_reco.flow import ConditionalFlow, PosteriorSummary
from scipy.stats import chi2

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def flow_and_reference():
    with one_torch_thread():
        flow = initialised_flow()
        enc = encodings(3)
        reference = flow.summarize(enc, n_samples=8192, seed=123, exact=True)
    return flow, enc, reference


def _errors(summary: PosteriorSummary, reference: PosteriorSummary):
    mean_err = ((summary.mean - reference.mean) / reference.sigma).abs().max()
    # covariance error: relative Frobenius norm of the correlation-scaled difference
    norm = reference.sigma.unsqueeze(-1) * reference.sigma.unsqueeze(-2)
    scaled = (summary.cov - reference.cov) / norm
    cov_err = (scaled.norm(dim=(1, 2)) / (reference.cov / norm).norm(dim=(1, 2))).max()
    return float(mean_err), float(cov_err)


@pytest.mark.slow
@pytest.mark.parametrize("n_samples", [256, 512])
def test_fast_summary_matches_8192_sample_reference(flow_and_reference, n_samples):
    flow, enc, reference = flow_and_reference
    mean_err, cov_err = _errors(flow.summarize(enc, n_samples=n_samples), reference)
    assert mean_err < 0.05  # sigma
    assert cov_err < 0.10  # relative to sigma_i sigma_j


@pytest.mark.slow
def test_tabulated_inversion_matches_newton_inversion(flow_and_reference):
    flow, enc, reference = flow_and_reference
    fast = flow.summarize(enc, n_samples=8192, seed=123, dtype=torch.float64)
    mean_err, cov_err = _errors(fast, reference)
    assert mean_err < 5e-3 and cov_err < 1e-2
    assert float((fast.logp_threshold_68 - reference.logp_threshold_68).abs().max()) < 0.3
    assert (
        float(
            ((fast.gap_length_mean - reference.gap_length_mean) / reference.gap_length_sigma)
            .abs()
            .max()
        )
        < 5e-3
    )


def test_summary_is_deterministic_given_seed(flow_and_reference):
    flow, enc, _ = flow_and_reference
    a, b = flow.summarize(enc, seed=7), flow.summarize(enc, seed=7)
    c = flow.summarize(enc, seed=8)
    for name in ("mean", "cov", "gap_length_mean", "logp_threshold_68", "logp_threshold_90"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.mean, c.mean)


def test_gaussian_flow_summary_matches_analytic_values():
    """t-only flow = MVN: mean, cov, HDR levels (chi-square) and gap length (plain MC) known."""
    torch.manual_seed(0)
    flow = ConditionalFlow("t", conditional_input_dim=3, label_standardization=False)
    with torch.no_grad():
        flow.mlp_predictors[0][-1].weight.mul_(0.1)
        flow.mlp_predictors[0][-1].bias[:6] = torch.tensor([1.0, 2.0, 3.0, 20.0, 2.0, 3.0])
    enc = encodings(3, 3)
    s = flow.summarize(enc, n_samples=4096, dtype=torch.float64)
    layers = flow.layer_parameters(flow.flow_parameters(enc).detach())
    m, scale = layers[-1][0], layers[-1][1].scale_tril
    cov = scale @ scale.transpose(1, 2)
    mvn = torch.distributions.MultivariateNormal(m, scale_tril=scale)
    assert float(((s.mean - m) / cov.diagonal(dim1=1, dim2=2).sqrt()).abs().max()) < 0.02
    assert float(((s.cov - cov) / (s.sigma[:, :, None] * s.sigma[:, None, :])).abs().max()) < 0.03
    log_norm = -0.5 * 6 * math.log(2 * math.pi) - scale.diagonal(dim1=1, dim2=2).log().sum(-1)
    for level, got in ((0.68, s.logp_threshold_68), (0.90, s.logp_threshold_90)):
        expected = log_norm - 0.5 * chi2.ppf(level, 6)
        assert float((got - expected).abs().max()) < 0.05
    draws = mvn.sample((200_000,))
    gap = (draws[..., 3:] - draws[..., :3]).norm(dim=-1)
    assert torch.allclose(s.gap_length_mean, gap.mean(0), rtol=0.01)
    assert torch.allclose(s.gap_length_sigma, gap.std(0), rtol=0.03)


def test_nonfinite_encoding_gives_nonfinite_status_and_others_ok(flow_and_reference):
    flow, enc, _ = flow_and_reference
    bad = enc.clone()
    bad[1, 0] = float("nan")
    s = flow.summarize(bad, n_samples=64)
    assert s.status.tolist() == [Status.OK, Status.NONFINITE, Status.OK]
    assert torch.isfinite(s.mean[[0, 2]]).all()


def test_summary_containers_concat_numpy_rows(flow_and_reference):
    flow, enc, _ = flow_and_reference
    s = flow.summarize(enc, n_samples=64, chunk_size=2)
    parts = [flow.summarize(enc[:1], n_samples=64), flow.summarize(enc[1:], n_samples=64)]
    joined = PosteriorSummary.concat(parts)
    assert torch.allclose(joined.mean, s.mean, rtol=1e-5) and torch.allclose(
        joined.cov, s.cov, rtol=1e-4
    )
    arrays = s.to_numpy()
    assert arrays["mean"].shape == (3, 6) and arrays["cov"].shape == (3, 6, 6)
    assert arrays["status"].dtype.kind == "i"
    rows = s.as_dict()
    assert len(rows) == 3 and rows[2]["mean_decay_z"] == pytest.approx(float(s.mean[2, 5]))
    assert rows[0]["cov_0_5"] == pytest.approx(float(s.cov[0, 0, 5]))
    assert torch.allclose(s.sigma, s.cov.diagonal(dim1=1, dim2=2).sqrt())
