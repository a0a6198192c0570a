"""The training loop: encoder + flow (or the MSE baseline), one process or DDP under torchrun.

Run folder layout (only rank 0 writes)::

    RUN_DIR/config.yaml            the resolved training config
    RUN_DIR/metrics.csv            one row per epoch (rewritten atomically from the history)
    RUN_DIR/checkpoints/last.pt    every ``checkpoint_every`` steps and at each epoch end
    RUN_DIR/checkpoints/best.pt    at each new best validation loss
    RUN_DIR/model.pt               the model bundle (best validation weights), at the end
    RUN_DIR/tensorboard/           when tensorboard is installed

A checkpoint holds model, optimiser, scheduler and grad-scaler states, the RNG states, the data
position (epoch, batches done in it) and the partial epoch sums, so ``resume=True`` continues
exactly where the checkpoint was taken (bit-identical on one CPU process).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import io
import logging
import math
import pathlib
import time
from typing import Any, Optional, Union

import numpy as np
import torch
from torch.distributed.algorithms.join import Join
from tqdm import tqdm

from ..core.atomic import atomic_torch_save, atomic_write_text, atomic_write_yaml
from ..core.version import __version__
from ..data.features.config import DEFAULT_CONFIG
from ..data.parquet import PackedLoader, compute_normalization, read_data_file, split_files
from ..data.parquet.loader_config import LoaderConfig
from ..data.parquet.normalization import Normalization
from ..data.parquet.reader import ConvertedFolder
from ..evaluation.calibration import collect_encodings, fit_temperature
from ..model.bundle import ModelBundle, build_head, save_bundle
from ..model.encoder import LLPTransformerModel
from .checkpoint import (
    load_checkpoint,
    rng_state,
    seed_everything,
    set_rng_state,
)
from .config import TrainConfig
from .ddp import (
    DistContext,
    all_gather_object,
    all_reduce_max,
    all_reduce_sum,
    barrier,
    broadcast_object,
    init_distributed,
)
from .model import GapRecoModel
from .schedule import BudgetCosine

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "llp_gap_reco.train_checkpoint"
_AMP = {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}


@dataclasses.dataclass
class TrainResult:
    """What a finished run reports (rank 0's view; identical numbers on every rank)."""

    out_dir: pathlib.Path
    bundle_path: Optional[pathlib.Path]
    history: list
    best_val_loss: float
    initial_val_loss: float
    global_step: int
    skipped_batches: int
    stopped: str
    model: GapRecoModel


def _feature_config(folder) -> dict:
    cfg = folder.manifest.get("feature_config")
    if cfg is None:

        logger.warning("%s has no feature config in its manifest; assuming the package default",
                       folder.path)
        cfg = DEFAULT_CONFIG
    return cfg


def _init_labels(files: list[str], n: int) -> torch.Tensor:
    """The first ``n`` training labels ``[n, 6]`` (metres), in file order."""

    out, have = [], 0
    for f in files:
        tg = read_data_file(f, targets=True, bad_events="skip").targets
        out.append(tg)
        have += tg.shape[0]
        if have >= n:
            break
    return torch.from_numpy(np.concatenate(out)[:n])


class Trainer:
    """Builds everything for a run; :meth:`run` trains and writes the bundle.

    Args:
        data: converted folder with targets.
        out_dir: run folder (created).
        config: :class:`TrainConfig`.
        resume: continue from ``out_dir/checkpoints/last.pt`` (start fresh, with a warning,
            when there is none).
    """

    def __init__(self, data: Union[str, pathlib.Path], out_dir: Union[str, pathlib.Path],
                 config: TrainConfig, resume: bool = False) -> None:

        self.config = cfg = config
        self.ctx: DistContext = init_distributed(cfg.device)
        self.data = str(data)
        self.out_dir = pathlib.Path(out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        if self.ctx.is_main:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        barrier(self.ctx)

        ck = None
        last = self.ckpt_dir / "last.pt"
        if resume:
            if last.exists():
                ck = load_checkpoint(last)
                if ck.get("format") != CHECKPOINT_FORMAT:
                    raise ValueError(f"{last}: not a training checkpoint")
                logger.info("resuming from %s (epoch %d, step %d)", last, ck["epoch"],
                            ck["global_step"])
            else:
                logger.warning("--resume: no checkpoint at %s; starting a fresh run", last)
        elif last.exists():
            raise FileExistsError(f"{self.out_dir} holds a run already ({last}); pass resume=True "
                                  "(--resume) to continue it or choose another folder")

        folder = ConvertedFolder(self.data)
        self.feature_indices = dict(folder.feature_indices)
        self.feature_config = _feature_config(folder)
        if ck is not None:
            self.train_files, self.val_files = ck["train_files"], ck["val_files"]
            self.normalization = Normalization(ck["normalization"])
        else:
            self.train_files, self.val_files = split_files(self.data, cfg.val_fraction, cfg.seed)
            norm = None
            if self.ctx.is_main:
                norm = compute_normalization(self.train_files, self.feature_indices).to_dict()
            self.normalization = Normalization(broadcast_object(norm, self.ctx))
        logger.info("%d training files, %d validation files", len(self.train_files),
                    len(self.val_files))

        loader_cfg = LoaderConfig(batch_size=cfg.batch_size, shuffle=True,
                                  max_doms_per_batch=cfg.max_doms_per_batch, seed=cfg.seed,
                                  shuffle_buffer=cfg.shuffle_buffer, rank=self.ctx.rank,
                                  world_size=self.ctx.world_size, num_workers=cfg.num_workers,
                                  bad_events="skip", device=self.ctx.device)
        self.train_loader = PackedLoader(self.train_files, loader_cfg, self.normalization,
                                         targets=True, feature_indices=self.feature_indices)
        self.val_loader = PackedLoader(self.val_files,
                                       loader_cfg.replace(shuffle=False, equalize=False),
                                       self.normalization, targets=True,
                                       feature_indices=self.feature_indices)

        seed_everything(cfg.seed)
        self.model = self._build_model(folder.dim, ck)
        self.model.to(self.ctx.device)
        self.ddp_model: torch.nn.Module = self.model
        if self.ctx.distributed:
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.ctx.device.index] if self.ctx.device.type == "cuda"
                else None)
        self.attention_backend = self.model.encoder.attention_backend
        logger.info("attention backend: %s; device %s; world size %d", self.attention_backend,
                    self.ctx.device, self.ctx.world_size)

        params = self.model.parameters()
        opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt_cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = self._build_scheduler()
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=cfg.amp == "fp16" and self.ctx.device.type == "cuda")

        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.best_val_loss, self.bad_epochs, self.skipped = math.inf, 0, 0
        self.amp_overflows = 0
        self.history: list[dict] = []
        self.epoch_sums = [0.0, 0.0, 0.0]  # loss * events, events, batches applied
        self.elapsed_before = 0.0
        self.synced_elapsed = 0.0
        self.initial_val_loss = math.nan
        # Per-rank generators: dropout differs between ranks, reproducibly.
        seed_everything(cfg.seed + 1_000_003 * self.ctx.rank)
        if ck is not None:
            self._restore(ck)

    # ------------------------------------------------------------------ construction
    def _build_model(self, dim: int, ck: Optional[dict]) -> GapRecoModel:

        cfg = self.config
        if ck is not None:
            enc_settings, head_cfg, kind = ck["encoder_config"], ck["head_config"], ck["kind"]
        else:
            enc_settings = dict(cfg.encoder)
            if enc_settings.setdefault("input_dim", dim) != dim:
                raise ValueError(f"encoder input_dim={enc_settings['input_dim']} but {self.data} "
                                 f"has {dim} features per DOM")
            head_cfg, kind = None, "flow" if cfg.loss == "flow" else "point"
        encoder = LLPTransformerModel(**enc_settings)
        if head_cfg is None:
            head_cfg = {"conditional_input_dim": encoder.encoding_dim}
            if kind == "flow":
                head_cfg = dict(cfg.flow, conditional_input_dim=encoder.encoding_dim,
                                dtype=cfg.flow_dtype)
        head = build_head(kind, head_cfg)
        if ck is None:
            labels = _init_labels(self.train_files, cfg.init_labels)
            head.init_from_labels(labels, seed=cfg.seed)
            logger.info("head initialised from %d training labels", labels.shape[0])
        return GapRecoModel(encoder, head, kind, _AMP[cfg.amp])

    def _build_scheduler(self):
        cfg = self.config
        if cfg.scheduler == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode="min", factor=cfg.plateau_factor,
                patience=cfg.plateau_patience)
        if cfg.scheduler == "cosine":
            total = max(cfg.epochs * max(len(self.train_loader), 1), 1)
            if cfg.max_steps:
                total = min(total, cfg.max_steps)
            return torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=total, eta_min=cfg.lr * cfg.cosine_final_fraction)
        if cfg.scheduler == "cosine_budget":
            total = cfg.epochs * max(len(self.train_loader), 1)
            if cfg.max_steps:
                total = min(total, cfg.max_steps)
            budget = None if cfg.max_minutes is None else 60.0 * cfg.max_minutes
            return BudgetCosine(self.optimizer, cfg.lr, cfg.cosine_final_fraction, total, budget)
        return None

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "format_version": 1,
            "package_version": __version__,
            "kind": self.model.kind,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "encoder_config": self.model.encoder.config,
            "head_config": self.model.head.config,
            "normalization": self.normalization.to_dict(),
            "feature_indices": self.feature_indices,
            "feature_config": self.feature_config,
            "train_config": self.config.to_dict(),
            "train_files": list(self.train_files),
            "val_files": list(self.val_files),
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "best_val_loss": self.best_val_loss,
            "bad_epochs": self.bad_epochs,
            "skipped_batches": self.skipped,
            "amp_overflow_steps": self.amp_overflows,
            "epoch_sums": list(self.epoch_sums),
            "history": list(self.history),
            "elapsed_s": self.elapsed(),
            "initial_val_loss": self.initial_val_loss,
            "rng": rng_state(),
            "world_size": self.ctx.world_size,
        }

    def save_checkpoint(self, name: str = "last") -> Optional[pathlib.Path]:
        """Atomically write ``checkpoints/<name>.pt``. Rank 0 writes; under DDP every rank calls
        this at the same step, and the RNG states of all ranks are gathered into the file."""
        rngs = all_gather_object(rng_state(), self.ctx)
        if not self.ctx.is_main:
            return None
        state = self._state()
        state["rng_per_rank"] = rngs
        return atomic_torch_save(self.ckpt_dir / f"{name}.pt", state)

    def _restore(self, ck: dict) -> None:
        self.model.load_state_dict(ck["model"], strict=True)
        self.optimizer.load_state_dict(ck["optimizer"])
        if self.scheduler is not None and ck["scheduler"] is not None:
            self.scheduler.load_state_dict(ck["scheduler"])
        self.scaler.load_state_dict(ck["scaler"])
        self.epoch, self.step_in_epoch = int(ck["epoch"]), int(ck["step_in_epoch"])
        self.global_step, self.best_val_loss = int(ck["global_step"]), float(ck["best_val_loss"])
        self.bad_epochs, self.skipped = int(ck["bad_epochs"]), int(ck["skipped_batches"])
        self.amp_overflows = int(ck.get("amp_overflow_steps", 0))
        self.epoch_sums = list(ck["epoch_sums"])
        self.history = list(ck["history"])
        self.elapsed_before = float(ck["elapsed_s"])
        self.synced_elapsed = self.elapsed_before
        self.initial_val_loss = float(ck["initial_val_loss"])
        per_rank = ck.get("rng_per_rank") or []
        if ck.get("world_size", 1) == self.ctx.world_size and len(per_rank) == self.ctx.world_size:
            set_rng_state(per_rank[self.ctx.rank])
        elif self.ctx.rank == 0 and ck.get("world_size", 1) == self.ctx.world_size:
            set_rng_state(ck["rng"])  # a checkpoint written before per-rank states were kept
        else:  # another world size: a fresh stream per (rank, step), reproducible
            logger.info("rank %d: checkpoint of world size %s, now %d: RNG reseeded",
                        self.ctx.rank, ck.get("world_size"), self.ctx.world_size)
            seed_everything(self.config.seed + 1_000_003 * self.ctx.rank + self.global_step)

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self._t0 if hasattr(self, "_t0") \
            else self.elapsed_before

    # ------------------------------------------------------------------ loop
    def _train_step(self, batch) -> tuple[bool, float, int]:
        cfg = self.config
        if isinstance(self.scheduler, BudgetCosine):
            # under DDP the time progress moves at epoch ends (the same value on every rank)
            el = self.synced_elapsed if self.ctx.distributed else self.elapsed()
            self.scheduler.update(self.global_step, el)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.ddp_model(batch.x, batch.seqlens, batch.targets).mean()
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip_norm)
        # The gradient norm is computed from all-reduced gradients, so every rank decides alike.
        loss_finite = bool(torch.isfinite(loss))
        ok = bool(torch.isfinite(gnorm)) and (self.ctx.distributed or loss_finite)
        if ok:
            self.scaler.step(self.optimizer)
        elif self.scaler.is_enabled() and loss_finite:
            # fp16 gradient overflow at the current loss scale: the scaler skips this step and
            # lowers its scale (routine while it calibrates; not a bad batch)
            self.amp_overflows += 1
            logger.debug("step %d: fp16 gradient overflow; loss scale lowered to %g",
                         self.global_step, self.scaler.get_scale() / 2)
        else:
            self.skipped += 1
            logger.warning("step %d: non-finite loss/gradient (loss %s); batch skipped",
                           self.global_step, float(loss.detach()))
        self.scaler.update()
        if isinstance(self.scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
            self.scheduler.step()
        return ok, float(loss.detach()), batch.batch_size

    @torch.no_grad()
    def validate(self) -> tuple[float, int]:
        """Mean per-event validation loss over all ranks, and the number of events."""
        self.model.eval()
        s, n = 0.0, 0
        for batch in self.val_loader:
            loss = self.model(batch.x, batch.seqlens, batch.targets)
            fin = torch.isfinite(loss)
            s += float(loss[fin].sum())
            n += int(fin.sum())
        s, n = all_reduce_sum([s, float(n)], self.ctx)
        self.model.train()
        return (s / n if n else math.nan), int(n)

    def _out_of_budget(self, distributed_ok: bool) -> bool:
        cfg = self.config
        if cfg.max_steps is not None and self.global_step >= cfg.max_steps:
            return True
        if cfg.max_minutes is None:
            return False
        if self.ctx.distributed and not distributed_ok:
            return False
        el = self.elapsed()
        if self.ctx.distributed:
            el = all_reduce_max(el, self.ctx)
            self.synced_elapsed = el
        return el >= 60 * cfg.max_minutes

    def run(self) -> TrainResult:
        cfg = self.config
        self._t0 = time.perf_counter()
        if self.ctx.is_main:
            atomic_write_yaml(self.out_dir / "config.yaml", cfg.to_dict())
        tb = self._tensorboard()
        stopped = "epochs"
        if self.global_step == 0 and not self.history:
            self.initial_val_loss = self.validate()[0]
            logger.info("validation loss before training: %.4f", self.initial_val_loss)
        self.model.train()
        while self.epoch < cfg.epochs:
            t_epoch = time.perf_counter()
            self.train_loader.set_epoch(self.epoch)
            skip = self.step_in_epoch
            bar = tqdm(total=len(self.train_loader), initial=skip, unit="batch",
                       desc=f"epoch {self.epoch}", disable=not (cfg.progress and self.ctx.is_main),
                       leave=False)
            budget_hit = False
            with self._join():
                for i, batch in enumerate(self.train_loader):
                    if i < skip:
                        continue
                    ok, loss, n = self._train_step(batch)
                    self.step_in_epoch += 1
                    self.global_step += 1
                    if ok:
                        self.epoch_sums = [self.epoch_sums[0] + loss * n,
                                           self.epoch_sums[1] + n, self.epoch_sums[2] + 1]
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.3f}")
                    if self.global_step % cfg.checkpoint_every == 0:
                        self.save_checkpoint("last")
                    if self._out_of_budget(distributed_ok=False):
                        budget_hit = True
                        break
            bar.close()
            if budget_hit and not self.ctx.distributed:
                stopped = "budget"
                self.save_checkpoint("last")
                if self.epoch_sums[1] == 0:
                    break
            train_sum, train_n, applied = all_reduce_sum(self.epoch_sums, self.ctx)
            val_loss, val_n = self.validate()
            lr = self.optimizer.param_groups[0]["lr"]
            if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(val_loss if math.isfinite(val_loss) else math.inf)
            improved = val_loss < self.best_val_loss
            if improved:
                self.best_val_loss, self.bad_epochs = val_loss, 0
            else:
                self.bad_epochs += 1
            row = {"epoch": self.epoch, "global_step": self.global_step,
                   "train_loss": train_sum / train_n if train_n else math.nan,
                   "val_loss": val_loss, "lr": lr, "train_events": int(train_n),
                   "val_events": val_n, "batches_applied": int(applied),
                   "skipped_batches": self.skipped, "epoch_seconds": time.perf_counter() - t_epoch,
                   "elapsed_s": self.elapsed(), "best": improved}
            self.history.append(row)
            logger.info("epoch %d: train %.4f val %.4f (%d events) lr %.2e%s", self.epoch,
                        row["train_loss"], val_loss, val_n, lr, " *" if improved else "")
            self._write_metrics(tb, row)
            self.epoch += 1
            self.step_in_epoch, self.epoch_sums = 0, [0.0, 0.0, 0.0]
            if improved:
                self.save_checkpoint("best")
            self.save_checkpoint("last")
            if budget_hit or self._out_of_budget(distributed_ok=True):
                stopped = "budget"
                break
            if cfg.early_stopping_patience and self.bad_epochs >= cfg.early_stopping_patience:
                stopped = "early_stopping"
                logger.info("early stopping: %d epochs without improvement", self.bad_epochs)
                break
        if tb is not None:
            tb.close()
        bundle_path = self._write_bundle(stopped)
        barrier(self.ctx)
        return TrainResult(self.out_dir, bundle_path, self.history, self.best_val_loss,
                           self.initial_val_loss, self.global_step, self.skipped, stopped,
                           self.model)

    def _join(self):
        if self.ctx.distributed and self.config.max_doms_per_batch is not None:

            return Join([self.ddp_model])

        return contextlib.nullcontext()

    # ------------------------------------------------------------------ outputs
    def _tensorboard(self):
        if not self.ctx.is_main:
            return None
        try:
            # optional heavy dependency (the dev extra)
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            logger.info("tensorboard not installed; metrics go to metrics.csv only")
            return None
        return SummaryWriter(str(self.out_dir / "tensorboard"))

    def _write_metrics(self, tb, row: dict) -> None:
        if not self.ctx.is_main:
            return
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(row))
        w.writeheader()
        w.writerows(self.history)
        atomic_write_text(self.out_dir / "metrics.csv", buf.getvalue())
        if tb is not None:
            for k in ("train_loss", "val_loss", "lr", "skipped_batches"):
                tb.add_scalar(k, row[k], row["epoch"])
            tb.flush()

    def summary(self, stopped: str) -> dict[str, Any]:
        best = [r["epoch"] for r in self.history if r["best"]]
        return {
            "data": self.data,
            "train_files": [pathlib.Path(f).name for f in self.train_files],
            "val_files": [pathlib.Path(f).name for f in self.val_files],
            "epochs_run": self.epoch,
            "global_step": self.global_step,
            "best_epoch": best[-1] if best else None,
            "best_val_loss": self.best_val_loss if math.isfinite(self.best_val_loss) else None,
            "initial_val_loss": self.initial_val_loss,
            "skipped_batches": self.skipped,
            "amp_overflow_steps": self.amp_overflows,
            "calibration": getattr(self, "calibration", None),
            "stopped": stopped,
            "elapsed_s": self.elapsed(),
            "world_size": self.ctx.world_size,
            "device": str(self.ctx.device),
            "attention_backend": self.attention_backend,
            "loss": self.config.loss,
            "config": self.config.to_dict(),
            "history": self.history,
        }

    def _calibrate(self, model: GapRecoModel) -> None:
        """Fit the base temperature of ``model``'s flow on the validation files (in place)."""

        # every validation file (self.val_loader holds this rank's share under DDP)
        loader = PackedLoader(self.val_files,
                              LoaderConfig(batch_size=256, shuffle=False, bad_events="skip",
                                           device=self.ctx.device, world_size=1, rank=0),
                              self.normalization, targets=True,
                              feature_indices=self.feature_indices)
        try:
            enc, truth = collect_encodings(model.encode, loader, self.config.calibration_events)
            cal = fit_temperature(model.head, enc, truth, seed=self.config.seed)
        except ValueError as err:
            logger.warning("calibration skipped (base temperature stays 1): %s", err)
            self.calibration = {"skipped": str(err)}
            return
        model.head.base_temperature = cal.temperature
        self.calibration = cal.to_dict()
        i70 = min(range(len(cal.levels)), key=lambda i: abs(cal.levels[i] - 0.7))
        logger.info("calibration on %d validation events: base temperature %.3f; coverage at "
                    "%.0f%%: %.3f -> %.3f", cal.n_events, cal.temperature,
                    100 * cal.levels[i70], cal.coverage_before[i70], cal.coverage_after[i70])

    def _write_bundle(self, stopped: str) -> Optional[pathlib.Path]:
        """Write ``model.pt`` from the best validation weights (rank 0)."""
        if not self.ctx.is_main:
            return None
        best = self.ckpt_dir / "best.pt"
        model = copy.deepcopy(self.model)
        if best.exists():
            model.load_state_dict(load_checkpoint(best)["model"])
        model.eval()
        if model.kind == "flow" and self.config.calibrate:
            self._calibrate(model)
        bundle = ModelBundle(
            encoder=model.encoder, head=model.head, kind=model.kind,
            feature_config=self.feature_config, feature_indices=self.feature_indices,
            normalization=self.normalization, training=self.summary(stopped))
        path = save_bundle(bundle, self.out_dir / "model.pt")
        logger.info("wrote model bundle %s", path)
        return path


def train(data: Union[str, pathlib.Path], out_dir: Union[str, pathlib.Path],
          config: Optional[TrainConfig] = None, resume: bool = False, **overrides: Any
          ) -> TrainResult:
    """Train a model on a converted folder; returns the :class:`TrainResult`.

    ``overrides`` replace fields of ``config`` (default :class:`TrainConfig`).
    """
    config = (config or TrainConfig()).replace(**overrides) if overrides else (
        config or TrainConfig())
    return Trainer(data, out_dir, config, resume=resume).run()
