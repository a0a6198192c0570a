"""Encoder + head as one module (what the optimiser and DDP see), and how a run builds it.

The head is the conditional flow (loss ``-log p(target | encoding)``) or the MSE point head.
The encoder may run under CUDA autocast; the head always runs in its own dtype (float64 flows
as in the original), outside autocast.
"""

from __future__ import annotations

import logging
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from ..data.parquet import read_data_file
from ..model.bundle import build_head
from ..model.encoder import LLPTransformerModel
from ..model.flow import ConditionalFlow
from ..model.point_head import PointHead
from .config import TrainConfig

logger = logging.getLogger(__name__)

#: the head on the encoder: the conditional flow, or the MSE point head
Head = Union[ConditionalFlow, PointHead]

#: ``TrainConfig.amp`` -> autocast dtype
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}


class GapRecoModel(nn.Module):
    """``forward(x [N_total, D], seqlens [B], targets [B, 6]) -> per-event loss [B]``."""

    def __init__(
        self,
        encoder: LLPTransformerModel,
        head: Head,
        kind: str,
        amp_dtype: Optional[torch.dtype] = None,
    ) -> None:
        super().__init__()
        if kind != ("flow" if isinstance(head, ConditionalFlow) else "point"):
            raise ValueError(f"kind {kind!r} does not match the head {type(head).__name__}")
        self.encoder, self.head, self.kind = encoder, head, kind
        self.amp_dtype = amp_dtype

    def encode(self, x: torch.Tensor, seqlens: torch.Tensor) -> torch.Tensor:
        if self.amp_dtype is not None and x.device.type == "cuda":
            with torch.autocast("cuda", dtype=self.amp_dtype):
                return self.encoder(x, seqlens).float()
        return self.encoder(x, seqlens)

    def forward(
        self, x: torch.Tensor, seqlens: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        enc = self.encode(x, seqlens)
        with torch.autocast(x.device.type, enabled=False):
            if isinstance(self.head, ConditionalFlow):
                return -self.head.log_prob(targets.to(self.head.dtype), enc.to(self.head.dtype))
            return self.head.loss(targets, enc)


def first_labels(files: list[str], n: int) -> torch.Tensor:
    """The first ``n`` training labels ``[n, 6]`` (metres), in file order."""
    out, have = [], 0
    for f in files:
        tg = read_data_file(f, targets=True, bad_events="skip").targets
        if tg is None:
            raise ValueError(f"{f}: no targets")
        out.append(tg)
        have += tg.shape[0]
        if have >= n:
            break
    return torch.from_numpy(np.concatenate(out)[:n])


def build_model(
    cfg: TrainConfig,
    data: str,
    input_dim: int,
    train_files: list[str],
    checkpoint: Optional[dict] = None,
) -> GapRecoModel:
    """A new model for the folder ``data`` (``input_dim`` features per DOM), its head initialised
    from the first ``cfg.init_labels`` labels of ``train_files``; with ``checkpoint``, the
    architecture stored there (weights not loaded: the run state restores them)."""
    if checkpoint is not None:
        enc_settings = checkpoint["encoder_config"]
        head_cfg, kind = checkpoint["head_config"], checkpoint["kind"]
    else:
        enc_settings = dict(cfg.encoder)
        if enc_settings.setdefault("input_dim", input_dim) != input_dim:
            raise ValueError(
                f"encoder input_dim={enc_settings['input_dim']} but {data} has "
                f"{input_dim} features per DOM"
            )
        head_cfg, kind = None, "flow" if cfg.loss == "flow" else "point"
    encoder = LLPTransformerModel(**enc_settings)
    if head_cfg is None:
        head_cfg = {"conditional_input_dim": encoder.encoding_dim}
        if kind == "flow":
            head_cfg = dict(
                cfg.flow, conditional_input_dim=encoder.encoding_dim, dtype=cfg.flow_dtype
            )
    head = build_head(kind, head_cfg)
    if checkpoint is None:
        labels = first_labels(train_files, cfg.init_labels)
        head.init_from_labels(labels, seed=cfg.seed)
        logger.info("head initialised from %d training labels", labels.shape[0])
    return GapRecoModel(encoder, head, kind, AMP_DTYPES[cfg.amp])
