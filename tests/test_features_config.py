"""Feature configuration: the YAML default mirrors the Python default, round trips, errors."""

from __future__ import annotations

import copy
import pathlib

import numpy as np
import pytest
import yaml
from llp_gap_reco.features import DEFAULT_CONFIG, FeatureExtractor
from llp_gap_reco.geometry import Geometry
from llp_gap_reco.simulation import simulate

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_default_yaml_equals_python_default():
    from_file = FeatureExtractor(ROOT / "configs" / "features_default.yaml")
    assert from_file.config == FeatureExtractor().config == DEFAULT_CONFIG
    assert from_file.names == FeatureExtractor().names


def test_config_round_trips_through_yaml(tmp_path):
    cfg = {
        "pulse_key": "InIcePulses",
        "pulse_modifier": None,
        "feature_config": {
            "features": [
                {"class": "TotalCharge"},
                {"class": "TimeAtChargePercentile", "kwargs": {"percentiles": [0.2, 0.8]}},
                {"class": "TLastPulse"},
            ]
        },
    }
    ex = FeatureExtractor(cfg)
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(ex.config))
    again = FeatureExtractor(path)
    assert again.config == ex.config and again.names == ex.names
    assert again.pulse_key == "InIcePulses" and again.dim == 7
    assert again.feature_indices["abs_times"] == [4, 5, 6]


def test_modifier_shifts_times_by_the_event_mean():
    geometry = Geometry.icecube86_like()
    pulses = next(iter(simulate(1, seed=4, geometry=geometry))).pulses
    off = copy.deepcopy(DEFAULT_CONFIG)
    off["pulse_modifier"] = None
    with_mod = FeatureExtractor().event_features(pulses, geometry)
    without = FeatureExtractor(off).event_features(pulses, geometry)
    mean = (pulses[:, 4] * pulses[:, 3]).sum() / pulses[:, 4].sum()
    t_cols = FeatureExtractor().feature_indices["abs_times"]
    np.testing.assert_allclose(without[:, t_cols] - with_mod[:, t_cols], mean, rtol=1e-6)
    other = [i for i in range(11) if i not in t_cols]
    np.testing.assert_allclose(without[:, other], with_mod[:, other], rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["feature_config"]["features"].append({"class": "Nope"}), "'Nope'"),
        (lambda c: c["feature_config"]["features"][1]["kwargs"].update(times=[-1]), "ChargeUntilT"),
        (lambda c: c["feature_config"]["features"][0]["kwargs"].update(bad=1), r"features\[0\]"),
        (lambda c: c.update(pulse_modifier={"class": "Other"}), "pulse_modifier"),
        (lambda c: c.update(extra=1), "unknown top-level"),
        (lambda c: c["feature_config"].update(features=[]), "non-empty"),
    ],
)
def test_bad_config_names_the_problem(change, message):
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    change(cfg)
    with pytest.raises(ValueError, match=message):
        FeatureExtractor(cfg)


def test_bad_percentile_and_missing_file(tmp_path):
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    cfg["feature_config"]["features"].append(
        {"class": "TimeAtChargePercentile", "kwargs": {"percentiles": [50]}}
    )
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        FeatureExtractor(cfg)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        FeatureExtractor(tmp_path / "nope.yaml")


def test_features_cli_prints_columns_and_statistics(capsys, tmp_path):
    from llp_gap_reco.cli.main import main

    cfg = copy.deepcopy(DEFAULT_CONFIG)
    cfg["feature_config"]["features"].append({"class": "TLastPulse"})
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["features", "--config", str(path), "--events", "20"]) == 0
    out = capsys.readouterr().out
    assert "columns     12" in out and "status {'OK': 20}" in out
    lines = [ln.split() for ln in out.splitlines() if ln[:3].strip().isdigit()]
    assert [ln[1] for ln in lines] == FeatureExtractor(cfg).names
    # the printed median of TotalCharge is that of the extractor on the same events
    geometry = Geometry.icecube86_like()
    rows = np.concatenate(
        [FeatureExtractor(cfg).event_features(e.pulses, geometry) for e in simulate(20, seed=0)]
    )
    assert float(lines[3][6]) == pytest.approx(np.median(rows[:, 3]), rel=1e-3)


def test_convention_and_dom_exclusions_keys():
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    cfg["convention"] = "original"
    cfg["dom_exclusions"] = {"exclusions": ["BadDomsList"], "partial_exclusion": True}
    fx = FeatureExtractor(cfg)
    assert fx.convention == "original" and fx.config["dom_exclusions"] == cfg["dom_exclusions"]
    assert FeatureExtractor(fx.config).config == fx.config
    # without the key, the original converter's exclusions (whole DOMs)
    assert FeatureExtractor().config["dom_exclusions"] == {
        "exclusions": ["SaturationWindows", "BadDomsList", "CalibrationErrata"],
        "partial_exclusion": False,
    }
    for bad, message in (
        ({"convention": "orig"}, "convention must be one of"),
        ({"dom_exclusions": {"exclusions": [1]}}, "list of frame"),
        ({"dom_exclusions": {"windows": []}}, r"unknown key\(s\) \['windows'\]"),
        ({"dom_exclusions": {"partial_exclusion": "no"}}, "true or false"),
    ):
        with pytest.raises(ValueError, match=message):
            FeatureExtractor(dict(copy.deepcopy(DEFAULT_CONFIG), **bad))
    no_total = copy.deepcopy(DEFAULT_CONFIG)
    no_total["convention"] = "original"
    no_total["feature_config"]["features"] = no_total["feature_config"]["features"][1:]
    with pytest.raises(ValueError, match="exactly one TotalCharge"):
        FeatureExtractor(no_total)


def test_original_pulse_key_placeholder_becomes_the_default(caplog):
    cfg = dict(copy.deepcopy(DEFAULT_CONFIG), pulse_key="PULSEKEY_PLACEHOLDER")
    assert FeatureExtractor(cfg).pulse_key == DEFAULT_CONFIG["pulse_key"]
    assert "placeholder" in caplog.text
