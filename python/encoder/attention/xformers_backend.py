"""The xformers backend: ``memory_efficient_attention`` with a block-diagonal mask (CUDA)."""

from __future__ import annotations

import importlib
from typing import Any, Optional

import torch


def _fmha() -> Any:
    return importlib.import_module("xformers.ops.fmha")


class XformersAttention:
    """One kernel call over the packed batch; ``BlockDiagonalMask`` keeps events apart."""

    name = "xformers"

    def unavailable_reason(self, device: torch.device, dtype: torch.dtype) -> Optional[str]:
        if device.type != "cuda":
            return f"xformers has no kernels for device '{device.type}'"
        if dtype not in (torch.float32, torch.float16, torch.bfloat16):
            return f"xformers has no kernels for {dtype}"
        try:
            _fmha()
        except Exception as err:  # ImportError, or a broken build raising at import
            return f"xformers does not import ({type(err).__name__}: {err})"
        return None

    def plan(self, seqlens: torch.Tensor, device: torch.device, dtype: torch.dtype) -> Any:
        return _fmha().BlockDiagonalMask.from_seqlens([int(n) for n in seqlens.tolist()])

    def attend(self, qkv: torch.Tensor, plan: Any) -> torch.Tensor:
        q, k, v = qkv[None].unbind(2)  # each [1, N_total, H, d]
        return _fmha().memory_efficient_attention(q, k, v, attn_bias=plan)[0]
