"""Parameter-vector layout of a layered g/t flow, identical to the original ("gggggt": 807).

Layers are listed from the base outward (``flow_defs[0]`` touches the standard normal). The
amortisation network predicts one vector per event, ``[layer_0 | layer_1 | ... | layer_last]``:

* g layer: ``dim*dim`` Householder entries (row k is v_k), ``K*dim`` kernel means (kernel-major),
  ``K*dim`` raw log-widths (same shape);
* t layer: ``dim`` raw log-diagonal entries, ``dim*(dim-1)/2`` strictly-lower entries of L;
* the last layer is preceded by ``dim`` offsets (its "model offset").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple


@dataclass(frozen=True)
class LayerSlot:
    """Where one layer's parameters live in the per-event vector."""

    kind: str  #: "g" or "t"
    index: int  #: position from the base outward
    start: int  #: first entry (including the offset, if any)
    stop: int
    has_offset: bool  #: the last layer models an offset (first ``dim`` entries)
    inverse_normal: bool  #: a g layer next to the base uses Phi^-1 instead of logit


def g_layer_size(dim: int, n_kernels: int) -> int:
    return dim * dim + 2 * n_kernels * dim


def t_layer_size(dim: int) -> int:
    return dim + dim * (dim - 1) // 2


def build_layout(flow_defs: str, dim: int, n_kernels: int) -> Tuple[List[LayerSlot], int]:
    """Slots of all layers and the total parameter count."""
    if not flow_defs or set(flow_defs) - {"g", "t"}:
        raise ValueError(
            f"flow_defs must be a non-empty string of 'g'/'t' layers, got {flow_defs!r}"
        )
    slots: List[LayerSlot] = []
    start = 0
    last = len(flow_defs) - 1
    for i, kind in enumerate(flow_defs):
        size = g_layer_size(dim, n_kernels) if kind == "g" else t_layer_size(dim)
        has_offset = i == last
        size += dim if has_offset else 0
        # the original switches the first g layer to Phi^-1 only if it is not also the last one
        inverse_normal = kind == "g" and i == 0 and i != last
        slots.append(LayerSlot(kind, i, start, start + size, has_offset, inverse_normal))
        start += size
    return slots, start
