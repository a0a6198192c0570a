"""The packed batch: all DOM rows of B events concatenated, the unit that flows through the core.

``x [N_total, D]`` holds the rows of event 0, then event 1, ...; ``seqlens [B]`` (int64) the
number of rows of each event; ``cu_seqlens [B+1]`` their cumulative sum starting at 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import torch


def cu_seqlens_from(seqlens: torch.Tensor) -> torch.Tensor:
    """``[B] -> [B+1]`` cumulative offsets, starting at 0, same dtype/device as ``seqlens``."""
    out = torch.zeros(seqlens.shape[0] + 1, dtype=seqlens.dtype, device=seqlens.device)
    torch.cumsum(seqlens, 0, out=out[1:])
    return out


def segment_ids(seqlens: torch.Tensor) -> torch.Tensor:
    """``[B] -> [N_total]``: the event index of each packed row."""
    return torch.repeat_interleave(torch.arange(seqlens.shape[0], device=seqlens.device), seqlens)


def pack(events: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate per-event ``[L_i, D]`` (or ``[1, L_i, D]``) tensors into ``(x, seqlens)``."""
    rows = [e.reshape(-1, e.shape[-1]) for e in events]
    seqlens = torch.tensor([r.shape[0] for r in rows], dtype=torch.int64, device=rows[0].device)
    return torch.cat(rows, 0), seqlens


def unpack(x: torch.Tensor, seqlens: torch.Tensor) -> list[torch.Tensor]:
    """Inverse of :func:`pack`: a list of ``[L_i, D]`` views."""
    return list(torch.split(x, seqlens.tolist(), 0))


def to_padded(
    x: torch.Tensor, seqlens: torch.Tensor, pad_value: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded reference form: ``([B, L_max, D], mask [B, L_max] True on real rows)``."""
    b = seqlens.shape[0]
    lmax = int(seqlens.max()) if b else 0
    mask = torch.arange(lmax, device=x.device)[None, :] < seqlens[:, None]
    out = x.new_full((b, lmax, x.shape[-1]), pad_value)
    out[mask] = x
    return out, mask


@dataclass
class PackedBatch:
    """A packed batch of events (see module docstring); optional targets and ids ride along."""

    x: torch.Tensor
    seqlens: torch.Tensor
    targets: Optional[torch.Tensor] = None  # [B, 6] metres
    run_id: Optional[torch.Tensor] = None  # [B] int64
    event_id: Optional[torch.Tensor] = None  # [B] int64
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.seqlens.dtype != torch.int64:
            self.seqlens = self.seqlens.to(torch.int64)
        n = int(self.seqlens.sum()) if self.seqlens.numel() else 0
        if self.x.dim() != 2 or self.x.shape[0] != n:
            raise ValueError(
                f"packed x has shape {tuple(self.x.shape)}, expected [{n}, D] from seqlens"
            )

    @property
    def cu_seqlens(self) -> torch.Tensor:
        return cu_seqlens_from(self.seqlens)

    @property
    def batch_size(self) -> int:
        return int(self.seqlens.shape[0])

    def ids(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(run_id, event_id)``, each ``[B]`` int64; ``ValueError`` for a batch without ids."""
        if self.run_id is None or self.event_id is None:
            raise ValueError("this packed batch carries no run/event ids")
        return self.run_id, self.event_id

    def to(
        self, device: Union[str, torch.device], dtype: Optional[torch.dtype] = None
    ) -> PackedBatch:
        def mv(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
            return None if t is None else t.to(device)

        x = self.x.to(device=device, dtype=dtype or self.x.dtype)
        tg = self.targets
        if tg is not None:
            tg = tg.to(device=device, dtype=dtype or tg.dtype)
        return PackedBatch(
            x, self.seqlens.to(device), tg, mv(self.run_id), mv(self.event_id), self.extra
        )
