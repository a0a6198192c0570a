"""The epoch loop: training steps, validation, checkpoints, LR schedule, early stopping and the
step and time budgets, on one process or on every rank under DDP.

Every function works on the :class:`~.build.RunParts` of a run and changes only its
:class:`~.state.RunState`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Any, ContextManager, Optional

import torch
from torch.distributed.algorithms.join import Join
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..core.batch import PackedBatch
from .build import RunParts
from .ddp import all_reduce_max, all_reduce_sum
from .outputs import MetricsLog, save_checkpoint
from .schedule import BudgetCosine

logger = logging.getLogger(__name__)


def train_step(parts: RunParts, batch: PackedBatch) -> tuple[bool, float, int]:
    """One optimiser step on ``batch``: (applied, mean loss, events).

    A batch whose loss or gradient norm is not finite is skipped (no step) and counted; an
    fp16 gradient overflow at a finite loss is the grad scaler's own business (counted apart).
    """
    cfg, ctx, st = parts.setup.config, parts.setup.ctx, parts.state
    if isinstance(st.scheduler, BudgetCosine):
        # under DDP the time progress moves at epoch ends (the same value on every rank)
        st.scheduler.update(
            st.global_step, st.clock.synced_s if ctx.distributed else st.clock.elapsed()
        )
    st.optimizer.zero_grad(set_to_none=True)
    loss = _batch_loss(parts, parts.ddp_model(batch.x, batch.seqlens, batch.targets), batch)
    st.scaler.scale(loss).backward()
    st.scaler.unscale_(st.optimizer)
    gnorm = torch.nn.utils.clip_grad_norm_(st.model.parameters(), cfg.grad_clip_norm)
    # The gradient norm is computed from all-reduced gradients, so every rank decides alike.
    loss_finite = bool(torch.isfinite(loss))
    ok = bool(torch.isfinite(gnorm)) and (ctx.distributed or loss_finite)
    if ok:
        st.scaler.step(st.optimizer)
    elif st.scaler.is_enabled() and loss_finite:
        # fp16 gradient overflow at the current loss scale: the scaler skips this step and
        # lowers its scale (routine while it calibrates; not a bad batch)
        st.amp_overflow_steps += 1
        logger.debug(
            "step %d: fp16 gradient overflow; loss scale lowered to %g",
            st.global_step,
            st.scaler.get_scale() / 2,
        )
    else:
        st.skipped_batches += 1
        logger.warning(
            "step %d: non-finite loss/gradient (loss %s); batch skipped",
            st.global_step,
            float(loss.detach()),
        )
    st.scaler.update()
    if isinstance(st.scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
        st.scheduler.step()
    return ok, float(loss.detach()), batch.batch_size


def _weights(parts: RunParts, batch: PackedBatch, like: torch.Tensor) -> Optional[torch.Tensor]:
    """The gap-prior weights ``[B]`` of the batch's events (None: the run has none)."""
    if parts.gap_weights is None or batch.targets is None:
        return None
    return parts.gap_weights.weights(batch.targets).to(like.dtype)


def _batch_loss(parts: RunParts, loss: torch.Tensor, batch: PackedBatch) -> torch.Tensor:
    """The batch's training loss from per-event losses ``[B]``: their mean, or with gap-prior
    weights ``w`` the weighted mean ``sum(w^a l) / sum(w^a)``, ``a`` rising from 0 to 1 over
    the first ``gap_prior_warmup_steps`` steps (so the flow first learns from every event
    alike, then moves to the flat prior)."""
    w = _weights(parts, batch, loss)
    if w is None:
        return loss.mean()
    warmup = parts.setup.config.gap_prior_warmup_steps
    if warmup > 0:
        w = w ** min(1.0, parts.state.global_step / warmup)
    return (w * loss).sum() / w.sum()


@torch.no_grad()
def validate(parts: RunParts) -> tuple[float, int]:
    """Mean per-event validation loss over all ranks [nats] (weighted by the gap-prior
    weights when the run has them), and the number of events (NaN and 0 without validation
    events)."""
    if parts.val_loader is None:
        return math.nan, 0
    model = parts.state.model
    model.eval()
    loss_sum, weight_sum, events = 0.0, 0.0, 0
    for batch in parts.val_loader:
        loss = model(batch.x, batch.seqlens, batch.targets)
        fin = torch.isfinite(loss)
        w = _weights(parts, batch, loss)
        weight = torch.ones_like(loss) if w is None else w
        loss_sum += float((weight * loss)[fin].sum())
        weight_sum += float(weight[fin].sum())
        events += int(fin.sum())
    total, w_total, n = all_reduce_sum([loss_sum, weight_sum, float(events)], parts.setup.ctx)
    model.train()
    return (total / w_total if n else math.nan), int(n)


