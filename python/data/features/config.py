"""Feature configuration: the YAML schema of IceCube's event-feature factory.

.. code-block:: yaml

    pulse_key: SplitInIcePulses
    convention: package            # or original (see .convention); omitted = package
    dom_exclusions:                # optional, kept as given (the original's structure)
      exclusions: [SaturationWindows, BadDomsList, CalibrationErrata]
      partial_exclusion: false
    pulse_modifier: {class: ChargeWeightedMeanTimePulseModifier, kwargs: {}}   # or null
    feature_config:
      features:
        - {class: TotalCharge, kwargs: {}}
        - {class: ChargeUntilT, kwargs: {times: [10, 50, 100]}}
        - {class: TSpread}                                    # kwargs optional
    dom_exclusions:                                           # see .exclusions
      exclusions: [SaturationWindows, BadDomsList, CalibrationErrata]
      partial_exclusion: false

The DOM position ``x, y, z`` always precedes the listed features. The original research code's
feature configs (``feature_configs.py``) load as they are; they do not name a convention, so one
of its models needs ``convention: original`` (``import-seed`` sets it).
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any, Mapping, Union

from ...core.errors import InputError
from ...core.yaml_file import read_yaml
from .convention import DEFAULT_CONVENTION, check_convention, check_features
from .definitions import FEATURE_CLASSES, Feature
from .exclusions import DEFAULT_DOM_EXCLUSIONS, normalise_dom_exclusions

#: the only pulse modifier: subtract the event's charge-weighted mean time from every pulse
CHARGE_WEIGHTED_MEAN_TIME_MODIFIER = "ChargeWeightedMeanTimePulseModifier"

DEFAULT_PULSE_KEY = "SplitInIcePulses"
#: the original ``feature_configs.py`` texts hold this; its converter substituted the pulse key
PULSE_KEY_PLACEHOLDER = "PULSEKEY_PLACEHOLDER"

logger = logging.getLogger(__name__)

#: the package default (``configs/features_default.yaml`` mirrors it): 11 columns
DEFAULT_CONFIG: dict[str, Any] = {
    "pulse_key": DEFAULT_PULSE_KEY,
    "convention": DEFAULT_CONVENTION,
    "pulse_modifier": {"class": CHARGE_WEIGHTED_MEAN_TIME_MODIFIER, "kwargs": {}},
    "feature_config": {
        "features": [
            {"class": "TotalCharge", "kwargs": {}},
            {"class": "ChargeUntilT", "kwargs": {"times": [10, 50, 100]}},
            {"class": "TSpread", "kwargs": {}},
            {"class": "ChargeWeightedStd", "kwargs": {}},
            {"class": "ChargeWeightedMean", "kwargs": {}},
            {"class": "TFirstPulse", "kwargs": {}},
        ]
    },
    "dom_exclusions": copy.deepcopy(DEFAULT_DOM_EXCLUSIONS),
}

ConfigLike = Union[None, Mapping[str, Any], str, "os.PathLike[str]"]


def load_config(config: ConfigLike) -> tuple[dict[str, Any], list[Feature], bool]:
    """Validate a config (``None`` = default, a dict, or a YAML path).

    Returns ``(normalised plain dict, feature instances, modifier on?)``; raises ``InputError``
    naming the source and the offending entry.
    """
    if config is None:
        raw, source = copy.deepcopy(DEFAULT_CONFIG), "the default config"
    elif isinstance(config, Mapping):
        raw, source = copy.deepcopy(dict(config)), "the config dict"
    else:
        source = os.fspath(config)
        raw = read_yaml(source, "feature config")
        if not isinstance(raw, dict):
            raise InputError(f"feature config {source!r}: top level must be a mapping")
    unknown = set(raw) - {
        "pulse_key",
        "convention",
        "dom_exclusions",
        "pulse_modifier",
        "feature_config",
    }
    if unknown:
        raise InputError(f"{source}: unknown top-level key(s) {sorted(unknown)}")

    pulse_key = raw.get("pulse_key", DEFAULT_PULSE_KEY)
    if pulse_key == PULSE_KEY_PLACEHOLDER:
        logger.warning(
            "%s: pulse_key is the original converter's placeholder %r; using %r "
            "(set pulse_key to the pulse series to read)",
            source,
            pulse_key,
            DEFAULT_PULSE_KEY,
        )
        pulse_key = DEFAULT_PULSE_KEY
    if not isinstance(pulse_key, str) or not pulse_key:
        raise InputError(f"{source}: pulse_key must be a non-empty string, got {pulse_key!r}")

    convention = check_convention(raw.get("convention"), source)

    modifier = raw.get("pulse_modifier")
    if modifier is not None:
        cls = modifier.get("class") if isinstance(modifier, dict) else None
        if cls != CHARGE_WEIGHTED_MEAN_TIME_MODIFIER or (modifier.get("kwargs") or {}):
            raise InputError(
                f"{source}: pulse_modifier must be null or "
                f"{{class: {CHARGE_WEIGHTED_MEAN_TIME_MODIFIER}, kwargs: {{}}}}, got {modifier!r}"
            )
        modifier = {"class": CHARGE_WEIGHTED_MEAN_TIME_MODIFIER, "kwargs": {}}

    fc = raw.get("feature_config")
    entries = fc.get("features") if isinstance(fc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{source}: feature_config.features must be a non-empty list")
    features: list[Feature] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "class" not in entry:
            raise InputError(f"{source}: feature_config.features[{i}] needs a 'class': {entry!r}")
        name = entry["class"]
        if name not in FEATURE_CLASSES:
            raise InputError(
                f"{source}: feature_config.features[{i}]: unknown class {name!r}; "
                f"known: {sorted(FEATURE_CLASSES)}"
            )
        kwargs = entry.get("kwargs") or {}
        try:
            features.append(FEATURE_CLASSES[name](**kwargs))
        except TypeError as e:
            raise InputError(f"{source}: feature_config.features[{i}] ({name}): {e}") from None
        except ValueError as e:
            raise InputError(f"{source}: feature_config.features[{i}]: {e}") from None

    check_features(features, convention, source)
    normalised: dict[str, Any] = {
        "pulse_key": pulse_key,
        "convention": convention,
        "pulse_modifier": modifier,
        "feature_config": {
            "features": [{"class": type(f).__name__, "kwargs": f.kwargs} for f in features]
        },
        # absent (configs written before exclusions existed): the original converter's
        "dom_exclusions": normalise_dom_exclusions(
            raw.get("dom_exclusions", DEFAULT_DOM_EXCLUSIONS), source
        ),
    }
    return normalised, features, modifier is not None
