"""Naive per-DOM float64 reference of the per-DOM features (plain Python loops), and random
pulse generators for the feature tests."""

from __future__ import annotations

import math

import numpy as np


def reference_features(pulses, geometry, config: dict) -> tuple[np.ndarray, list, int]:
    """``(features float64 [n_doms, D], [(string, om)], n_excluded)`` straight from the
    definitions in resources/docs/features.md."""
    kept, n_excluded = [], 0
    for s, o, _pmt, t, q, _w in np.asarray(pulses, dtype=np.float64).tolist():
        ok = all(math.isfinite(v) for v in (s, o, t, q)) and q > 0
        if ok:
            kept.append((int(s), int(o), t, q))
        else:
            n_excluded += 1
    if config.get("pulse_modifier") and kept:
        shift = sum(q * t for *_, t, q in kept) / sum(q for *_, q in kept)
        kept = [(s, o, t - shift, q) for s, o, t, q in kept]
    doms: dict = {}
    for s, o, t, q in kept:
        doms.setdefault((s, o), []).append((t, q))
    keys = sorted(doms)
    rows = []
    for key in keys:
        pulses_ = sorted(doms[key])
        times = [t for t, _ in pulses_]
        charges = [q for _, q in pulses_]
        total = sum(charges)
        t_first, t_last = min(times), max(times)
        mean = sum(q * t for t, q in pulses_) / total
        row = list(geometry.positions(np.array([key[0]]), np.array([key[1]]))[0])
        for entry in config["feature_config"]["features"]:
            cls, kw = entry["class"], entry.get("kwargs") or {}
            if cls == "TotalCharge":
                row.append(math.log1p(total))
            elif cls == "ChargeUntilT":
                for T in kw.get("times", [10, 50, 100]):
                    row.append(math.log1p(sum(q for t, q in pulses_ if t <= t_first + T)))
            elif cls == "TSpread":
                row.append(t_last - t_first)
            elif cls == "ChargeWeightedStd":
                row.append(math.sqrt(sum(q * (t - mean) ** 2 for t, q in pulses_) / total))
            elif cls == "ChargeWeightedMean":
                row.append(mean)
            elif cls == "TFirstPulse":
                row.append(t_first)
            elif cls == "TLastPulse":
                row.append(t_last)
            elif cls == "TimeAtChargePercentile":
                for p in kw.get("percentiles", [0.5]):
                    cum = 0.0
                    for t, q in pulses_:
                        cum += q
                        if cum / total >= p:
                            row.append(t)
                            break
            else:
                raise AssertionError(cls)
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(len(rows), -1), keys, n_excluded


def random_event(rng: np.random.Generator, geometry, n_doms: int, max_pulses: int = 8):
    """Pulses ``[N, 6]`` in I3 order on ``n_doms`` random DOMs: 1-pulse DOMs, multi-pulse
    DOMs, several PMTs, and time ties (times on a 1 ns grid)."""
    rows = rng.choice(len(geometry), size=n_doms, replace=False)
    out = []
    for r in rows:
        n = int(rng.integers(1, max_pulses + 1)) if rng.uniform() < 0.6 else 1
        t = 9000.0 + rng.integers(0, 60, n) * (1.0 if rng.uniform() < 0.5 else 7.3)
        q = rng.lognormal(0.0, 1.0, n)
        pmt = rng.integers(0, 3, n) if rng.uniform() < 0.2 else np.zeros(n)
        out.append(
            np.column_stack(
                [
                    np.full(n, geometry.string[r]),
                    np.full(n, geometry.om[r]),
                    pmt,
                    t,
                    q,
                    np.full(n, 3.0),
                ]
            )
        )
    p = np.concatenate(out)
    return p[np.lexsort((p[:, 3], p[:, 2], p[:, 1], p[:, 0]))]


FULL_CONFIG = {
    "pulse_key": "SplitInIcePulses",
    "pulse_modifier": {"class": "ChargeWeightedMeanTimePulseModifier", "kwargs": {}},
    "feature_config": {
        "features": [
            {"class": "TotalCharge"},
            {"class": "ChargeUntilT", "kwargs": {"times": [0, 10, 37.5, 100]}},
            {"class": "TSpread"},
            {"class": "ChargeWeightedStd"},
            {"class": "ChargeWeightedMean"},
            {"class": "TFirstPulse"},
            {"class": "TLastPulse"},
            {"class": "TimeAtChargePercentile", "kwargs": {"percentiles": [0.1, 0.5, 0.9, 1.0]}},
        ]
    },
}
