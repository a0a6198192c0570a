"""Turning the accepted input forms into a checked packed batch ``(x [N_total, D], seqlens [B])``.

Accepted: the original form (a list of ``[1, L_i, D]`` or ``[L_i, D]`` tensors, with or without
``datalens``), the packed form (``x [N_total, D]`` with ``seqlens [B]``), and a dense
``[B, L, D]`` tensor whose ``datalens`` are all ``L``.
"""

from __future__ import annotations

from typing import Sequence, Union

import torch

from ...core.batch import segment_ids

Lengths = Union[torch.Tensor, Sequence[int], None]


def _events(indices: torch.Tensor, limit: int = 10) -> str:
    idx = indices.tolist()
    more = f" (and {len(idx) - limit} more)" if len(idx) > limit else ""
    return f"{idx[:limit]}{more}"


def to_packed(
    data: Union[torch.Tensor, Sequence[torch.Tensor]], datalens: Lengths, input_dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked ``(x [N_total, D], seqlens [B] int64 on x.device)``.

    Raises ``ValueError`` naming the event index for zero-length events, a feature dimension
    other than ``input_dim``, non-finite values (NaN/inf), or lengths that disagree with
    ``datalens``.
    """
    if isinstance(data, torch.Tensor) and data.dim() == 2:
        if datalens is None:
            raise ValueError("packed input x [N_total, D] needs seqlens [B]")
        x, seqlens = data, torch.as_tensor(datalens, dtype=torch.int64, device=data.device)
    elif isinstance(data, torch.Tensor) and data.dim() == 3:
        x, seqlens = _from_dense(data, datalens)
    elif isinstance(data, (list, tuple)):
        x, seqlens = _from_list(data, datalens, input_dim)
    else:
        raise ValueError(
            "encoder input must be a list of [1, L_i, D] tensors, a packed [N_total, D] tensor, "
            f"or a dense [B, L, D] tensor; got {type(data).__name__}"
            + (f" with shape {tuple(data.shape)}" if isinstance(data, torch.Tensor) else "")
        )
    _check_packed(x, seqlens, input_dim)
    return x, seqlens


def _from_dense(data: torch.Tensor, datalens: Lengths) -> tuple[torch.Tensor, torch.Tensor]:
    b, length, d = data.shape
    seqlens = torch.full((b,), length, dtype=torch.int64, device=data.device)
    if datalens is not None:
        given = torch.as_tensor(datalens, dtype=torch.int64).to("cpu").reshape(-1)
        bad = (given != length).nonzero().squeeze(1)
        if given.shape[0] != b or bad.numel():
            raise ValueError(
                f"dense input [B={b}, L={length}, D] needs datalens all equal to {length}; "
                f"events {_events(bad)} differ (use a list or the packed form)"
            )
    return data.reshape(b * length, d), seqlens


def _from_list(
    data: Sequence[torch.Tensor], datalens: Lengths, input_dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    if not data:
        raise ValueError("empty batch: no events")
    rows = []
    for i, t in enumerate(data):
        if (
            not isinstance(t, torch.Tensor)
            or t.dim() not in (2, 3)
            or (t.dim() == 3 and t.shape[0] != 1)
        ):
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"event {i}: expected a [1, L, D] or [L, D] tensor, got {shape}")
        if t.shape[-1] != input_dim:
            raise ValueError(
                f"event {i}: feature dimension {t.shape[-1]} != encoder input_dim {input_dim}"
            )
        rows.append(t.reshape(-1, t.shape[-1]))
    seqlens = torch.tensor([r.shape[0] for r in rows], dtype=torch.int64, device=rows[0].device)
    if datalens is not None:
        given = torch.as_tensor(datalens, dtype=torch.int64).to("cpu").reshape(-1)
        if given.shape[0] != len(rows):
            raise ValueError(f"datalens has {given.shape[0]} entries for {len(rows)} events")
        bad = (given != seqlens.cpu()).nonzero().squeeze(1)
        if bad.numel():
            i = int(bad[0])
            raise ValueError(
                f"events {_events(bad)}: datalens disagree with the tensors "
                f"(event {i}: datalens {int(given[i])}, tensor length {int(seqlens[i])})"
            )
    return torch.cat(rows, 0), seqlens


def _check_packed(x: torch.Tensor, seqlens: torch.Tensor, input_dim: int) -> None:
    if seqlens.dim() != 1 or seqlens.shape[0] == 0:
        raise ValueError(
            f"seqlens must be a non-empty [B] tensor, got shape {tuple(seqlens.shape)}"
        )
    if x.shape[-1] != input_dim:
        raise ValueError(
            f"feature dimension {x.shape[-1]} != encoder input_dim {input_dim} (all events)"
        )
    lens = seqlens.cpu()
    empty = (lens <= 0).nonzero().squeeze(1)
    if empty.numel():
        raise ValueError(f"events {_events(empty)} have no DOM rows (length <= 0)")
    if int(lens.sum()) != x.shape[0]:
        raise ValueError(f"seqlens sum to {int(lens.sum())} but x has {x.shape[0]} rows")
    bad_rows = ~torch.isfinite(x).all(dim=1)
    if bool(bad_rows.any()):
        bad = torch.unique(segment_ids(seqlens)[bad_rows]).cpu()
        raise ValueError(f"events {_events(bad)} contain NaN or infinite input features")
