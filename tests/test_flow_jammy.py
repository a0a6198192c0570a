"""The native flow against jammy_flows, both ways.

- Where jammy_flows is installed (marker ``jammy``; CI installs it): flows built and initialised
  by jammy_flows itself, several layer strings, float64: the native flow loaded with the same
  state dict gives the same log density within 1e-8.
- Everywhere: the same comparison against ``tests/data/jammy_reference.npz``, log densities that
  jammy_flows computed (``resources/jammy_reference/make_reference.py`` regenerates the file;
  a ``jammy`` test checks that jammy_flows still gives those values for the stored parameters).
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import torch
from _flow_helpers import encodings, vertex_labels
from llp_gap_reco.flow import ConditionalFlow

pytestmark = pytest.mark.usefixtures("single_thread")

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "jammy_reference.npz"
#: agreement of float64 log densities, native vs jammy_flows (nats)
TOLERANCE = 1e-8
LAYERS = ["gggggt", "ggt", "gt", "t"]


def _jammy(flow_defs: str, d: int):
    from llp_gap_reco.model.flow.jammy_backend import JammyFlow

    return JammyFlow(flow_defs, conditional_input_dim=d)


def _unit_labels(n: int, seed: int) -> torch.Tensor:
    labels = vertex_labels(n, seed)
    reference = vertex_labels(2000, 99)
    return (labels - reference.mean(0)) / reference.std(0)


def _reference() -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(REFERENCE) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(str(arrays.pop("meta"))), arrays


def _native_from_reference(meta: dict, arrays: dict, layers: str) -> ConditionalFlow:
    prefix = f"{layers}/state/"
    state = {
        k[len(prefix) :]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith(prefix)
    }
    return ConditionalFlow.from_original_state_dict(
        state, flow_defs=layers, mlp_hidden_dims=meta["mlp_hidden_dims"]
    )


def test_reference_file_covers_several_layer_strings():
    meta, arrays = _reference()
    assert set(meta["layers"]) >= {"gggggt", "t"} and len(meta["layers"]) >= 3
    assert arrays["x"].dtype == np.float64 and arrays["x"].shape[1] == 6
    for layers in meta["layers"]:
        lp = arrays[f"{layers}/log_prob"]
        assert lp.shape == (arrays["x"].shape[0],) and np.isfinite(lp).all()
        assert np.ptp(lp) > 1.0  # the points probe different densities, not one value


@pytest.mark.parametrize("layers", LAYERS)
def test_native_matches_committed_jammy_log_densities(layers):
    meta, arrays = _reference()
    native = _native_from_reference(meta, arrays, layers)
    with torch.no_grad():
        got = native.log_prob(torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["encoding"]))
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), arrays[f"{layers}/log_prob"], rtol=0, atol=TOLERANCE)


@pytest.mark.jammy
@pytest.mark.parametrize("flow_defs", LAYERS)
def test_same_state_dict_gives_same_log_density(flow_defs):
    d = 12
    jammy = _jammy(flow_defs, d)
    jammy.init_from_labels(_unit_labels(500, 0), seed=0)
    g = torch.Generator().manual_seed(1)
    state = {
        k: v + 0.05 * torch.randn(v.shape, generator=g, dtype=v.dtype)
        for k, v in jammy.state_dict().items()
    }
    jammy.load_state_dict(state)
    native = ConditionalFlow.from_original_state_dict(state, flow_defs=flow_defs)
    assert (
        native.flow_defs == flow_defs
        and native.n_params == state["mlp_predictors.0.2.bias"].shape[0]
    )
    enc = encodings(64, d)
    x = torch.cat([_unit_labels(48, 3), 4.0 * torch.randn(16, 6, generator=g, dtype=torch.float64)])
    with torch.no_grad():
        expected = jammy.log_prob(x, enc)
        got = native.log_prob(x, enc)
    assert expected.dtype == got.dtype == torch.float64
    assert torch.isfinite(expected).all()
    assert float((got - expected).abs().max()) <= TOLERANCE


@pytest.mark.jammy
@pytest.mark.parametrize("layers", LAYERS)
def test_committed_reference_is_what_jammy_flows_computes(layers):
    """jammy_flows, loaded with the committed state dict, gives the committed log densities."""
    from llp_gap_reco.model.flow.jammy_backend import JammyFlow

    meta, arrays = _reference()
    prefix = f"{layers}/state/"
    state = {
        k[len(prefix) :]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith(prefix)
    }
    jammy = JammyFlow(
        layers,
        conditional_input_dim=meta["conditional_input_dim"],
        mlp_hidden_dims=meta["mlp_hidden_dims"],
    )
    jammy.load_state_dict(state)
    with torch.no_grad():
        got = jammy.log_prob(torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["encoding"]))
    np.testing.assert_allclose(got.numpy(), arrays[f"{layers}/log_prob"], rtol=0, atol=TOLERANCE)


@pytest.mark.jammy
@pytest.mark.slow
def test_init_from_labels_is_as_good_as_init_params():
    train, held_out = _unit_labels(1000, 0), _unit_labels(2000, 1)
    d = 8
    enc = torch.zeros(held_out.shape[0], d, dtype=torch.float64)
    scores = []
    for seed in range(2):
        jammy = _jammy("gggggt", d)
        jammy.init_from_labels(train, seed=seed)
        native = ConditionalFlow("gggggt", conditional_input_dim=d, label_standardization=False)
        native.init_from_labels(train, seed=seed)
        with torch.no_grad():
            scores.append(
                (
                    float(native.log_prob(held_out, enc).mean()),
                    float(jammy.log_prob(held_out, enc).mean()),
                )
            )
    native_mean = sum(s[0] for s in scores) / len(scores)
    jammy_mean = sum(s[1] for s in scores) / len(scores)
    # held-out log-likelihood per event: ours is no worse than the original's initialisation
    assert all(torch.isfinite(torch.tensor(s)).all() for s in scores)
    assert native_mean > jammy_mean - 0.05, scores
