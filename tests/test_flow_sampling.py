"""Sampling: samples follow the density, float32 == float64, finite gradients on extreme inputs."""

from __future__ import annotations

import pytest
import torch
from _flow_helpers import encodings, initialised_flow
from llp_gap_reco.flow import ConditionalFlow

pytestmark = pytest.mark.usefixtures("single_thread")


def _banana_flow_2d() -> ConditionalFlow:
    """A 2D "ggt" flow initialised on skewed, curved 2D labels (exercises every layer kind)."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2000, generator=g, dtype=torch.float64)
    b = 0.5 * a**2 + 0.4 * torch.randn(2000, generator=g, dtype=torch.float64)
    flow = ConditionalFlow("ggt", conditional_input_dim=3, dim=2)
    flow.init_from_labels(torch.stack([a, b], 1), seed=0)
    return flow


@pytest.mark.slow
def test_samples_follow_density_ks_on_numerically_integrated_marginal():
    flow = _banana_flow_2d()
    enc = torch.zeros(1, 3, dtype=torch.float64)
    n = 4000
    with torch.no_grad():
        samples = flow.sample(enc, n, generator=torch.Generator().manual_seed(1))[0]
        # reference: the density on a fine grid, integrated numerically (trapezoid, float64)
        lo, hi = samples.amin(0) - 3.0, samples.amax(0) + 3.0
        g0 = torch.linspace(float(lo[0]), float(hi[0]), 350, dtype=torch.float64)
        g1 = torch.linspace(float(lo[1]), float(hi[1]), 350, dtype=torch.float64)
        grid = torch.stack(torch.meshgrid(g0, g1, indexing="ij"), -1).reshape(1, -1, 2)
        density = flow.log_prob(grid, enc).exp().reshape(350, 350)
    marginal = torch.trapezoid(density, g1, dim=1)
    total = torch.trapezoid(marginal, g0)
    assert abs(float(total) - 1.0) < 5e-3  # the density is normalised
    cdf = (
        torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumulative_trapezoid(marginal, g0)])
        / total
    )
    x0 = samples[:, 0].sort().values
    model_cdf = torch.from_numpy(__import__("numpy").interp(x0.numpy(), g0.numpy(), cdf.numpy()))
    empirical_hi = torch.arange(1, n + 1, dtype=torch.float64) / n
    ks = torch.maximum(
        (empirical_hi - model_cdf).abs(), (empirical_hi - 1.0 / n - model_cdf).abs()
    ).max()
    assert float(ks) < 1.63 / n**0.5  # 1% significance level of the KS test


def test_float32_agrees_with_float64():
    flow64 = initialised_flow()
    flow32 = initialised_flow().to(torch.float32)
    enc = encodings(16)
    x = flow64.sample(enc, 8, generator=torch.Generator().manual_seed(2)).detach()
    with torch.no_grad():
        lp64 = flow64.log_prob(x, enc)
        lp32 = flow32.log_prob(x.float(), enc.float())
        z = torch.randn(16, 8, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
        s64 = flow64.sample_base(z, enc)[0]
        s32 = flow32.sample_base(z.float(), enc.float())[0]
    assert lp32.dtype == torch.float32
    assert torch.allclose(lp32.double(), lp64, atol=2e-3, rtol=1e-4)
    scale = flow64.label_scale
    assert float(((s32.double() - s64) / scale).abs().max()) < 1e-3


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("standardise", [True, False])
def test_gradients_finite_on_labels_far_outside_training_range(dtype, standardise):
    flow = initialised_flow(label_standardization=standardise).to(dtype)
    enc = encodings(6, dtype=dtype)
    far = torch.tensor(
        [
            [1e5, -1e5, 3e4, 1e5, 1e5, -1e5],
            [0, 0, 0, 0, 0, 0],
            [5e3] * 6,
            [-2e4] * 6,
            [1e4, 0, 0, -1e4, 0, 0],
            [1e6] * 6,
        ],
        dtype=dtype,
    )
    log_p = flow.log_prob(far, enc)
    assert torch.isfinite(log_p).all()
    log_p.sum().backward()
    for p in flow.parameters():
        assert torch.isfinite(p.grad).all()


def test_samples_are_reparameterised():
    """d(sample mean)/d(final bias) through the Newton inverse matches finite differences."""
    flow = initialised_flow("ggt")
    enc = encodings(2)
    z = torch.randn(2, 64, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    bias = flow.mlp_predictors[0][-1].bias
    mean = flow.sample_base(z, enc)[0].mean((0, 1)).sum()
    (grad,) = torch.autograd.grad(mean, bias)
    idx = [0, 40, 160, 200, 320, 330]  # Householder, means, widths of both g layers, t offset/diag
    eps = 1e-6
    with torch.no_grad():
        for i in idx:
            bias[i] += eps
            up = flow.sample_base(z, enc)[0].mean((0, 1)).sum()
            bias[i] -= 2 * eps
            down = flow.sample_base(z, enc)[0].mean((0, 1)).sum()
            bias[i] += eps
            assert abs(float((up - down) / (2 * eps)) - float(grad[i])) < 1e-4 * (
                1 + abs(float(grad[i]))
            )


def test_safeguarded_newton_solves_cubic_and_tolerates_nan():
    from llp_gap_reco.model.flow.root_finding import solve_increasing

    roots = torch.linspace(-30.0, 30.0, 101, dtype=torch.float64)
    target = roots**3 + 0.01 * roots  # increasing; flat near 0 so Newton needs the bracket
    target[7] = float("nan")

    def fn(u):
        return u**3 + 0.01 * u, torch.log(3 * u**2 + 0.01)

    lo, hi = torch.full_like(target, -100.0), torch.full_like(target, 100.0)
    u = solve_increasing(fn, target, lo, hi, max_iter=200)
    ok = torch.arange(101) != 7
    assert torch.allclose(u[ok], roots[ok], atol=1e-9, rtol=0)
    assert torch.isnan(u[7])
