"""Choosing the attention backend: the configured preference, what runs here, a forced name."""

from __future__ import annotations

import logging
from typing import Optional, Union

import torch

from .base import AttentionBackend
from .bucketed import BucketedAttention
from .padded import PaddedAttention
from .xformers_backend import XformersAttention

logger = logging.getLogger(__name__)

#: backend name -> factory
BACKENDS = {
    "xformers": XformersAttention,
    "torch": BucketedAttention,
    "padded": PaddedAttention,
}

#: ``attn_package`` values of the original code -> the backend they prefer here
PREFERENCE = {
    "xformers": "xformers",
    "flash_attn": "xformers",
    "torch": "torch",
    "custom_pytorch": "torch",
    "official_pytorch_w_weights": "torch",
    "nested": "torch",
    "geometric_scatter": "torch",
    "padded": "padded",
}


def get_backend(name: str) -> AttentionBackend:
    """The backend called ``name`` (one of :data:`BACKENDS`)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown attention backend {name!r}; choose from {sorted(BACKENDS)}")
    return BACKENDS[name]()


def select_backend(
    attn_package: str,
    device: torch.device,
    dtype: torch.dtype,
    forced: Union[str, AttentionBackend, None] = None,
    head_dim: Optional[int] = None,
) -> tuple[AttentionBackend, Optional[str]]:
    """``(backend, fallback_note)``: ``forced`` if given (a name or a backend object; an error
    if it cannot run here), else the preference of ``attn_package``, else ``torch``; the note
    says why a preference was not honoured (``None`` when it was). ``dtype`` is that of the
    attention inputs (the autocast dtype under autocast), ``head_dim`` their channels per head."""
    if forced is not None:
        backend = get_backend(forced) if isinstance(forced, str) else forced
        reason = backend.unavailable_reason(device, dtype, head_dim)
        if reason is not None:
            raise RuntimeError(
                f"attention backend {backend.name!r} was forced but cannot run: {reason}"
            )
        return backend, None
    preferred = get_backend(PREFERENCE.get(attn_package, "torch"))
    reason = preferred.unavailable_reason(device, dtype, head_dim)
    if reason is None:
        return preferred, None
    return get_backend("torch"), (
        f"attn_package={attn_package!r} prefers the {preferred.name!r} attention backend, "
        f"which cannot run here ({reason}); using 'torch'"
    )
