"""The level map: calibrated HDR levels from validation ranks, stored with the flow, used by its
summaries and by the evaluation's ranks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _flow_helpers import encodings, initialised_flow
from llp_gap_reco.evaluation.calibration import calibrate_flow
from llp_gap_reco.evaluation.truth_ranks import hdr_ranks
from llp_gap_reco.flow import ConditionalFlow, summarize
from llp_gap_reco.model.flow.level_map import LevelMap, calibrated_rank, hdr_levels
from llp_gap_reco.model.flow.summary import sobol_normal, tabulated_samples

pytestmark = pytest.mark.usefixtures("single_thread")
LEVELS = np.array([0.1, 0.3, 0.5, 0.68, 0.8, 0.9, 0.95])


def test_fitted_map_makes_new_ranks_uniform():
    """Ranks ``u^1.6`` (a posterior too wide: truths sit in its core): the map fitted on 4,000
    of them puts fresh ranks within 0.03 of every level (fit error ~0.008, binomial 0.004 at
    n = 20,000), where the raw ranks are 0.1 off at 68%."""
    rng = np.random.default_rng(0)
    level_map = LevelMap.fit(rng.uniform(size=4000) ** 1.6)
    fresh = rng.uniform(size=20000) ** 1.6
    raw = (fresh[:, None] <= LEVELS).mean(0)
    mapped = (level_map.calibrated_rank(fresh)[:, None] <= LEVELS).mean(0)
    assert np.abs(mapped - LEVELS).max() < 0.03
    assert abs(raw[3] - 0.68) > 0.09
    # the exact quantile function of u^1.6 is alpha^1.6
    np.testing.assert_allclose(level_map.raw_level(LEVELS), LEVELS**1.6, atol=0.02)


def test_map_and_inverse():
    level_map = LevelMap.fit(np.random.default_rng(1).beta(2.0, 1.0, size=3000))
    a = np.linspace(0.0, 1.0, 201)
    np.testing.assert_allclose(level_map.calibrated_rank(level_map.raw_level(a)), a, atol=1e-12)
    assert (np.diff(level_map.raw_level(a)) > 0).all()
    assert np.isnan(level_map.calibrated_rank(np.nan))
    # discrete ranks (k / S with ties) still give an invertible map with 0 and 1 fixed
    tied = LevelMap.fit(np.round(np.random.default_rng(2).uniform(size=500) * 8) / 8)
    assert tied.raw[0] == 0.0 and tied.raw[-1] == 1.0 and (np.diff(tied.raw) > 0).all()
    for bad in ([0.0, 0.5, 0.4, 1.0], [0.1, 1.0], [0.0, np.nan, 1.0], [0.0]):
        with pytest.raises(ValueError, match="level map"):
            LevelMap(bad)


def test_flow_keeps_its_map_and_its_summaries_use_it():
    """Thresholds of a flow with a map: the ``1 - g(alpha)`` quantiles of the same samples' log
    densities (a direct reference); without a map, the nominal ones; the map survives
    ``ConditionalFlow(**config)``."""
    flow = initialised_flow(seed=3).eval()
    enc = encodings(40, seed=4)
    plain = summarize(flow, enc, n_samples=256, seed=5)
    flow.level_map = LevelMap([0.0, 0.2, 0.4, 0.6, 1.0])
    mapped = summarize(flow, enc, n_samples=256, seed=5)
    rebuilt = ConditionalFlow(**flow.config)
    assert rebuilt.level_map is not None
    np.testing.assert_array_equal(rebuilt.level_map.raw, flow.level_map.raw)
    g68, g90 = hdr_levels(flow)
    assert g68 == pytest.approx(0.4 + 0.2 * (0.68 - 0.5) / 0.25)
    _, log_p = tabulated_samples(flow, enc, sobol_normal(256, 6, 5), torch.float32)
    for summary, (a68, a90) in ((plain, (0.68, 0.90)), (mapped, (g68, g90))):
        ref = torch.quantile(log_p.double(), torch.tensor([1 - a68, 1 - a90]).double(), dim=-1)
        torch.testing.assert_close(summary.logp_threshold_68.double(), ref[0], rtol=0, atol=1e-4)
        torch.testing.assert_close(summary.logp_threshold_90.double(), ref[1], rtol=0, atol=1e-4)
    # a smaller calibrated level: a higher density threshold (a smaller region)
    assert bool((mapped.logp_threshold_68 > plain.logp_threshold_68).all())
    np.testing.assert_allclose(calibrated_rank(rebuilt, [0.3, 0.8]), [0.375, 0.875], atol=1e-15)
    np.testing.assert_array_equal(calibrated_rank(initialised_flow(seed=3), [0.3]), [0.3])


@pytest.mark.slow
def test_calibration_with_a_map_holds_every_level_on_new_events():
    """Truths with heavier tails than the flow (base points Student-t, 3 degrees of freedom):
    one temperature leaves a level off on independent events; the level map fitted after it
    on 1,500 events holds 68% and 90% within 4 points (binomial error 1.2 points) there."""
    flow = initialised_flow("gt", seed=3).eval()
    enc = encodings(3000, seed=4)
    t = torch.distributions.StudentT(3.0)
    torch.manual_seed(6)
    z = t.sample((3000, 1, 6)).double() / np.sqrt(3.0)  # unit variance per coordinate
    with torch.no_grad():
        truth = flow.sample_base(z, enc)[0][:, 0]
    fit, test = slice(0, 1500), slice(1500, 3000)
    one_t = dict(event_temperature=False, region_tilt=False, seed=7)  # the level map alone
    calibrate_flow(flow, enc[fit], truth[fit], level_map=False, **one_t)
    raw = hdr_ranks(flow, enc[test], truth[test], 256, seed=8)[0]
    cal = calibrate_flow(flow, enc[fit], truth[fit], **one_t)
    assert cal.level_map and flow.level_map is not None
    np.testing.assert_allclose(cal.coverage_mapped, [0.68, 0.90], atol=0.01)  # in sample
    mapped = calibrated_rank(flow, hdr_ranks(flow, enc[test], truth[test], 256, seed=8)[0])
    off_raw = [abs((raw <= a).mean() - a) for a in (0.68, 0.90)]
    off_mapped = [abs((mapped <= a).mean() - a) for a in (0.68, 0.90)]
    assert max(off_mapped) < 0.04, off_mapped
    assert max(off_raw) > max(off_mapped) + 0.02, (off_raw, off_mapped)
