"""Write a model bundle as the original research code's file set, so that code runs it.

Files written into the output folder:

* ``model_settings.yaml``: ``settings`` (the encoder's keyword arguments, ``attn_package:
  xformers``) and, for a flow model, ``flow: {flow_str: ...}``: what the original
  ``create_transformer`` / ``create_cnf`` read;
* ``model_best.pth`` (encoder state dict) and, for a flow model, ``flow_best.pth`` (the
  jammy_flows amortisation MLP, float64 as ``create_cnf`` builds it);
* ``normalization_args.yaml`` and ``feature_indices.yaml`` in the original layout (the
  TotalCharge column under ``log_charges`` and, as a scalar, ``log_total_charge``);
* ``feature_config.yaml``: the feature config in the original ``feature_configs.py`` format.

Only what the original code can express is exported; anything else is refused with the reason
(:class:`SeedExportError`): the original converter writes the ``original`` input convention;
its flow models labels in metres (or scaled by the ``position`` scale, ``normalize_target``)
with jammy_flows' defaults (10 kernels, widths 0.01..1 in g layers, 0.01..100 in t, a 128-unit
MLP) and a unit base; an encoder-only model's encoder output is the 6D estimate itself.
"""

from __future__ import annotations

import logging
import os
import pathlib
from typing import Any, Union

import torch

from ..core.atomic import atomic_torch_save, atomic_write_yaml
from ..core.errors import InputError
from ..data.features.convention import ORIGINAL, convention_of
from .bundle import ModelBundle

logger = logging.getLogger(__name__)

#: what the original ``create_cnf`` builds (jammy_flows 1.1 defaults + its options_overwrite)
ORIGINAL_FLOW = {
    "dim": 6,
    "n_kernels": 10,
    "g_width_min": 0.01,
    "g_width_max": 1.0,
    "t_width_min": 0.01,
    "t_width_max": 100.0,
    "mlp_hidden_dims": [128],
}
FILES = (
    "model_settings.yaml",
    "model_best.pth",
    "flow_best.pth",
    "normalization_args.yaml",
    "feature_indices.yaml",
    "feature_config.yaml",
)


class SeedExportError(InputError):
    """The model cannot be expressed in the original code; the message says why."""


def _target_scale(bundle: ModelBundle) -> float:
    """1 (labels in metres) or the position scale (``normalize_target=True``)."""
    std = bundle.label_standardization
    if std is None:
        return 1.0
    off, scale = std["offset"], std["scale"]
    pos = bundle.normalization.groups.get("position", {}).get("scale")
    if (
        any(o != 0.0 for o in off)
        or len(set(scale)) != 1
        or pos is None
        or not (abs(scale[0] * pos - 1.0) < 1e-12)
    ):
        raise SeedExportError(
            f"the model's labels are standardised per coordinate (offset {off}, scale {scale});"
            " the original flow models labels in metres, or multiplied by the position scale "
            "(normalize_target), and has no per-coordinate standardisation. Train with "
            "flow: {label_standardization: false} to export"
        )
    return float(pos)


def _check_flow(bundle: ModelBundle, drop_calibration: bool) -> None:
    cfg = bundle.head.config
    for key, want in ORIGINAL_FLOW.items():
        have = cfg[key]
        if (list(have) if isinstance(have, (list, tuple)) else have) != want:
            raise SeedExportError(
                f"flow {key}={have!r}; the original create_cnf builds {key}={want!r} (jammy_flows"
                " defaults and its options) and cannot load this flow"
            )
    if set(cfg["flow_defs"]) - set("gt"):
        raise SeedExportError(f"flow_defs={cfg['flow_defs']!r}: only g and t layers export")
    per_event = cfg.get("temperature_weights") is not None
    level_map = cfg.get("level_map") is not None
    tilt = cfg.get("region_tilt") is not None
    per_event = per_event or cfg.get("brightness_width") is not None
    if cfg["base_temperature"] != 1.0 or per_event or level_map or tilt:
        what = (
            f"base temperature {cfg['base_temperature']:.4g}"
            + (", event-dependent width" if per_event else "")
            + (", level map" if level_map else "")
            + (", region tilt" if tilt else "")
        )
        if not drop_calibration:
            raise SeedExportError(
                f"the flow is calibrated ({what}); the original flow has a unit base. Pass "
                "--drop-calibration to export it uncalibrated"
            )
        logger.warning("dropping the calibration (%s -> unit base)", what)
    if cfg.get("gap_prior") is not None:
        logger.warning(
            "the flow was trained with a flat gap-length prior: the original code's moments "
            "(marginal_moments) will be those of that posterior, not weighted back"
        )


