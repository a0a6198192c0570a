"""After the epochs: the best-validation weights, the flow's width calibration on the
validation files, the training summary and the model bundle ``model.pt`` (rank 0)."""

from __future__ import annotations

import copy
import logging
import math
import pathlib
from typing import Any, Optional

from ..evaluation.calibration import calibrate_flow, collect_events
from ..model.bundle import ModelBundle, save_bundle
from ..model.flow import ConditionalFlow
from .build import RunParts, make_loader
from .checkpoint import load_checkpoint
from .model import GapRecoModel

logger = logging.getLogger(__name__)


def best_model(parts: RunParts) -> GapRecoModel:
    """A copy of the model with the weights of ``checkpoints/best.pt`` (the current weights
    when there is none), in eval mode."""
    model = copy.deepcopy(parts.state.model)
    best = parts.setup.ckpt_dir / "best.pt"
    if best.exists():
        model.load_state_dict(load_checkpoint(best)["model"])
    return model.eval()


def calibrate(model: GapRecoModel, parts: RunParts) -> dict[str, Any]:
    """Fit the posterior width of ``model``'s flow (the event-dependent width when the config
    asks for it, then the base temperature) on every validation file (in place; on this process
    alone). Returns the calibration record, or ``{"skipped": reason}`` (the width then stays
    1)."""
    setup, flow = parts.setup, model.head
    if not isinstance(flow, ConditionalFlow):
        raise TypeError(f"only a flow has a width to calibrate, not a {type(flow).__name__}")
    loader = make_loader(setup, setup.val_files, "calibration")
    try:
        enc, truth, n_doms = collect_events(model.encode, loader, setup.config.calibration_events)
        cal = calibrate_flow(
            flow, enc, truth, event_temperature=setup.config.event_temperature,
            seed=setup.config.seed, level_map=setup.config.level_map,
            region_tilt=setup.config.region_tilt,
            n_doms=n_doms if setup.config.brightness_width else None,
        )  # fmt: skip
    except ValueError as err:
        logger.warning("calibration skipped (base temperature stays 1): %s", err)
        return {"skipped": str(err)}
    logger.info(
        "calibration on %d validation events: base temperature %.3f; coverage at %s: %s -> %s"
        " (level map: %s)",
        cal.n_events,
        cal.temperature,
        " / ".join(f"{100 * v:.0f}%" for v in cal.levels),
        " / ".join(f"{v:.3f}" for v in cal.coverage_before),
        " / ".join(f"{v:.3f}" for v in cal.coverage_after),
        " / ".join(f"{v:.3f}" for v in cal.coverage_mapped) or "none",
    )
    return cal.to_dict()


def training_summary(
    parts: RunParts, stopped: str, calibration: Optional[dict[str, Any]]
) -> dict[str, Any]:
    """The ``training`` record of the bundle (plain data)."""
    setup, st = parts.setup, parts.state
    best = [r["epoch"] for r in st.history if r["best"]]
    return {
        "data": setup.data,
        "train_files": [pathlib.Path(f).name for f in setup.train_files],
        "val_files": [pathlib.Path(f).name for f in setup.val_files],
        "epochs_run": st.epoch,
        "global_step": st.global_step,
        "best_epoch": best[-1] if best else None,
        "best_val_loss": st.best_val_loss if math.isfinite(st.best_val_loss) else None,
        "initial_val_loss": st.initial_val_loss,
        "skipped_batches": st.skipped_batches,
        "amp_overflow_steps": st.amp_overflow_steps,
        "calibration": calibration,
        "stopped": stopped,
        "elapsed_s": st.clock.elapsed(),
        "world_size": setup.ctx.world_size,
        "device": str(setup.ctx.device),
        "attention_backend": st.model.encoder.attention_backend,
        "loss": setup.config.loss,
        "config": setup.config.to_dict(),
        "history": st.history,
    }


def write_bundle(parts: RunParts, stopped: str) -> Optional[pathlib.Path]:
    """Write ``model.pt`` from the best validation weights, calibrated when the config asks
    for it (rank 0; None elsewhere)."""
    setup = parts.setup
    if not setup.ctx.is_main:
        return None
    model = best_model(parts)
    calibration = None
    if model.kind == "flow" and setup.config.calibrate and setup.val_files:
        calibration = calibrate(model, parts)
    bundle = ModelBundle(
        encoder=model.encoder,
        head=model.head,
        kind=model.kind,
        feature_config=setup.feature_config,
        feature_indices=setup.feature_indices,
        normalization=setup.normalization,
        training=training_summary(parts, stopped, calibration),
    )
    path = save_bundle(bundle, setup.out_dir / "model.pt")
    logger.info("wrote model bundle %s", path)
    return path
