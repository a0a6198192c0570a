"""Initialisation from labels (original init_params semantics) and the default configuration."""

from __future__ import annotations

import inspect
import logging
import pathlib

import pytest
import torch
import yaml
from _flow_helpers import encodings, vertex_labels
from llp_gap_reco.flow import ConditionalFlow

pytestmark = pytest.mark.usefixtures("single_thread")

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_default_yaml_equals_python_defaults():
    from_file = yaml.safe_load((ROOT / "configs" / "flow_default.yaml").read_text())
    signature = inspect.signature(ConditionalFlow.__init__).parameters
    defaults = {k: p.default for k, p in signature.items() if k != "self"}
    defaults["mlp_hidden_dims"] = list(defaults["mlp_hidden_dims"])
    assert from_file == defaults
    flow = ConditionalFlow(**from_file)
    assert flow.n_params == 807 and flow.config["dtype"] == "float64"


def test_t_only_initialisation_reproduces_label_mean_and_covariance():
    labels = vertex_labels(1000, seed=0)
    flow = ConditionalFlow("t", conditional_input_dim=4)
    flow.init_from_labels(labels, seed=0)
    with torch.no_grad():
        layers = flow.layer_parameters(flow.flow_parameters(torch.zeros(1, 4, dtype=torch.float64)))
    offset, t = layers[0]
    scale = flow.label_scale
    mean = flow.label_offset + scale * offset[0]
    cov = scale[:, None] * (t.scale_tril[0] @ t.scale_tril[0].T) * scale[None, :]
    sigma = labels.std(0)
    reference_cov = torch.cov(labels.T, correction=0)
    assert float(((mean - labels.mean(0)) / sigma).abs().max()) < 1e-3
    assert float(((cov - reference_cov) / (sigma[:, None] * sigma[None, :])).abs().max()) < 1e-3


def test_initialised_density_is_shared_by_all_events_and_centred_on_labels():
    labels = vertex_labels(1000, seed=0)
    flow = ConditionalFlow("gggggt", conditional_input_dim=16)
    flow.init_from_labels(labels, seed=0)
    enc = 3.0 * encodings(64)
    x = vertex_labels(64, seed=4)
    with torch.no_grad():
        per_event = flow.log_prob(x[:1].expand(64, -1), enc)
    # damped weights: every event sees (almost) the same density at start
    assert float(per_event.std()) < 1e-2
    # the original procedure starts broad (logistic kernel tails): centred, wider than the labels
    summary = flow.summarize(enc[:2], n_samples=2048)
    label_sigma = labels.std(0)
    assert float(((summary.mean[0].double() - labels.mean(0)) / label_sigma).abs().max()) < 0.35
    ratio = summary.sigma[0].double() / label_sigma
    assert bool(((ratio > 0.8) & (ratio < 3.0)).all())


def test_initialisation_is_deterministic_given_seed():
    labels = vertex_labels(500, seed=0)
    a, b = (ConditionalFlow("ggt", conditional_input_dim=4) for _ in range(2))
    a.init_from_labels(labels, seed=3)
    b.init_from_labels(labels, seed=3)
    assert torch.equal(a.mlp_predictors[0][-1].bias, b.mlp_predictors[0][-1].bias)


def test_original_convention_in_metres_saturates_t_bound_with_a_warning(caplog):
    """Unstandardised labels (sigma ~ 300 m > t_width_max = 100): fitted within the bound."""
    labels = vertex_labels(1000, seed=0)
    flow = ConditionalFlow("gggggt", conditional_input_dim=8, label_standardization=False)
    with caplog.at_level(logging.WARNING, logger="llp_gap_reco.model.flow.init"):
        flow.init_from_labels(labels, seed=0)
    assert "width bounds" in caplog.text
    held_out = vertex_labels(500, seed=1)
    log_p = flow.log_prob(held_out, torch.zeros(500, 8, dtype=torch.float64))
    assert torch.isfinite(log_p).all()
    log_p.mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in flow.parameters())


def test_bad_labels_raise():
    flow = ConditionalFlow("gt", conditional_input_dim=4)
    bad = vertex_labels(10)
    bad[3, 2] = float("nan")
    for labels, match in ((bad, "non-finite"), (torch.zeros(10, 5), "shape")):
        try:
            flow.init_from_labels(labels)
        except ValueError as err:
            assert match in str(err)
        else:
            raise AssertionError("expected ValueError")