def _check_point(bundle: ModelBundle) -> float:
    """The target scale of an identity point head (an imported encoder-only model)."""
    head = bundle.point_head
    w, b = head.linear.weight.detach(), head.linear.bias.detach()
    scale = head.label_scale.tolist()
    if (
        bundle.encoder.encoding_dim != 6
        or not torch.equal(w, torch.eye(6, dtype=w.dtype))
        or bool(b.any())
        or any(head.label_offset.tolist())
        or len(set(scale)) != 1
    ):
        raise SeedExportError(
            "a point model exports only when its encoder output is the estimate itself "
            "(output_dim 6 and an identity head, as an imported no-CNF model); this one has a "
            "trained Linear head, which the original encoder-only model does not have"
        )
    return 1.0 / scale[0]


def original_feature_indices(feature_indices: dict) -> dict:
    """``feature_indices.yaml`` as the original converter wrote it (sorted keys, scalar
    ``log_total_charge``)."""
    out: dict[str, Any] = {}
    for g in sorted(feature_indices):
        cols = [int(i) for i in torch.as_tensor(feature_indices[g]).reshape(-1).tolist()]
        if not cols:
            continue
        out[g] = cols[0] if g == "log_total_charge" and len(cols) == 1 else cols
    return out


def original_feature_config(feature_config: dict) -> dict:
    """The feature config in the original ``feature_configs.py`` format (no ``convention``)."""
    out = {k: v for k, v in feature_config.items() if k != "convention"}
    if out.get("pulse_modifier") is None:
        out.pop("pulse_modifier", None)
    return out


def export_seed(
    bundle: ModelBundle, out_dir: Union[str, os.PathLike], drop_calibration: bool = False
) -> list[pathlib.Path]:
    """Write ``bundle`` as the original file set into ``out_dir`` (see module docstring);
    returns the files written. Raises :class:`SeedExportError` saying why a model cannot be
    expressed there (nothing is written then)."""
    convention = convention_of(bundle.feature_config)
    if convention != ORIGINAL:
        raise SeedExportError(
            f"the model reads features in the {convention!r} convention (TotalCharge = "
            "log(1 + Q)); the original converter writes log(1 + log(1 + Q)), so the original "
            "code would feed it other inputs. Train on a folder converted with a feature config "
            "with convention: original to export"
        )
    if bundle.kind == "flow":
        _check_flow(bundle, drop_calibration)
        target_scale = _target_scale(bundle)
    else:
        target_scale = _check_point(bundle)
    settings = dict(bundle.encoder.config, attn_package="xformers")
    model_yaml: dict[str, Any] = {"settings": settings}
    if bundle.kind == "flow":
        model_yaml["flow"] = {"flow_str": bundle.flow_head.flow_defs}
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [
        atomic_write_yaml(out / "model_settings.yaml", model_yaml),
        atomic_torch_save(
            out / "model_best.pth",
            {k: v.detach().cpu().clone() for k, v in bundle.encoder.state_dict().items()},
        ),
        atomic_write_yaml(out / "normalization_args.yaml", bundle.normalization.to_dict()),
        atomic_write_yaml(
            out / "feature_indices.yaml", original_feature_indices(bundle.feature_indices)
        ),
        atomic_write_yaml(
            out / "feature_config.yaml", original_feature_config(bundle.feature_config)
        ),
    ]
    if bundle.kind == "flow":
        written.append(
            atomic_torch_save(
                out / "flow_best.pth",
                {
                    k: v.detach().cpu().to(torch.float64).clone()
                    for k, v in bundle.head.state_dict().items()
                },
            )
        )
    if target_scale != 1.0:
        logger.warning(
            "the model was trained on labels x %.6g: use it in the original code "
            "with LLPDataset(normalize_target=True)",
            target_scale,
        )
    return [pathlib.Path(p) for p in written]
