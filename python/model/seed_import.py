"""Build a model bundle from the original research code's artefacts.

Inputs, as that code wrote them:

* the model YAML: ``settings`` (the encoder's keyword arguments) and, for a model with a flow,
  ``flow: {flow_str: "gggggt"}``. A YAML without ``flow`` whose ``settings.output_dim`` is 6 is
  an encoder-only ("no CNF") model: its encoder output is the vertex estimate itself;
* the encoder state dict (``.pth``) and, for a flow model, the flow state dict
  (``flow_best.pth``: the amortisation MLP; its hidden widths are read from the tensors, so
  checkpoints of older jammy_flows with a 64-64 MLP load too);
* ``normalization_args.yaml`` (group -> ``{offset, scale}``) and ``feature_indices.yaml``;
* the feature config the data was converted with (a ``feature_configs.py`` entry as YAML text);
  default: the original ``llp_no_percentile`` features, which equal the package default set.

The bundle records the **original input convention** (see ``data.features.convention``): every
path that computes features for it from pulses gives ``log(1 + log(1 + Q))`` in the TotalCharge
column, exactly what the model was trained on. All state dicts load with ``strict=True``.

The original flow modelled labels in metres (``normalize_target=False``); with
``target_scaled=True`` it modelled labels multiplied by the ``position`` scale, which the bundle
records as a label standardisation ``x_std = x * scale`` (offset 0), so densities and point
estimates come out in metres either way.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Optional, Union

import torch

from ..core.errors import InputError
from ..core.version import __version__
from ..core.yaml_file import read_yaml
from ..data.features import FeatureExtractor
from ..data.features.convention import ORIGINAL, check_convention, same_layout
from ..data.parquet.folder import load_feature_indices
from ..data.parquet.format import feature_dim
from ..data.parquet.normalization import Normalization
from .bundle import Head, ModelBundle
from .encoder import LLPTransformerModel
from .flow import ConditionalFlow
from .point_head import PointHead

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
#: keys of the original model YAML's ``flow`` section this package maps (``flow_defs`` is the
#: package's own name for the layer string; ``type`` is jammy_flows' target space, only "e6")
FLOW_SECTION_KEYS = ("flow_str", "flow_defs", "type")
MODEL_YAML_KEYS = ("settings", "flow")
_MLP_KEY = re.compile(r"^mlp_predictors\.0\.(\d+)\.(weight|bias)$")

#: the original ``feature_configs["llp_no_percentile"]`` (the converter's pulse key placeholder
#: replaced by the package default), in the original convention
ORIGINAL_DEFAULT_FEATURES: dict[str, Any] = {
    "pulse_key": "SplitInIcePulses",
    "convention": ORIGINAL,
    "dom_exclusions": {
        "exclusions": ["SaturationWindows", "BadDomsList", "CalibrationErrata"],
        "partial_exclusion": False,
    },
    "pulse_modifier": {"class": "ChargeWeightedMeanTimePulseModifier", "kwargs": {}},
    "feature_config": {
        "features": [
            {"class": "TotalCharge", "kwargs": {}},
            {"class": "ChargeUntilT", "kwargs": {"times": [10, 50, 100]}},
            {"class": "TSpread"},
            {"class": "ChargeWeightedStd"},
            {"class": "ChargeWeightedMean"},
            {"class": "TFirstPulse", "kwargs": {}},
        ]
    },
}


def _state(path: PathLike, what: str) -> dict:
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise InputError(
            f"{path}: cannot read the {what} as a weights-only state dict ({err})"
        ) from err
    if not isinstance(sd, dict):
        raise InputError(f"{path}: the {what} is not a state dict")
    return sd


def read_model_yaml(path: PathLike) -> tuple[dict, Optional[str]]:
    """An original model YAML -> ``(encoder settings, flow layer string or None)``.

    ``None`` means the YAML has no ``flow`` section (an encoder-only model). Keys other than
    ``settings`` and ``flow`` (and, inside ``flow``, other than ``flow_str``) are refused with a
    message naming them.
    """
    cfg = read_yaml(path, "model YAML")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("settings"), dict):
        raise InputError(f"{path}: expected a 'settings' section (the encoder settings)")
    unknown = sorted(set(cfg) - set(MODEL_YAML_KEYS))
    if unknown:
        raise InputError(
            f"{path}: unknown top-level key(s) {unknown} in an original model "
            f"YAML; known: {list(MODEL_YAML_KEYS)}"
        )
    return dict(cfg["settings"]), flow_defs_from(cfg.get("flow"), path)


def flow_defs_from(section: Any, path: PathLike) -> Optional[str]:
    """The layer string of an original ``flow`` section (``flow_str``); None when absent."""
    if section is None:
        return None
    if not isinstance(section, dict):
        raise InputError(f"{path}: 'flow' must be a mapping like {{flow_str: gggggt}}")
    unknown = sorted(set(section) - set(FLOW_SECTION_KEYS))
    if unknown:
        raise InputError(
            f"{path}: unknown key(s) {unknown} in the 'flow' section; this package "
            f"maps {list(FLOW_SECTION_KEYS)} (flow_str: the layer string)"
        )
    if section.get("type", "e6") != "e6":
        raise InputError(
            f"{path}: flow.type={section['type']!r}; only 'e6' (the 6D vertex pair) is supported"
        )
    names = [k for k in ("flow_str", "flow_defs") if k in section]
    if len(names) != 1 or not isinstance(section[names[0]], str) or not section[names[0]]:
        raise InputError(
            f"{path}: the 'flow' section needs the layer string as flow_str, got {section!r}"
        )
    return section[names[0]]


def mlp_hidden_dims(state_dict: dict, path: PathLike = "<flow state>") -> list[int]:
    """Hidden widths of a flow's amortisation MLP from its state dict (``[128]`` for current
    jammy_flows, ``[64, 64]`` for checkpoints of its older default)."""
    layers: dict[int, dict[str, tuple]] = {}
    for key, value in state_dict.items():
        m = _MLP_KEY.match(key)
        if m is None:
            raise InputError(
                f"{path}: unexpected key {key!r} in a flow state dict "
                "(expected mlp_predictors.0.<i>.weight/bias only)"
            )
        layers.setdefault(int(m.group(1)), {})[m.group(2)] = tuple(value.shape)
    idx = sorted(layers)
    if (
        not idx
        or idx != list(range(0, 2 * len(idx), 2))
        or any(set(layers[i]) != {"weight", "bias"} for i in idx)
    ):
        raise InputError(
            f"{path}: the flow MLP's layers are not Linear layers at "
            f"mlp_predictors.0.0, .2, .4, ... (found indices {idx})"
        )
    return [int(layers[i]["weight"][0]) for i in idx[:-1]]


def _feature_extractor(
    feature_config: Union[None, PathLike, dict], convention: str
) -> FeatureExtractor:
    """The feature config given (or the original default) in ``convention``."""
    if feature_config is None:
        raw: Any = dict(ORIGINAL_DEFAULT_FEATURES)
    elif isinstance(feature_config, dict):
        raw = dict(feature_config)
    else:
        raw = read_yaml(feature_config, "feature config")
        if not isinstance(raw, dict):
            raise InputError(f"feature config {feature_config}: top level must be a mapping")
    named = raw.get("convention")
    if named is not None and named != convention:
        raise InputError(
            f"the feature config names convention {named!r} but the model is "
            f"imported in convention {convention!r}; drop one of them"
        )
    raw["convention"] = convention
    return FeatureExtractor(raw)


def _point_head(dim: int, target_scale: float) -> PointHead:
    """The identity head of an encoder-only model: its encoder output is the estimate."""
    head = PointHead(
        conditional_input_dim=dim,
        dim=dim,
        label_offset=[0.0] * dim,
        label_scale=[1.0 / target_scale] * dim,
    )
    with torch.no_grad():
        head.linear.weight.copy_(torch.eye(dim))
        head.linear.bias.zero_()
    return head


def import_seed(
    settings: PathLike,
    encoder_state: PathLike,
    flow_state: Optional[PathLike],
    normalization: PathLike,
    feature_indices: PathLike,
    feature_config: Union[None, PathLike, dict] = None,
    target_scaled: bool = False,
    convention: str = ORIGINAL,
) -> ModelBundle:
    """Original artefacts -> :class:`ModelBundle` (see module docstring).

    ``flow_state`` is None for an encoder-only model (no ``flow`` section, ``output_dim: 6``),
    which becomes a ``point`` bundle. ``convention``: the input convention the model was
    trained in (``original`` for the original converter's folders).
    """
    convention = check_convention(convention, "import-seed")
    enc_settings, flow_defs = read_model_yaml(settings)
    encoder = LLPTransformerModel(**enc_settings)
    try:
        encoder.load_state_dict(_state(encoder_state, "encoder state dict"), strict=True)
    except RuntimeError as err:
        raise InputError(
            f"{encoder_state}: does not match the settings of {settings}: {err}"
        ) from err

    fi = load_feature_indices(os.fspath(feature_indices))
    if feature_dim(fi) != encoder.input_dim:
        raise InputError(
            f"{feature_indices} covers {feature_dim(fi)} columns but the encoder "
            f"takes input_dim={encoder.input_dim}"
        )
    norm = Normalization.from_yaml(normalization)
    norm.check_covers(fi)
    fx = _feature_extractor(feature_config, convention)
    if len(fx.names) != encoder.input_dim:
        raise InputError(
            f"feature config gives {len(fx.names)} columns, the encoder takes "
            f"{encoder.input_dim}; pass the feature config the model was trained on"
        )
    if not same_layout(fx.feature_indices, fi):
        raise InputError(
            f"{feature_indices} lists {fi}, but the feature config in convention "
            f"{convention!r} gives {fx.feature_indices}: the model was not trained "
            "on features of this config (wrong config or convention?)"
        )
    scale = float(norm.groups["position"]["scale"]) if target_scaled else 1.0
    if target_scaled and "position" not in norm.groups:
        raise InputError(f"{normalization}: --target-scaled needs a 'position' scale")

    head: Head
    if flow_defs is None and flow_state is None:
        if encoder.encoding_dim != 6:
            raise InputError(
                f"{settings}: no 'flow' section and output_dim="
                f"{encoder.encoding_dim}; an encoder-only model must output the "
                "6 vertex coordinates (output_dim: 6), a flow model needs "
                "flow: {flow_str: ...} and --flow-state"
            )
        kind, head = "point", _point_head(6, scale)
    elif flow_state is None:
        raise InputError(
            f"{settings} has a 'flow' section ({flow_defs!r}): pass its flow state "
            "dict (flow_best.pth) as --flow-state"
        )
    else:
        if flow_defs is None:
            logger.warning("%s: no 'flow' section; assuming flow_str 'gggggt'", settings)
            flow_defs = "gggggt"
        fsd = _state(flow_state, "flow state dict")
        kwargs: dict[str, Any] = {
            "flow_defs": flow_defs,
            "mlp_hidden_dims": mlp_hidden_dims(fsd, flow_state),
        }
        if target_scaled:
            kwargs.update(
                label_standardization=True, label_offset=[0.0] * 6, label_scale=[1 / scale] * 6
            )
        try:
            head = ConditionalFlow.from_original_state_dict(
                fsd, conditional_input_dim=encoder.encoding_dim, **kwargs
            )
        except (RuntimeError, KeyError, ValueError) as err:
            raise InputError(
                f"{flow_state}: not a flow state dict for {flow_defs!r} with "
                f"conditional_input_dim={encoder.encoding_dim}: {err}"
            ) from err
        kind = "flow"
    training = {
        "imported_from": {
            "settings": os.fspath(settings),
            "encoder_state": os.fspath(encoder_state),
            "flow_state": None if flow_state is None else os.fspath(flow_state),
            "normalization": os.fspath(normalization),
            "feature_indices": os.fspath(feature_indices),
        },
        "flow_section": None if flow_defs is None else {"flow_str": flow_defs},
        "target_scaled": bool(target_scaled),
        "convention": convention,
        "importer_version": __version__,
    }
    return ModelBundle(
        encoder=encoder.eval(),
        head=head.eval(),
        kind=kind,
        feature_config=fx.config,
        feature_indices=fi,
        normalization=norm,
        training=training,
    )
