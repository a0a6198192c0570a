"""Build a model bundle from the original research code's artefacts.

Inputs (as that code wrote them): a settings YAML with a ``settings`` section (the encoder's
keyword arguments) and a ``flow`` section (the flow layer string under ``flow_defs``; other keys
are recorded but not needed), the encoder state dict (``.pth``), the flow state dict
(``flow_best.pth``: the amortisation MLP, four keys), the normalisation YAML (group ->
``{offset, scale}``) and ``feature_indices.yaml``. Both state dicts load with ``strict=True``,
so an imported model computes exactly what the original did.

The original flow modelled labels in metres (``normalize_target=False``); with
``target_scaled=True`` it modelled labels multiplied by the ``position`` scale, which the bundle
records as a label standardisation ``x_std = x * scale`` (offset 0), so densities come out
in metres either way.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Optional, Union

import torch

from ..core.errors import InputError
from ..core.version import __version__
from ..core.yaml_file import read_yaml
from ..data.features import FeatureExtractor
from ..data.parquet.normalization import Normalization
from ..data.parquet.reader import feature_dim, load_feature_indices
from .bundle import ModelBundle
from .encoder import LLPTransformerModel
from .flow import ConditionalFlow

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
_FLOW_KEYS = ("flow_defs", "pdf_defs", "layers", "type")


def _yaml(path: PathLike, what: str) -> Any:
    return read_yaml(path, what)


def _state(path: PathLike, what: str) -> dict:
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise InputError(f"{path}: cannot read the {what} as a weights-only state dict ({err})"
                         ) from err
    if not isinstance(sd, dict):
        raise InputError(f"{path}: the {what} is not a state dict")
    return sd


def flow_defs_from(section: Optional[dict], path: PathLike) -> str:
    """The flow layer string of the settings' ``flow`` section (default ``"gggggt"``)."""
    for key in _FLOW_KEYS:
        if section and isinstance(section.get(key), str):
            return section[key]
    logger.warning("%s: no flow layer string in the 'flow' section; assuming 'gggggt'", path)
    return "gggggt"


def import_seed(settings: PathLike, encoder_state: PathLike, flow_state: PathLike,
                normalization: PathLike, feature_indices: PathLike,
                feature_config: Union[None, PathLike, dict] = None,
                target_scaled: bool = False) -> ModelBundle:
    """Original artefacts -> :class:`ModelBundle` (see module docstring)."""

    cfg = _yaml(settings, "settings YAML")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("settings"), dict):
        raise InputError(f"{settings}: expected a 'settings' section (the encoder settings)")
    enc_settings = dict(cfg["settings"])
    encoder = LLPTransformerModel(**enc_settings)
    try:
        encoder.load_state_dict(_state(encoder_state, "encoder state dict"), strict=True)
    except RuntimeError as err:
        raise InputError(f"{encoder_state}: does not match the settings of {settings}: {err}"
                         ) from err

    fi = load_feature_indices(os.fspath(feature_indices))
    if feature_dim(fi) != encoder.input_dim:
        raise InputError(f"{feature_indices} covers {feature_dim(fi)} columns but the encoder "
                         f"takes input_dim={encoder.input_dim}")
    norm = Normalization.from_yaml(normalization)
    norm.check_covers(fi)
    fx = FeatureExtractor(feature_config)
    if len(fx.names) != encoder.input_dim:
        raise InputError(f"feature config gives {len(fx.names)} columns, the encoder takes "
                         f"{encoder.input_dim}; pass the feature config the model was trained on")

    fsd = _state(flow_state, "flow state dict")
    kwargs: dict[str, Any] = {"flow_defs": flow_defs_from(cfg.get("flow"), settings)}
    if target_scaled:
        s = float(norm.groups["position"]["scale"])
        kwargs.update(label_standardization=True, label_offset=[0.0] * 6, label_scale=[1 / s] * 6)
    try:
        flow = ConditionalFlow.from_original_state_dict(
            fsd, conditional_input_dim=encoder.encoding_dim, **kwargs)
    except (RuntimeError, KeyError, ValueError) as err:
        raise InputError(f"{flow_state}: not a flow state dict for {kwargs['flow_defs']!r} with "
                         f"conditional_input_dim={encoder.encoding_dim}: {err}") from err
    training = {"imported_from": {"settings": os.fspath(settings),
                                  "encoder_state": os.fspath(encoder_state),
                                  "flow_state": os.fspath(flow_state),
                                  "normalization": os.fspath(normalization),
                                  "feature_indices": os.fspath(feature_indices)},
                "flow_section": cfg.get("flow"), "target_scaled": bool(target_scaled),
                "importer_version": __version__}
    return ModelBundle(encoder=encoder.eval(), head=flow.eval(), kind="flow",
                       feature_config=fx.config, feature_indices=fi, normalization=norm,
                       training=training)
