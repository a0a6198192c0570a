"""DOM exclusions (whole DOM and partial, time windows) against a naive per-pulse reference."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from llp_gap_reco.data.features.exclusions import (
    Exclusions,
    apply_exclusions,
    excluded_pulses,
    normalise_dom_exclusions,
)
from llp_gap_reco.features import DEFAULT_CONFIG, FeatureExtractor
from llp_gap_reco.geometry import Geometry
from llp_gap_reco.simulation import simulate


def naive_excluded(pulses, bad_doms, windows, partial):
    """Per-pulse loop: ``bad_doms`` set of (s, o, p); ``windows`` list of (s, o, p, start, stop)."""
    out = []
    for s, o, p, t, _, _ in pulses:
        key = (int(s), int(o), int(p))
        drop = key in bad_doms
        for ws, wo, wp, a, b in windows:
            if (int(ws), int(wo), int(wp)) == key and (not partial or a <= t <= b):
                drop = True
        out.append(drop)
    return np.array(out, dtype=bool)


def random_case(seed):
    rng = np.random.default_rng(seed)
    ev = next(iter(simulate(1, seed=seed)))
    pulses = ev.pulses.copy()
    # a few pulses on a second PMT of some modules (multi-PMT keys)
    extra = pulses[rng.choice(len(pulses), 5)].copy()
    extra[:, 2] = rng.integers(1, 4, 5)
    pulses = np.concatenate([pulses, extra])
    keys = np.unique(pulses[:, :3], axis=0)
    bad = keys[rng.choice(len(keys), min(4, len(keys)), replace=False)]
    bad = np.concatenate([bad, [[99, 1, 0]]])  # a bad DOM without hits
    wkeys = keys[rng.choice(len(keys), min(6, len(keys)), replace=False)]
    tmin, tmax = pulses[:, 3].min(), pulses[:, 3].max()
    starts = rng.uniform(tmin, tmax, len(wkeys))
    windows = np.column_stack([wkeys, starts, starts + rng.uniform(0, 300, len(wkeys))])
    # a DOM with two windows and an infinite one
    windows = np.concatenate(
        [windows, [[*wkeys[0], tmin - 1, tmin + 5], [*wkeys[1], -np.inf, np.inf]]]
    )
    return pulses, bad, windows


@pytest.mark.parametrize("partial", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mask_equals_naive_reference(seed, partial):
    pulses, bad, windows = random_case(seed)
    excl = Exclusions.combine([("doms", bad.astype(np.int64)), ("windows", windows)])
    got = excluded_pulses(pulses, excl, partial)
    want = naive_excluded(
        pulses, {tuple(map(int, k)) for k in bad}, [tuple(w) for w in windows], partial
    )
    np.testing.assert_array_equal(got, want)
    assert want.any() and not want.all()
    kept, n_removed = apply_exclusions(pulses, excl, partial)
    np.testing.assert_array_equal(kept, pulses[~want])
    before = {(int(s), int(o)) for s, o in pulses[:, :2]}
    after = {(int(s), int(o)) for s, o in pulses[~want, :2]}
    assert n_removed == len(before - after)


def test_partial_keeps_pulses_outside_windows_and_features_follow():
    geo = Geometry.icecube86_like()
    ev = next(iter(simulate(1, seed=7, geometry=geo)))
    p = ev.pulses
    s, o = int(p[0, 0]), int(p[0, 1])
    on_dom = (p[:, 0] == s) & (p[:, 1] == o)
    t0 = p[on_dom, 3].min()
    windows = np.array([[s, o, 0, t0 - 1.0, t0 + 1.0]])
    excl = Exclusions.combine([("windows", windows)])
    partial = excluded_pulses(p, excl, True)
    whole = excluded_pulses(p, excl, False)
    assert whole.sum() == on_dom.sum() and partial.sum() >= 1
    assert partial.sum() <= whole.sum() and not (partial & ~on_dom).any()
    ex = FeatureExtractor()
    full = ex.event_features(p, geo)
    assert ex.event_features(p[~whole], geo).shape[0] == full.shape[0] - 1


def test_nothing_to_exclude_is_free_and_nonfinite_keys_are_kept():
    pulses = np.array([[1, 1, 0, 10.0, 1.0, 5.0], [np.nan, 1, 0, 11.0, 1.0, 5.0]])
    assert not excluded_pulses(pulses, Exclusions(), False).any()
    excl = Exclusions.combine([("doms", np.array([[1, 1, 0]]))])
    np.testing.assert_array_equal(excluded_pulses(pulses, excl, False), [True, False])


def test_config_default_and_validation():
    assert FeatureExtractor().config["dom_exclusions"] == {
        "exclusions": ["SaturationWindows", "BadDomsList", "CalibrationErrata"],
        "partial_exclusion": False,
    }
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    cfg["dom_exclusions"] = {
        "exclusions": ["BadDomsList", "BadDomsListSLC"],
        "partial_exclusion": True,
    }
    assert FeatureExtractor(cfg).config["dom_exclusions"] == cfg["dom_exclusions"]
    old = copy.deepcopy(DEFAULT_CONFIG)
    del old["dom_exclusions"]  # configs written before exclusions existed
    assert FeatureExtractor(old).config == FeatureExtractor().config
    assert normalise_dom_exclusions(None, "x") == {"exclusions": [], "partial_exclusion": False}
    for bad in ({"exclusions": [1]}, {"partial_exclusion": "yes"}, {"exlusions": []}, []):
        cfg["dom_exclusions"] = bad
        with pytest.raises(ValueError, match="dom_exclusions"):
            FeatureExtractor(cfg)
