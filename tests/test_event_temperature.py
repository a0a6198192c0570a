"""The event-dependent posterior width: densities against a per-event float64 reference, the
tabulated path against the exact one, a fit that recovers a known width dependence, and the
conditional coverage it restores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _flow_helpers import encodings, initialised_flow
from llp_gap_reco.evaluation.calibration import calibrate_flow
from llp_gap_reco.evaluation.conditional import bin_index, quantile_edges
from llp_gap_reco.evaluation.event_temperature import fit_event_temperature
from llp_gap_reco.evaluation.truth_ranks import hdr_ranks
from llp_gap_reco.flow import ConditionalFlow
from llp_gap_reco.model.flow.summary import prepare_tabulated, push_base_points

pytestmark = pytest.mark.usefixtures("single_thread")


def _weights(d: int, slope: float, channel: int = 0, bias: float = 0.0) -> list[float]:
    w = [0.0] * (d + 1)
    w[0], w[1 + channel] = bias, slope
    return w


def test_log_prob_uses_each_events_width():
    """Reference: the same flow without weights, evaluated one event at a time at that event's
    scalar base temperature (float64)."""
    flow = initialised_flow(seed=2).eval()
    enc = encodings(12)
    x = flow.sample(enc, 3, generator=torch.Generator().manual_seed(0))
    flow.base_temperature = 1.1
    flow.set_temperature_weights(_weights(16, 0.4, channel=3, bias=-0.1))
    with torch.no_grad():
        got = flow.log_prob(x, enc)
        t = 1.1 * torch.exp(-0.1 + 0.4 * enc[:, 3])
        plain = ConditionalFlow(**{**flow.config, "temperature_weights": None})
        plain.load_state_dict(flow.state_dict())
        for i in range(enc.shape[0]):
            plain.base_temperature = float(t[i])
            ref = plain.log_prob(x[i : i + 1], enc[i : i + 1])
            torch.testing.assert_close(got[i : i + 1], ref, rtol=1e-12, atol=1e-10)
        # samples carry their own density
        zs = torch.randn(12, 64, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        xs, lp = flow.sample_base(zs, enc)
        torch.testing.assert_close(flow.log_prob(xs, enc), lp, rtol=1e-7, atol=1e-6)
        # the tabulated fast path scales each event's points by its width: the same as the
        # flow without weights fed the pre-scaled points at unit width, density corrected
        y, lp_tab = push_base_points(flow, prepare_tabulated(flow, enc, torch.float64), zs,
                                     torch.float64)  # fmt: skip
        plain.base_temperature = 1.0
        scaled = zs * t[:, None, None]
        y_ref, lp_ref = push_base_points(plain, prepare_tabulated(plain, enc, torch.float64),
                                         scaled, torch.float64)  # fmt: skip
        torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-9)
        unit_to_t = (
            0.5 * (scaled**2).sum(-1) * (1 - 1 / t[:, None] ** 2) - 6 * torch.log(t)[:, None]
        )
        torch.testing.assert_close(lp_tab, lp_ref + unit_to_t, rtol=1e-12, atol=1e-9)
    # the weights travel with the config
    again = ConditionalFlow(**flow.config)
    assert again.temperature_weights is not None
    torch.testing.assert_close(again.temperature_weights, flow.temperature_weights)
    with pytest.raises(ValueError, match="temperature_weights"):
        flow.set_temperature_weights([0.0] * 5)


@pytest.mark.slow
def test_fit_recovers_a_width_that_follows_the_encoding():
    """Truths drawn with ``T_i = exp(0.35 e_i0)``: the fitted factor follows the true one, and
    the calibration brings every quintile of ``e_0`` to within 6 points of nominal at 68%
    (binomial error 2.3 points at 400 events), where one temperature leaves the outer
    quintiles off by more than 10."""
    flow = initialised_flow("gt", seed=3).eval()
    enc = encodings(2000, seed=4)
    true_w = _weights(16, 0.35)
    with torch.no_grad():
        flow.set_temperature_weights(true_w)
        truth = flow.sample(enc, 1, generator=torch.Generator().manual_seed(5))[:, 0]
        flow.set_temperature_weights(None)
    fit = fit_event_temperature(flow, enc, truth)
    fitted = torch.exp(fit.weights[0] + enc @ torch.tensor(fit.weights[1:], dtype=enc.dtype))
    true = torch.exp(0.35 * enc[:, 0])
    assert float(torch.corrcoef(torch.stack([fitted, true]))[0, 1]) > 0.95
    assert float((fitted / true).median()) == pytest.approx(1.0, abs=0.08)

    def quintile_coverage(ranks: np.ndarray) -> np.ndarray:
        k = bin_index(enc[:, 0].numpy(), quantile_edges(enc[:, 0].numpy()))
        return np.array([np.mean(ranks[k == i] <= 0.68) for i in range(5)])

    kw = dict(n_samples=128, seed=6, region_tilt=False)  # the event width, no gap-length tilt
    one = calibrate_flow(flow, enc, truth, event_temperature=False, **kw)
    assert one.event_temperature == {} and flow.temperature_weights is None
    before = quintile_coverage(hdr_ranks(flow, enc, truth, 128, seed=7)[0])
    cal = calibrate_flow(flow, enc, truth, event_temperature=True, **kw)
    assert flow.temperature_weights is not None and cal.event_temperature["n_events"] == 2000
    after = quintile_coverage(hdr_ranks(flow, enc, truth, 128, seed=7)[0])
    assert np.abs(before - 0.68).max() > 0.10, before
    assert np.abs(after - 0.68).max() < 0.06, after


def test_summary_widths_follow_the_event_factor():
    """The posterior summary (the module's and predict's path) samples each event at its width:
    the same encoding with a factor of 2 gives twice the spread of the base points."""
    from llp_gap_reco.model.flow.summary import summarize

    flow = initialised_flow("t", seed=5).eval()  # affine: the spread scales exactly with T
    enc = encodings(4, seed=6)
    base = summarize(flow, enc, n_samples=256, dtype=torch.float64)
    flow.set_temperature_weights([float(np.log(2.0))] + [0.0] * 16)
    wide = summarize(flow, enc, n_samples=256, dtype=torch.float64)
    ratio = wide.sigma / base.sigma
    torch.testing.assert_close(ratio, torch.full_like(ratio, 2.0), rtol=1e-6, atol=1e-6)