def out_of_budget(parts: RunParts, distributed_ok: bool) -> bool:
    """Whether ``max_steps`` or ``max_minutes`` is spent. Under DDP the time is checked only
    where ``distributed_ok`` (epoch ends: a collective), as the maximum over ranks."""
    cfg, ctx, st = parts.setup.config, parts.setup.ctx, parts.state
    if cfg.max_steps is not None and st.global_step >= cfg.max_steps:
        return True
    if cfg.max_minutes is None:
        return False
    if ctx.distributed and not distributed_ok:
        return False
    el = st.clock.elapsed()
    if ctx.distributed:
        el = all_reduce_max(el, ctx)
        st.clock.synced_s = el
    return el >= 60 * cfg.max_minutes


def _join(parts: RunParts) -> ContextManager[Any]:
    """DDP's ``Join`` when ranks may run different numbers of steps (DOM-capped batches)."""
    ddp, capped = parts.ddp_model, parts.setup.config.max_doms_per_batch is not None
    if isinstance(ddp, DistributedDataParallel) and capped:
        return Join([ddp])
    return contextlib.nullcontext()


def train_epoch(parts: RunParts) -> bool:
    """Train the rest of the epoch in progress (from its data position); checkpoints every
    ``checkpoint_every`` steps. Returns whether a budget stopped it."""
    cfg, st = parts.setup.config, parts.state
    parts.train_loader.set_epoch(st.epoch)
    skip = st.step_in_epoch
    bar = tqdm(
        total=len(parts.train_loader),
        initial=skip,
        unit="batch",
        desc=f"epoch {st.epoch}",
        leave=False,
        disable=not (cfg.progress and parts.setup.ctx.is_main),
    )
    budget_hit = False
    with _join(parts):
        for i, batch in enumerate(parts.train_loader):
            if i < skip:
                continue
            ok, loss, n = train_step(parts, batch)
            st.step_in_epoch += 1
            st.global_step += 1
            if ok:
                st.add_batch(loss, n)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")
            if st.global_step % cfg.checkpoint_every == 0:
                save_checkpoint(parts, "last")
            if out_of_budget(parts, distributed_ok=False):
                budget_hit = True
                break
    bar.close()
    return budget_hit


def finish_epoch(parts: RunParts, log: MetricsLog, t_epoch: float) -> None:
    """Validate, step the plateau schedule, record the epoch (history, metrics, best and last
    checkpoints) and move the data position to the next epoch."""
    st = parts.state
    train_sum, train_n, applied = all_reduce_sum(st.epoch_sums, parts.setup.ctx)
    val_loss, val_n = validate(parts)
    lr = st.optimizer.param_groups[0]["lr"]
    if isinstance(st.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and (
        parts.val_loader is not None
    ):
        st.scheduler.step(val_loss if math.isfinite(val_loss) else math.inf)
    improved = val_loss < st.best_val_loss
    if improved:
        st.best_val_loss, st.bad_epochs = val_loss, 0
    else:
        st.bad_epochs += 1
    row = {
        "epoch": st.epoch,
        "global_step": st.global_step,
        "train_loss": train_sum / train_n if train_n else math.nan,
        "val_loss": val_loss,
        "lr": lr,
        "train_events": int(train_n),
        "val_events": val_n,
        "batches_applied": int(applied),
        "skipped_batches": st.skipped_batches,
        "epoch_seconds": time.perf_counter() - t_epoch,
        "elapsed_s": st.clock.elapsed(),
        "best": improved,
    }
    st.history.append(row)
    logger.info(
        "epoch %d: train %.4f val %.4f (%d events) lr %.2e%s",
        st.epoch,
        row["train_loss"],
        val_loss,
        val_n,
        lr,
        " *" if improved else "",
    )
    log.epoch_done(st.history)
    st.next_epoch()
    if improved:
        save_checkpoint(parts, "best")
    save_checkpoint(parts, "last")


def run_epochs(parts: RunParts, log: MetricsLog) -> str:
    """Train until ``epochs``, a budget or early stopping; returns why it stopped:
    ``"epochs"``, ``"budget"`` or ``"early_stopping"``."""
    cfg, ctx, st = parts.setup.config, parts.setup.ctx, parts.state
    if st.global_step == 0 and not st.history:
        st.initial_val_loss = validate(parts)[0]
        logger.info("validation loss before training: %.4f", st.initial_val_loss)
    st.model.train()
    if st.global_step and out_of_budget(parts, distributed_ok=True):
        return "budget"  # a resumed run whose budget was spent takes no further step
    while st.epoch < cfg.epochs:
        t_epoch = time.perf_counter()
        budget_hit = train_epoch(parts)
        if budget_hit and not ctx.distributed:
            save_checkpoint(parts, "last")
            if st.epoch_sums[1] == 0:  # nothing trained in this epoch: no row for it
                return "budget"
        finish_epoch(parts, log, t_epoch)
        if budget_hit or out_of_budget(parts, distributed_ok=True):
            return "budget"
        if (
            cfg.early_stopping_patience
            and parts.val_loader is not None
            and st.bad_epochs >= cfg.early_stopping_patience
        ):
            logger.info("early stopping: %d epochs without improvement", st.bad_epochs)
            return "early_stopping"
    return "epochs"
