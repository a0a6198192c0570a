"""The xformers backend: ``memory_efficient_attention`` with a block-diagonal mask (CUDA)."""

from __future__ import annotations

import importlib
from typing import Any, Optional

import torch

#: probe results per (device, dtype, head_dim): None = runs, else the reason it does not
_PROBED: dict[tuple[str, torch.dtype, Optional[int]], Optional[str]] = {}


def _fmha() -> Any:
    return importlib.import_module("xformers.ops.fmha")


def _probe(device: torch.device, dtype: torch.dtype, head_dim: int) -> Optional[str]:
    """Run one tiny call: an xformers build without kernels for this GPU, dtype or head size
    imports fine but raises ``NotImplementedError`` at the first call."""
    fmha = _fmha()
    q = torch.zeros(1, 3, 1, head_dim, device=device, dtype=dtype)
    try:
        with torch.no_grad(), torch.autocast(device.type, enabled=False):
            mask = fmha.BlockDiagonalMask.from_seqlens([2, 1])
            fmha.memory_efficient_attention(q, q, q, attn_bias=mask)
    except Exception as err:  # NotImplementedError (no operator), or a CUDA error
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return (
            f"xformers cannot run {dtype} heads of {head_dim} here ({type(err).__name__}: {first})"
        )
    return None


class XformersAttention:
    """One kernel call over the packed batch; ``BlockDiagonalMask`` keeps events apart."""

    name = "xformers"

    def unavailable_reason(
        self, device: torch.device, dtype: torch.dtype, head_dim: Optional[int] = None
    ) -> Optional[str]:
        if device.type != "cuda":
            return f"xformers has no kernels for device '{device.type}'"
        if dtype not in (torch.float32, torch.float16, torch.bfloat16):
            return f"xformers has no kernels for {dtype}"
        try:
            _fmha()
        except Exception as err:  # ImportError, or a broken build raising at import
            return f"xformers does not import ({type(err).__name__}: {err})"
        if head_dim is None:
            return None
        key = (str(device), dtype, int(head_dim))
        if key not in _PROBED:
            _PROBED[key] = _probe(device, dtype, int(head_dim))
        return _PROBED[key]

    def plan(self, seqlens: torch.Tensor, device: torch.device, dtype: torch.dtype) -> Any:
        return _fmha().BlockDiagonalMask.from_seqlens([int(n) for n in seqlens.tolist()])

    def attend(self, qkv: torch.Tensor, plan: Any) -> torch.Tensor:
        q, k, v = qkv[None].unbind(2)  # each [1, N_total, H, d]
        return _fmha().memory_efficient_attention(q, k, v, attn_bias=plan)[0]
