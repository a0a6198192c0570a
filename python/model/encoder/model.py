"""``LLPTransformerModel``: per-DOM rows of each event -> one encoding per event.

``x [N_total, D] --input_projector--> [N_total, C] --transformer_encoder (attention within each
event)--> [N_total, C] --aggregation--> [B, C'] --attention_to_output_mlp--> [B, output_dim]``.

Settings, parameter names and numerics are those of the original research model, so its
checkpoints load with ``strict=True``; attention runs on a packed batch with an exchangeable
backend (``xformers`` on CUDA, ``torch`` elsewhere, ``padded`` as reference).
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Sequence, Union

import torch
from torch import nn

from ...core.batch import segment_ids
from .aggregation import aggregate
from .attention import AttentionBackend, get_backend, select_backend
from .inputs import Lengths, to_packed
from .layer import EncoderLayer, EncoderStack
from .mlp import SkipMLP
from .projection import SelfProjector
from .settings import DTYPES, computational_dim, resolve_settings

logger = logging.getLogger(__name__)


class LLPTransformerModel(nn.Module):
    """Transformer encoder over the hit DOMs of each event (see the module docstring).

    ``LLPTransformerModel(**settings)`` takes the keys of the original ``settings`` section
    (:data:`~.settings.DEFAULT_SETTINGS`); an unknown key is a ``TypeError``, a bad value a
    ``ValueError``. ``attention_backend`` (keyword, not a setting) forces a backend by name.
    """

    def __init__(
        self, attention_backend: Union[str, AttentionBackend, None] = None, **settings: Any
    ) -> None:
        super().__init__()
        s = resolve_settings(settings)
        self._settings = s
        dtype = DTYPES[s["dtype"]]
        c = computational_dim(s)
        self.input_dim = s["input_dim"]
        self.output_dim = s["output_dim"]
        self.computational_dim = c
        self.aggregation_mode = s["attn_aggregation_mode"]
        self.use_weighted_mean = bool(s["attn_use_weighted_mean"])

        self.input_projector: nn.Module = (
            nn.Identity()
            if s["skip_input_projection"]
            else SelfProjector(
                s["input_dim"], c, s["io_mlp_hidden_dims"], bool(s["io_add_skip_connection"]), dtype
            )
        )
        self.extra_layer_norm = (
            nn.LayerNorm(c, dtype=dtype) if s["attn_use_extra_layer_norm"] else None
        )
        layers = [
            EncoderLayer(
                c,
                s["attn_num_heads_per_layer"],
                s["attn_internal_mlp_dim"],
                s["attn_dropout"],
                norm_first=bool(s["attn_layer_norm_first"]),
                use_layer_norm_1=bool(s["attn_use_layer_norm_1"]),
                use_layer_norm_2=bool(s["attn_use_layer_norm_2"]),
                residual_mode=s["attn_use_residual_addition"],
                do_perlayer_out_projection=bool(s["attn_do_perlayer_out_projection"]),
                dtype=dtype,
            )
            for _ in range(s["attn_num_layers"])
        ]
        self.transformer_encoder = EncoderStack(layers, norm=self.extra_layer_norm)
        self.attention_to_output_mlp = self._output_mapping(s, c, dtype)

        self._forced_backend: Union[str, AttentionBackend, None] = None
        self._fallback_logged: set[str] = set()
        self._used_backend: Optional[str] = None
        if attention_backend is not None:
            self.set_attention_backend(attention_backend)

    @staticmethod
    def _output_mapping(s: dict, c: int, dtype: torch.dtype) -> Optional[nn.Module]:
        """The original's final map; its input is the aggregated ``[B, C']``."""
        if not s["attn_perform_final_mapping"]:
            return None
        if s["attn_computational_dim"] != -1:
            agg = c * 2 if s["attn_aggregation_mode"] == "mean_n_diagonal" else c
            agg -= int(bool(s["attn_use_weighted_mean"]))
            return SkipMLP(
                agg,
                s["io_mlp_hidden_dims"],
                s["output_dim"],
                bool(s["io_add_skip_connection"]),
                dtype,
            )
        if s["attn_use_weighted_mean"]:
            return nn.Linear(c - 1, s["output_dim"], dtype=dtype)
        return nn.Identity()

    # ----------------------------------------------------------------------------- config
    @property
    def config(self) -> dict[str, Any]:
        """The settings dict (every key, as resolved), enough to rebuild this model."""
        return dict(self._settings)

    @property
    def dtype(self) -> torch.dtype:
        """The parameters' dtype (the ``dtype`` setting, unless the model was cast since)."""
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def encoding_dim(self) -> int:
        """Width of the aggregated output with the final mapping (``output_dim``, except for
        the original's identity mapping after ``mean_n_diagonal`` where it is ``2 C``)."""
        if isinstance(self.attention_to_output_mlp, nn.Identity):
            return self.aggregated_dim
        return self.output_dim

    @property
    def aggregated_dim(self) -> int:
        """Width of the aggregation before the final mapping."""
        if self.use_weighted_mean:
            return self.computational_dim - 1
        return self.computational_dim * (2 if self.aggregation_mode == "mean_n_diagonal" else 1)

    # --------------------------------------------------------------------------- backends
    def set_attention_backend(self, backend: Union[str, AttentionBackend, None]) -> None:
        """Force a backend: a name (``"xformers"``, ``"torch"``, ``"padded"``) or a backend
        object (e.g. ``BucketedAttention(BucketPolicy(...))``); ``None`` = automatic. A forced
        backend that cannot run where the model's tensors are raises at forward."""
        if isinstance(backend, str):
            get_backend(backend)  # validates the name now
        self._forced_backend = backend
        self._used_backend = None

    def _backend_for(self, device: torch.device) -> AttentionBackend:
        head_dim = self.computational_dim // int(self._settings["attn_num_heads_per_layer"])
        backend, note = select_backend(
            self._settings["attn_package"],
            device,
            _attention_dtype(device, self.dtype),
            self._forced_backend,
            head_dim,
        )
        if note is not None and note not in self._fallback_logged:
            self._fallback_logged.add(note)
            logger.info(note)
        self._used_backend = backend.name
        return backend

    @property
    def attention_backend(self) -> str:
        """Name of the backend used by the last forward (or that would run on the model's
        device, before the first forward)."""
        if self._used_backend is None:
            return self._backend_for(self.device).name
        return self._used_backend

    # ---------------------------------------------------------------------------- forward
    def forward(
        self,
        datavecs: Union[torch.Tensor, Sequence[torch.Tensor]],
        datalens: Lengths = None,
        perform_final_aggregation: bool = True,
        perform_final_mapping: Optional[bool] = None,
    ) -> torch.Tensor:
        """Encode a batch of events.

        ``datavecs``: a list of ``[1, L_i, D]`` tensors (``datalens [B]`` optional, checked),
        or packed ``x [N_total, D]`` with ``datalens = seqlens [B]``.
        Returns ``[B, encoding_dim]``; with ``perform_final_aggregation=False`` the per-DOM
        rows ``[N_total, C]`` in input order (``batch.unpack(out, seqlens)`` splits them),
        mapped row-wise when the final mapping is applied. ``perform_final_mapping`` defaults
        to ``attn_perform_final_mapping``.
        """
        x, seqlens = to_packed(datavecs, datalens, self.input_dim)
        if perform_final_mapping is None:
            perform_final_mapping = self.attention_to_output_mlp is not None
        if perform_final_mapping and self.attention_to_output_mlp is None:
            raise ValueError(
                "perform_final_mapping=True but this encoder was built with "
                "attn_perform_final_mapping=0 (no attention_to_output_mlp)"
            )
        x = x.to(self.dtype)
        backend = self._backend_for(x.device)
        plan = backend.plan(seqlens, x.device, x.dtype)

        def attend(qkv: torch.Tensor) -> torch.Tensor:
            return backend.attend(qkv, plan)

        y = self.transformer_encoder(self.input_projector(x), attend)
        if perform_final_aggregation:
            y = aggregate(
                y, seqlens, segment_ids(seqlens), self.aggregation_mode, self.use_weighted_mean
            )
        if perform_final_mapping and self.attention_to_output_mlp is not None:
            return self.attention_to_output_mlp(y)
        return y


def _attention_dtype(device: torch.device, dtype: torch.dtype) -> torch.dtype:
    """The dtype of q, k, v on ``device``: the autocast dtype inside an autocast region."""
    if device.type != "cuda":
        return dtype
    try:
        if torch.is_autocast_enabled("cuda"):
            return torch.get_autocast_dtype("cuda")
    except TypeError:  # torch < 2.4: no device_type argument
        if torch.is_autocast_enabled():
            return torch.get_autocast_gpu_dtype()
    return dtype
