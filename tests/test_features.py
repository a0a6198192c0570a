"""Per-DOM features against a naive float64 reference, batched vs single-event paths,
permutation invariance, cleaning and per-event statuses."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from _features_reference import FULL_CONFIG, random_event, reference_features
from llp_gap_reco.core.status import Status
from llp_gap_reco.features import FeatureExtractor
from llp_gap_reco.geometry import Geometry, UnknownOMKeyError
from llp_gap_reco.simulation import simulate

# float32 output vs float64 reference: relative 1e-6, absolute 1e-6 x the column's scale
RTOL = 1e-6


@pytest.fixture(scope="module")
def geometry():
    return Geometry.icecube86_like()


def assert_matches_reference(extractor, pulses, geometry):
    ref, keys, n_excl = reference_features(pulses, geometry, extractor.config)
    ev = extractor.extract(pulses, geometry)
    assert ev.status == Status.OK
    assert ev.n_excluded == n_excl
    assert ev.features.dtype == np.float32 and ev.features.shape == (len(keys), extractor.dim)
    assert list(zip(ev.string.tolist(), ev.om.tolist())) == keys
    scale = np.abs(ref).max(axis=0) + 1.0
    np.testing.assert_allclose(ev.features, ref, rtol=RTOL, atol=1e-6 * scale.max())
    return ev


@pytest.mark.parametrize("config", ["default", "full", "full_no_modifier"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_events_match_reference(geometry, config, seed):
    cfg = None if config == "default" else copy.deepcopy(FULL_CONFIG)
    if config == "full_no_modifier":
        cfg["pulse_modifier"] = None
    extractor = FeatureExtractor(cfg)
    rng = np.random.default_rng(seed)
    for n_doms in (1, 2, 17, 60):
        assert_matches_reference(extractor, random_event(rng, geometry, n_doms), geometry)


def test_one_pulse_doms_and_ties(geometry):
    extractor = FeatureExtractor(FULL_CONFIG)
    rng = np.random.default_rng(7)
    one = random_event(rng, geometry, 30, max_pulses=1)
    ev = assert_matches_reference(extractor, one, geometry)
    i = extractor.names.index("TSpread")
    assert (ev.features[:, i] == 0).all()
    # every pulse of a DOM at the same time: all time widths zero, percentiles at that time
    tied = np.array([[5, 10, 0, 9000.0, q, 3.0] for q in (0.5, 2.0, 1.0, 0.25)])
    ev = assert_matches_reference(extractor, tied, geometry)
    assert ev.features[0, extractor.feature_indices["time_widths"]].tolist() == [0.0, 0.0]
    # equal charges: the cumulative fraction reaches 0.5 exactly at the second pulse
    equal = np.array([[5, 10, 0, 9000.0 + 10 * k, 1.0, 3.0] for k in range(4)])
    ev = assert_matches_reference(extractor, equal, geometry)
    cols = [extractor.names.index(f"TimeAtChargePercentile_{p:g}") for p in (0.1, 0.5, 0.9, 1)]
    t = ev.features[0, cols] - ev.features[0, extractor.names.index("TFirstPulse")]
    np.testing.assert_allclose(t, [0.0, 10.0, 30.0, 30.0], atol=1e-3)


def test_huge_event(geometry):
    extractor = FeatureExtractor(FULL_CONFIG)
    pulses = random_event(np.random.default_rng(3), geometry, 3000, max_pulses=20)
    assert pulses.shape[0] > 20_000
    assert_matches_reference(extractor, pulses, geometry)


def test_simulated_events_batch_equals_single_and_reference(geometry):
    extractor = FeatureExtractor(FULL_CONFIG)
    events = list(simulate(12, seed=11, geometry=geometry))
    pulses = np.concatenate([e.pulses for e in events])
    offsets = np.cumsum([0] + [e.pulses.shape[0] for e in events])
    batch = extractor.batch_features(pulses, offsets, geometry)
    assert batch.features.shape == (int(batch.seqlens.sum()), extractor.dim)
    assert (batch.status == Status.OK).all()
    for b, e in enumerate(events):
        single = extractor.event_features(e.pulses, geometry)
        np.testing.assert_array_equal(batch.event(b).features, single)
    for e in events[:4]:
        assert_matches_reference(extractor, e.pulses, geometry)


def test_permutation_of_pulses_does_not_change_results(geometry):
    extractor = FeatureExtractor(FULL_CONFIG)
    rng = np.random.default_rng(5)
    pulses = random_event(rng, geometry, 40)
    base = extractor.event_features(pulses, geometry)
    for _ in range(3):
        shuffled = pulses[rng.permutation(pulses.shape[0])]
        np.testing.assert_allclose(
            extractor.event_features(shuffled, geometry), base, rtol=1e-6, atol=1e-4
        )
    no_mod = copy.deepcopy(FULL_CONFIG)
    no_mod["pulse_modifier"] = None
    extractor = FeatureExtractor(no_mod)
    base = extractor.event_features(pulses, geometry)
    shuffled = pulses[rng.permutation(pulses.shape[0])]
    # without the event-level mean, the order of pulses cannot matter at all
    np.testing.assert_array_equal(extractor.event_features(shuffled, geometry), base)


def test_cleaning_removes_and_counts_bad_pulses(geometry):
    extractor = FeatureExtractor()
    rng = np.random.default_rng(9)
    clean = random_event(rng, geometry, 10)
    bad = clean[:5].copy()
    bad[0, 3] = np.nan
    bad[1, 4] = np.inf
    bad[2, 4] = 0.0
    bad[3, 4] = -1.0
    bad[4, 0] = np.nan
    dirty = np.concatenate([clean, bad])
    dirty = dirty[rng.permutation(dirty.shape[0])]
    ev = extractor.extract(dirty, geometry)
    assert ev.status == Status.OK and ev.n_excluded == 5
    np.testing.assert_allclose(
        ev.features, extractor.event_features(clean, geometry), rtol=1e-6, atol=1e-4
    )
    assert_matches_reference(extractor, dirty, geometry)


def test_bad_events_get_a_status(geometry):
    extractor = FeatureExtractor()
    good = random_event(np.random.default_rng(1), geometry, 5)
    all_bad = good.copy()
    all_bad[:, 4] = -1.0
    unknown = good.copy()
    unknown[0, :2] = (99, 3)

    for pulses, status in [
        (np.zeros((0, 6)), Status.NO_PULSES),
        (np.zeros(0), Status.NO_PULSES),
        (all_bad, Status.NO_DOMS_AFTER_CLEANING),
        (unknown, Status.UNKNOWN_OMKEY),
    ]:
        ev = extractor.extract(pulses, geometry)
        assert ev.status == status
        assert ev.features.shape == (0, extractor.dim)
    assert extractor.extract(all_bad, geometry).n_excluded == len(all_bad)
    assert extractor.event_features(np.zeros((0, 6)), geometry).shape == (0, extractor.dim)
    with pytest.raises(UnknownOMKeyError, match=r"\(99, 3\)"):
        extractor.event_features(unknown, geometry)
    with pytest.raises(ValueError, match="shape"):
        extractor.extract(good[:, :5], geometry)

    # in a batch, bad events do not disturb their neighbours
    events = [good, np.zeros((0, 6)), unknown, all_bad, good]
    pulses = np.concatenate(events)
    offsets = np.cumsum([0] + [len(e) for e in events])
    batch = extractor.batch_features(pulses, offsets, geometry)
    assert batch.status.tolist() == [
        Status.OK, Status.NO_PULSES, Status.UNKNOWN_OMKEY, Status.NO_DOMS_AFTER_CLEANING, Status.OK
    ]  # fmt: skip
    assert batch.seqlens.tolist()[1:4] == [0, 0, 0]
    assert batch.n_excluded.tolist() == [0, 0, 0, len(all_bad), 0]
    single = extractor.event_features(good, geometry)
    np.testing.assert_array_equal(batch.event(0).features, single)
    np.testing.assert_array_equal(batch.event(4).features, single)
    with pytest.raises(ValueError, match="event_offsets"):
        extractor.batch_features(pulses, offsets[:-1], geometry)


def test_default_columns_and_groups():
    extractor = FeatureExtractor()
    assert extractor.names == [
        "x", "y", "z", "TotalCharge", "ChargeUntilT_10", "ChargeUntilT_50", "ChargeUntilT_100",
        "TSpread", "ChargeWeightedStd", "ChargeWeightedMean", "TFirstPulse",
    ]  # fmt: skip
    assert extractor.dim == 11
    assert extractor.feature_indices == {
        "position": [0, 1, 2],
        "log_total_charge": [3],
        "log_charges": [4, 5, 6],
        "time_widths": [7, 8],
        "abs_times": [9, 10],
    }
    full = FeatureExtractor(FULL_CONFIG)
    assert full.feature_indices["abs_times"] == [10, 11, 12, 13, 14, 15, 16]
    assert full.names[-1] == "TimeAtChargePercentile_1"
