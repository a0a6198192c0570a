"""Flow transforms: inverse, analytic log-det, t == MVN, layout, original state-dict keys."""

from __future__ import annotations

import math

import pytest
import torch
from _flow_helpers import encodings, initialised_flow, vertex_labels
from llp_gap_reco.flow import ConditionalFlow

pytestmark = pytest.mark.usefixtures("single_thread")


def test_inverse_of_forward_is_identity_float64():
    flow = initialised_flow()
    enc = encodings(8)
    z = torch.randn(8, 32, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        x, log_p = flow.sample_base(z, enc)
        layers = flow.layer_parameters(flow.flow_parameters(enc))
        z_back, _ = flow.to_base(flow._standardize(x), layers)
        log_p_density = flow.log_prob(x, enc)
    assert torch.allclose(z_back, z, atol=1e-7, rtol=0)
    assert torch.allclose(log_p, log_p_density, atol=1e-7, rtol=0)


@pytest.mark.parametrize("flow_defs", ["gggggt", "ggt", "gg"])
def test_analytic_logdet_equals_autograd_jacobian(flow_defs):
    flow = initialised_flow(flow_defs, perturb=0.2)
    enc = encodings(5)
    x = torch.randn(5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x[4] = 9.0  # far in the tails: g0's Phi^-1 tail approximation is exercised
    for i in range(5):
        layers = flow.layer_parameters(flow.flow_parameters(enc[i : i + 1]))
        jac = torch.autograd.functional.jacobian(
            lambda v, layers=layers: flow.to_base(v[None], layers)[0][0], x[i]
        )
        analytic = flow.to_base(x[i : i + 1], layers)[1][0].detach()
        assert abs(float(analytic) - float(torch.linalg.slogdet(jac)[1])) < 1e-8


def _naive_scale_tril(raw: torch.Tensor, dim: int) -> torch.Tensor:
    """Reference: L from the t block as FLOW_FACTS describes it, with explicit loops."""
    scale = torch.zeros(dim, dim, dtype=torch.float64)
    for d in range(dim):
        scale[d, d] = 0.01 + 1.0 / (math.exp(-float(raw[d])) + 1.0 / 100.0)
    k = dim
    for offset in range(dim - 1, 0, -1):
        for i in range(dim - offset):
            scale[i + offset, i] = raw[k]
            k += 1
    return scale


def test_t_only_flow_equals_multivariate_normal():
    torch.manual_seed(0)
    flow = ConditionalFlow("t", conditional_input_dim=4, label_standardization=False)
    enc = encodings(6, 4)
    x = 3.0 * torch.randn(6, 6, dtype=torch.float64)
    with torch.no_grad():
        theta = flow.flow_parameters(enc)
        for i in range(6):
            mvn = torch.distributions.MultivariateNormal(
                theta[i, :6], scale_tril=_naive_scale_tril(theta[i, 6:], 6)
            )
            flow_lp = float(flow.log_prob(x[i : i + 1], enc[i : i + 1]))
            assert abs(flow_lp - float(mvn.log_prob(x[i]))) < 1e-10


def test_default_layout_and_original_state_dict_keys_load_strictly():
    flow = ConditionalFlow("gggggt", conditional_input_dim=100)
    assert flow.n_params == 5 * (36 + 60 + 60) + 27 == 807
    shapes = {
        "mlp_predictors.0.0.weight": (128, 100),
        "mlp_predictors.0.0.bias": (128,),
        "mlp_predictors.0.2.weight": (807, 128),
        "mlp_predictors.0.2.bias": (807,),
    }
    assert {k: tuple(v.shape) for k, v in flow.state_dict().items()} == shapes
    assert sum(p.numel() for p in flow.parameters()) == 117_031
    g = torch.Generator().manual_seed(0)
    original = {
        k: 0.01 * torch.randn(s, generator=g, dtype=torch.float64) for k, s in shapes.items()
    }
    loaded = ConditionalFlow.from_original_state_dict(original)
    assert loaded.label_standardization is False and loaded.conditional_input_dim == 100
    enc = encodings(3, 100)
    assert torch.isfinite(loaded.log_prob(torch.randn(3, 6, dtype=torch.float64), enc)).all()
    with pytest.raises(RuntimeError):
        ConditionalFlow.from_original_state_dict({**original, "extra": torch.zeros(1)})


def test_config_rebuilds_identical_flow_with_standardisation():
    flow = initialised_flow()
    assert set(flow.state_dict()) == {
        "mlp_predictors.0.0.weight",
        "mlp_predictors.0.0.bias",
        "mlp_predictors.0.2.weight",
        "mlp_predictors.0.2.bias",
    }
    labels = vertex_labels(1000)
    assert torch.allclose(flow.label_offset, labels.mean(0)) and torch.allclose(
        flow.label_scale, labels.std(0)
    )
    rebuilt = ConditionalFlow(**flow.config)
    rebuilt.load_state_dict(flow.state_dict(), strict=True)
    x, enc = vertex_labels(20, seed=5), encodings(20)
    assert torch.equal(rebuilt.log_prob(x, enc), flow.log_prob(x, enc))


def test_bad_shapes_raise_clear_errors():
    flow = ConditionalFlow("gt", conditional_input_dim=4)
    with pytest.raises(ValueError, match="encoding must have shape"):
        flow.log_prob(torch.zeros(2, 6), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="x must be"):
        flow.log_prob(torch.zeros(2, 5), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="flow_defs"):
        ConditionalFlow("gxt", conditional_input_dim=4)
