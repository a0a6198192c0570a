"""Everything a run trains with, made from a :class:`TrainConfig`: process group, run folder,
file split, normalisation, loaders, model (DDP-wrapped under ``torchrun``), optimiser, LR
schedule and grad scaler; on resume the run state is restored from ``checkpoints/last.pt``.

The loaders of the package's training code are all made here (:func:`make_loader`).
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from typing import Optional, Union

import torch

from ..data.parquet import LoaderConfig, PackedLoader, compute_normalization, split_train_val
from ..data.parquet.convention import folder_feature_config
from ..data.parquet.normalization import Normalization
from ..data.parquet.reader import ConvertedFolder
from ..model.flow import ConditionalFlow
from ..model.flow.gap_prior import GapPriorTable
from .checkpoint import load_training_checkpoint, own_rng_state, seed_everything
from .config import TrainConfig
from .ddp import DistContext, barrier, broadcast_object, init_distributed
from .gap_prior import flat_gap_prior_of_files
from .model import build_model
from .schedule import build_scheduler
from .setup import RunSetup
from .state import RunState

logger = logging.getLogger(__name__)

#: offset between the seeds of the ranks' global generators
RANK_SEED_STRIDE = 1_000_003


@dataclasses.dataclass
class RunParts:
    """A run ready to train: its fixed setup, its state, the loaders of this rank and the
    module the training steps call (``state.model``, wrapped in DDP under ``torchrun``)."""

    setup: RunSetup
    state: RunState
    train_loader: PackedLoader
    val_loader: Optional[PackedLoader]  # None: no validation events (val_fraction 0)
    ddp_model: torch.nn.Module
    #: per-event loss weights of ``gap_prior="flat"`` (None: every event weighs 1)
    gap_weights: Optional[GapPriorTable] = None


def make_loader(setup: RunSetup, files: list[str], kind: str) -> PackedLoader:
    """A labelled loader over ``files``: ``"train"`` (shuffled, this rank's share, ranks
    equalised), ``"val"`` (in order, this rank's share) or ``"calibration"`` (in order, every
    file, 256 events per batch)."""
    cfg, ctx, norm, fi = setup.config, setup.ctx, setup.normalization, setup.feature_indices
    if kind == "calibration":
        once = LoaderConfig(
            batch_size=256,
            shuffle=False,
            world_size=1,
            rank=0,
            bad_events="skip",
            device=ctx.device,
        )
        return PackedLoader(files, once, norm, targets=True, feature_indices=fi)
    if kind not in ("train", "val"):
        raise ValueError(f"loader kind must be 'train', 'val' or 'calibration', got {kind!r}")
    train = kind == "train"
    loader_cfg = LoaderConfig(
        batch_size=cfg.batch_size,
        max_doms_per_batch=cfg.max_doms_per_batch,
        shuffle=train,
        seed=cfg.seed,
        shuffle_buffer=cfg.shuffle_buffer,
        rank=ctx.rank,
        world_size=ctx.world_size,
        num_workers=cfg.num_workers,
        equalize=None if train else False,
        bad_events="skip",
        device=ctx.device,
    )
    return PackedLoader(files, loader_cfg, norm, targets=True, feature_indices=fi)


def _resume_checkpoint(out_dir: pathlib.Path, resume: bool) -> Optional[dict]:
    last = out_dir / "checkpoints" / "last.pt"
    if not resume:
        if last.exists():
            raise FileExistsError(
                f"{out_dir} holds a run already ({last}); pass resume=True "
                "(--resume) to continue it or choose another folder"
            )
        return None
    if not last.exists():
        logger.warning("--resume: no checkpoint at %s; starting a fresh run", last)
        return None
    ck = load_training_checkpoint(last)
    logger.info("resuming from %s (epoch %d, step %d)", last, ck["epoch"], ck["global_step"])
    return ck


def _build_setup(
    data: str, out_dir: pathlib.Path, cfg: TrainConfig, ctx: DistContext, ck: Optional[dict]
) -> RunSetup:
    folder = ConvertedFolder(data)
    feature_indices = dict(folder.feature_indices)
    feature_config = folder_feature_config(folder)
    if ck is not None:
        train_files, val_files = ck["train_files"], ck["val_files"]
        normalization = Normalization(ck["normalization"])
    else:
        split = split_train_val(
            data,
            cfg.val_fraction,
            cfg.seed,
            out_dir / "split",
            write=ctx.is_main,
            pieces=ctx.world_size,
        )
        barrier(ctx)  # rank 0 writes the files of an event split
        train_files, val_files = split.train_files, split.val_files
        norm = None
        if ctx.is_main:
            norm = compute_normalization(train_files, feature_indices).to_dict()
        normalization = Normalization(broadcast_object(norm, ctx))
    logger.info("%d training files, %d validation files", len(train_files), len(val_files))
    return RunSetup(
        cfg,
        ctx,
        data,
        out_dir,
        folder.dim,
        train_files,
        val_files,
        normalization,
        feature_indices,
        feature_config,
    )


def _wrap_ddp(model: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    if not ctx.distributed:
        return model
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None
    )


def build_run(
    data: Union[str, pathlib.Path],
    out_dir: Union[str, pathlib.Path],
    cfg: TrainConfig,
    resume: bool = False,
) -> RunParts:
    """Make a run of ``cfg`` on the converted folder ``data`` in the run folder ``out_dir``.

    ``resume``: restore the state of ``out_dir/checkpoints/last.pt`` (a fresh run, with a
    warning, when there is none). Without it, a folder holding a checkpoint is an error.
    """
    ctx = init_distributed(cfg.device)
    out_dir = pathlib.Path(out_dir)
    if ctx.is_main:
        (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    barrier(ctx)
    ck = _resume_checkpoint(out_dir, resume)
    setup = _build_setup(str(data), out_dir, cfg, ctx, ck)
    train_loader = make_loader(setup, setup.train_files, "train")
    val_loader = make_loader(setup, setup.val_files, "val") if setup.val_files else None
    if val_loader is None:
        logger.warning(
            "no validation events: no early stopping, no LR plateau steps, no width "
            "calibration; the bundle holds the last weights"
        )

    seed_everything(cfg.seed)  # the same initial weights on every rank
    model = build_model(cfg, setup.data, setup.input_dim, setup.train_files, ck)
    model.to(ctx.device)
    ddp_model = _wrap_ddp(model, ctx)
    logger.info(
        "attention backend: %s; device %s; world size %d",
        model.encoder.attention_backend,
        ctx.device,
        ctx.world_size,
    )
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = RunState(
        model,
        optimizer,
        build_scheduler(optimizer, cfg, len(train_loader)),
        torch.amp.GradScaler("cuda", enabled=cfg.amp == "fp16" and ctx.device.type == "cuda"),
    )

    # Per-rank generators: dropout differs between ranks, reproducibly.
    seed_everything(cfg.seed + RANK_SEED_STRIDE * ctx.rank)
    if ck is not None:
        rng = own_rng_state(ck, ctx.rank, ctx.world_size)
        state.load_state_dict(dict(ck, rng=rng))
        if rng is None:  # another world size: a fresh stream per (rank, step), reproducible
            logger.info(
                "rank %d: checkpoint of world size %s, now %d: RNG reseeded",
                ctx.rank,
                ck.get("world_size"),
                ctx.world_size,
            )
            seed_everything(cfg.seed + RANK_SEED_STRIDE * ctx.rank + state.global_step)
    gap_weights = None
    if cfg.gap_prior == "flat" and isinstance(model.head, ConditionalFlow):
        # the flow keeps the table: its posterior moments are weighted back with it
        gap_weights = flat_gap_prior_of_files(setup.train_files)
        model.head.set_gap_prior(gap_weights)
    elif cfg.gap_prior == "flat":
        logger.info("gap_prior='flat' applies to flows; the point baseline trains unweighted")
    return RunParts(setup, state, train_loader, val_loader, ddp_model, gap_weights)
