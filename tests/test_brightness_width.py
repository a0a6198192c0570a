"""The brightness term of the event width: its direction against a numpy least-squares
reference, ``g`` against ``numpy.interp``, the flow's widths with it against a per-event
reference, the rank table's refreshed widths against a table built afresh, and a fit that
restores the coverage of every hit-DOM quintile."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _flow_helpers import encodings, initialised_flow
from llp_gap_reco.evaluation.brightness_width_fit import (
    RIDGE,
    brightness_direction,
    fit_brightness_width,
)
from llp_gap_reco.evaluation.conditional import bin_index, quantile_edges
from llp_gap_reco.evaluation.truth_ranks import RankTable, hdr_ranks
from llp_gap_reco.flow import ConditionalFlow
from llp_gap_reco.model.flow.brightness_width import BrightnessWidth

pytestmark = pytest.mark.usefixtures("single_thread")


def _n_doms(enc: torch.Tensor) -> torch.Tensor:
    """Hit-DOM counts that follow encoding channel 0: ``round(exp(3.5 + 0.5 e_0))``."""
    return torch.round(torch.exp(3.5 + 0.5 * enc[:, 0])).clamp_min(1).to(torch.int64)


def test_direction_matches_numpy_ridge_least_squares():
    enc = encodings(400, seed=3) * torch.linspace(0.5, 3.0, 16, dtype=torch.float64) + 2.0
    n = _n_doms(enc)
    c, r2 = brightness_direction(enc, n)
    e, y = enc.numpy(), np.log(n.numpy().astype(np.float64))
    y = (y - y.mean()) / y.std(ddof=1)
    mean, std = e.mean(0), e.std(0, ddof=1)
    a = np.column_stack([np.ones(len(y)), (e - mean) / std])
    pen = np.diag([0.0] + [RIDGE * len(y)] * e.shape[1])
    coef = np.linalg.solve(a.T @ a + pen, a.T @ y)
    ref = np.concatenate([[coef[0] - (coef[1:] / std * mean).sum()], coef[1:] / std])
    np.testing.assert_allclose(c.numpy(), ref, rtol=1e-9, atol=1e-12)
    pred = c[0] + enc @ c[1:]
    np.testing.assert_allclose(pred.numpy(), a @ coef, rtol=1e-9, atol=1e-9)
    assert 0.95 < r2 <= 1.0  # log n_doms is channel 0 up to rounding


def test_term_interpolates_and_scales_each_events_width():
    """``g`` equals ``numpy.interp`` of ``s`` (1e-12); the flow's width is ``exp(bias + w . e +
    g)``; the config round trip keeps it."""
    term = BrightnessWidth([0.2, 1.0] + [0.0] * 15, [-1.0, 0.0, 1.5], [0.3, -0.1, 0.2])
    enc = encodings(300, seed=2) * 2.0
    s = 0.2 + enc[:, 0].numpy()
    np.testing.assert_allclose(term(enc).numpy(), np.interp(s, [-1.0, 0.0, 1.5], [0.3, -0.1, 0.2]),
                               rtol=0, atol=1e-12)  # fmt: skip
    flow = initialised_flow("gt", seed=1).eval()
    w = [0.05] + [0.0] * 16
    w[2] = 0.3
    flow.set_temperature_weights(w)
    flow.brightness_width = term
    ref = np.exp(0.05 + 0.3 * enc[:, 1].numpy() + np.interp(s, [-1.0, 0.0, 1.5], [0.3, -0.1, 0.2]))
    np.testing.assert_allclose(flow.event_factor(enc).numpy(), ref, rtol=1e-12)
    again = ConditionalFlow(**flow.config)
    np.testing.assert_allclose(again.event_factor(enc).numpy(), ref, rtol=1e-12)
    with pytest.raises(ValueError, match="increasing"):
        BrightnessWidth([0.0, 1.0], [1.0, 0.0], [0.0, 0.0])


def test_no_term_when_the_encoding_says_nothing_of_the_dom_count():
    """Encodings that are all the same give one value of ``s``: no term, the flow unchanged."""
    flow = initialised_flow("gt", seed=4).eval()
    enc = encodings(1, seed=5).expand(300, 16).clone()
    truth = flow.sample(enc, 1, generator=torch.Generator().manual_seed(6))[:, 0]
    table = RankTable(flow, enc, truth, 32, seed=7)
    n = torch.arange(300) % 50 + 10
    assert fit_brightness_width(flow, table, n, 1.0) is None
    assert flow.brightness_width is None and flow.temperature_weights is None


def test_refreshed_table_equals_a_new_one():
    flow = initialised_flow("gt", seed=4).eval()
    enc = encodings(60, seed=5)
    truth = flow.sample(enc, 1, generator=torch.Generator().manual_seed(6))[:, 0]
    table = RankTable(flow, enc, truth, 64, seed=7)
    w = [0.1] + [0.0] * 16
    w[3] = -0.4
    flow.set_temperature_weights(w)
    table.refresh_event_factor()
    got = table(1.2)
    ref = hdr_ranks(flow, enc, truth, 64, temperatures=[1.2], seed=7)[0]
    np.testing.assert_array_equal(got, ref)
    assert np.abs(got - RankTable(flow, enc, truth, 64, seed=8)(1.0)).max() > 0  # widths matter


@pytest.mark.slow
def test_fit_restores_the_coverage_of_dim_events():
    """Truths drawn with ``T_i = exp(-0.25 s_i)``, ``s_i`` the standardised log hit-DOM count,
    from a flow with one width: the outer hit-DOM quintiles are off by more than 8 points at
    68%; the fitted ``g`` has slope -0.25 +- 0.1 in ``s`` and brings every quintile within 5
    points of the overall coverage on fresh samples (binomial error 2.1 points at 500 events)."""
    flow = initialised_flow("gt", seed=3).eval()
    enc = encodings(2500, seed=4)
    n = _n_doms(enc)
    s = torch.log(n.double())
    s = (s - s.mean()) / s.std()
    with torch.no_grad():
        z = torch.randn(2500, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
        truth, _ = flow.sample_base(z[:, None] * torch.exp(-0.25 * s)[:, None, None], enc)
        truth = truth[:, 0]
    table = RankTable(flow, enc, truth, 128, seed=6)
    k = bin_index(n.double().numpy(), quantile_edges(n.double().numpy()))

    def spread(rank: np.ndarray) -> float:
        per = np.array([np.mean(rank[k == i] <= 0.68) for i in range(k.max() + 1)])
        return float(np.abs(per - np.mean(rank <= 0.68)).max())

    assert spread(table(1.0)) > 0.08
    fit = fit_brightness_width(flow, table, n, 1.0)
    assert flow.brightness_width is fit.term and flow.temperature_weights is not None
    # g follows the true log-width -0.25 s up to a constant (the overall level): slope in s
    knots, g = fit.term.knots.numpy(), fit.term.values.numpy()
    assert np.polyfit(knots, g, 1)[0] == pytest.approx(-0.25, abs=0.1)
    fresh = hdr_ranks(flow, enc, truth, 128, temperatures=[1.0], seed=9)[0]
    assert spread(fresh) < 0.05
    assert np.mean(fresh <= 0.68) == pytest.approx(0.68, abs=0.03)
    assert np.array(fit.coverage_after).shape == (2, 5)
    # the ranks it hands on (to the level map) are those of the fitted widths
    np.testing.assert_array_equal(fit.rank, hdr_ranks(flow, enc, truth, 128, temperatures=[1.0],
                                                      seed=6)[0])  # fmt: skip
