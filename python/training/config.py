"""Training configuration: one dataclass, package defaults in Python, YAML files override them.

A YAML file holds the fields of :class:`TrainConfig` at top level; ``encoder`` holds the
encoder's ``settings`` (keys of ``LLPTransformerModel``; missing ones take the encoder defaults)
and ``flow`` the keyword arguments of ``ConditionalFlow`` other than ``conditional_input_dim``.
Unknown keys are an error naming the key.

An original model YAML (the research code's ``configs/model_*.yaml``) is accepted as it is:
its ``settings`` section becomes ``encoder`` and ``flow: {flow_str: ...}`` becomes
``flow: {flow_defs: ...}``; any other key of its ``flow`` section is refused, naming it. A model
YAML without ``flow`` (the original "no CNF" models) trains the point baseline (``loss: mse``)
unless ``loss`` is given. Every other training knob keeps the package default.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Optional

from ..core.yaml_file import read_yaml
from ..model.encoder.settings import SETTINGS_SPEC
from ..model.seed_import import flow_defs_from
from .gap_prior import GAP_PRIORS


@dataclasses.dataclass
class TrainConfig:
    """Every knob of a training run (units in the comments)."""

    seed: int = 1234
    epochs: int = 30
    #: events per batch (per rank)
    batch_size: int = 64
    #: cap on DOM rows per batch (None: no cap)
    max_doms_per_batch: Optional[int] = None
    #: "flow" (-log p(target | encoding)) or "mse" (point baseline on standardised targets)
    loss: str = "flow"
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    #: gradient clipping by global L2 norm
    grad_clip_norm: float = 1.0
    #: "plateau", "cosine" (per step over ``epochs``), "cosine_budget" (over the step or time
    #: budget, whichever ends first; see ``training.schedule``) or "none"
    scheduler: str = "plateau"
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    #: minimum LR of the cosine schedule, as a fraction of ``lr``
    cosine_final_fraction: float = 0.01
    #: stop after this many epochs without a better validation loss (0: never)
    early_stopping_patience: int = 6
    #: fraction held out for validation: by files, or by events when the folder has too few
    #: files (``data.parquet.split``); 0: no validation (no early stopping, no calibration)
    val_fraction: float = 0.15
    #: write ``checkpoints/last.pt`` every this many optimiser steps (and at each epoch end)
    checkpoint_every: int = 200
    #: number of training labels used to initialise the flow
    init_labels: int = 1000
    #: after training, fit the flow's base temperature on up to ``calibration_events``
    #: validation events (``evaluation.calibration``); False keeps T = 1
    calibrate: bool = True
    #: calibration also fits a width per event from its encoding (``evaluation.event_temperature``)
    event_temperature: bool = True
    #: calibration fits a gap-length tilt of the regions, so that they hold for every true gap
    #: length (``model.flow.region_tilt``)
    region_tilt: bool = True
    #: calibration fits a term of the event width in the (encoded) number of hit DOMs, so that
    #: the regions hold for dim and bright events (``model.flow.brightness_width``)
    brightness_width: bool = True
    #: calibration ends with a level map (nominal -> the flow's HDR level; ``model.flow.level_map``)
    level_map: bool = True
    calibration_events: int = 5000
    #: prior on the gap length that a flow learns: "simulated" (the training set's own) or
    #: "flat" (each event weighted by 1 / p(gap length): regions that hold for every true gap
    #: length; posterior moments weighted back to the set's own prior; see
    #: ``training.gap_prior``). The point baseline always trains unweighted.
    gap_prior: str = "simulated"
    #: with ``gap_prior="flat"``: the weights enter as ``w^a``, ``a`` rising linearly from 0 to 1
    #: over this many optimiser steps (0: full weights from the start)
    gap_prior_warmup_steps: int = 0
    #: "bf16", "fp16" or "none"; autocast is used on CUDA only
    amp: str = "bf16"
    #: dtype of the flow's computations: "float64" (as the original) or "float32"
    flow_dtype: str = "float64"
    #: "auto" (CUDA when available), "cpu", "cuda", "cuda:N"
    device: str = "auto"
    num_workers: int = 0
    shuffle_buffer: int = 1024
    #: wall-clock budget in minutes (None: none); checked at every step on one process,
    #: at epoch ends under DDP
    max_minutes: Optional[float] = None
    #: stop after this many optimiser steps in total (None: none)
    max_steps: Optional[int] = None
    #: show tqdm progress bars (rank 0 only)
    progress: bool = True
    encoder: dict = dataclasses.field(default_factory=dict)
    flow: dict = dataclasses.field(default_factory=lambda: {"flow_defs": "gggggt"})

    def __post_init__(self) -> None:
        checks = {
            "loss": ("flow", "mse"),
            "scheduler": ("plateau", "cosine", "cosine_budget", "none"),
            "amp": ("bf16", "fp16", "none"),
            "flow_dtype": ("float64", "float32"),
            "optimizer": ("adamw", "adam"),
            "gap_prior": GAP_PRIORS,
        }
        for key, allowed in checks.items():
            if getattr(self, key) not in allowed:
                raise ValueError(
                    f"training config: {key}={getattr(self, key)!r}, expected one of {allowed}"
                )
        if self.gap_prior_warmup_steps < 0:
            raise ValueError(
                f"training config: gap_prior_warmup_steps={self.gap_prior_warmup_steps} < 0"
            )
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"training config: val_fraction={self.val_fraction} not in [0, 1)")
        unknown = sorted(set(self.encoder) - set(SETTINGS_SPEC))
        if unknown:
            raise ValueError(
                f"training config: unknown encoder setting(s) {unknown}; known: "
                f"{sorted(SETTINGS_SPEC)}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"{source}: unknown training key(s) {unknown}; known: {sorted(names)}")
        return cls(**d)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def load_train_config(path: str | pathlib.Path | None = None, **overrides: Any) -> TrainConfig:
    """Package defaults, overridden by the YAML file at ``path`` and then by ``overrides``."""
    d: dict[str, Any] = {}
    if path is not None:
        d = read_yaml(path, "training config") or {}
        if not isinstance(d, dict):
            raise ValueError(f"{path}: expected a mapping of training keys at top level")
        if "settings" in d:
            d = from_original_model_yaml(d, str(path), loss_given=overrides.get("loss"))
    d.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict(d, source=str(path or "config"))


def from_original_model_yaml(
    d: dict[str, Any], source: str, loss_given: Optional[str] = None
) -> dict[str, Any]:
    """Training keys from an original model YAML (``settings`` + optional ``flow``)."""
    if "encoder" in d:
        raise ValueError(
            f"{source}: give the encoder either as 'settings' (original model "
            "YAML) or as 'encoder', not both"
        )
    if not isinstance(d["settings"], dict):
        raise ValueError(f"{source}: 'settings' must be a mapping of encoder settings")
    out = {k: v for k, v in d.items() if k not in ("settings", "flow")}
    out["encoder"] = dict(d["settings"])
    flow_defs = flow_defs_from(d.get("flow"), source)
    if flow_defs is not None:
        out["flow"] = {"flow_defs": flow_defs}
    elif "loss" not in out and loss_given is None:
        out["loss"] = "mse"  # an encoder-only original model: a point estimate
    return out


#: the small model of ``configs/train_quick.yaml``: trains on 2 CPU cores in minutes
QUICK = {
    "epochs": 40,
    "batch_size": 32,
    "val_fraction": 0.1,
    "lr": 2e-3,
    "scheduler": "cosine_budget",
    "checkpoint_every": 100,
    "init_labels": 1000,
    "gap_prior": "flat",
    "gap_prior_warmup_steps": 1500,
    "early_stopping_patience": 8,
    "max_minutes": 18.0,
    "encoder": {
        "output_dim": 64,
        "io_mlp_hidden_dims": "64",
        "attn_computational_dim": 64,
        "attn_num_layers": 2,
        "attn_num_heads_per_layer": 2,
        "attn_internal_mlp_dim": 128,
        "attn_dropout": 0.0,
    },
    "flow": {"flow_defs": "gggggt"},
}
