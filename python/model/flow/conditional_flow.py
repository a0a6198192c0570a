"""The conditional 6D normalizing flow: an amortisation MLP predicts every layer's parameters.

Native PyTorch re-implementation of the original ``jammy_flows.pdf("e6", "gggggt", ...)`` with
``cov_type="full"``, ``fit_normalization=0`` and bounded widths (see ``resources/docs/flow.md``):
same parameter layout, same state-dict keys (``mlp_predictors.0.0.*``, ``mlp_predictors.0.2.*``),
same log density. Optional label standardisation (``x_std = (x - label_offset) / label_scale``)
lives in non-persistent buffers that are part of ``.config``, so an original state dict still
loads with ``strict=True``.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .brightness_width import BrightnessWidth
from .g_layer import GParams
from .gap_prior import GapPriorTable, gap_lengths
from .init import init_from_labels
from .layout import LayerSlot, build_layout
from .level_map import LevelMap
from .region_tilt import RegionTilt
from .summary import PosteriorSummary, summarize
from .t_layer import TParams

logger = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
LayerParams = Tuple[Optional[torch.Tensor], Union[GParams, TParams]]


def _dtype_name(dtype: Union[str, torch.dtype]) -> str:
    name = dtype if isinstance(dtype, str) else str(dtype).replace("torch.", "")
    if name not in _DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return name


class ConditionalFlow(nn.Module):
    """``p(x | encoding)``, ``x`` in label units (metres), ``encoding [B, conditional_input_dim]``.

    Args:
        flow_defs: layers from the base outward, e.g. ``"gggggt"``; the last one models an offset.
        conditional_input_dim: encoding size D.
        dim: target dimension (6: production and decay vertex).
        mlp_hidden_dims: hidden sizes of the amortisation MLP (Tanh between Linear layers).
        n_kernels: logistic kernels per dimension in each g layer.
        g_width_min, g_width_max: kernel width bounds of the g layers.
        t_width_min, t_width_max: bounds of the t layer's Cholesky diagonal.
        label_standardization: model standardised labels (recommended for new models; the
            original convention is ``False``).
        label_offset, label_scale: standardisation constants [dim] (set by ``init_from_labels``).
        base_temperature: width ``T`` of the base Gaussian, ``N(0, T^2 I)``: 1 in training and
            in the original model; a calibrated bundle stores the ``T`` fitted on validation
            events (``evaluation.calibration``), ``T > 1`` widening every posterior.
        temperature_weights: ``[bias, w_1 .. w_D]`` of an event-dependent width: event ``i``
            has temperature ``base_temperature * exp(bias + w . encoding_i)``
            (``evaluation.event_temperature``); ``None``: the same ``T`` for every event.
        brightness_width: a further width factor ``exp(g(s(encoding)))`` (:class:`.BrightnessWidth`
            config, fitted on validation events); needs ``temperature_weights``.
        gap_prior: the gap-length loss weights the flow was trained with
            (:class:`~.gap_prior.GapPriorTable` config); summaries weight the samples back with
            them for the posterior moments. ``None``: trained unweighted.
        level_map: the flow's HDR levels at nominal ``0, 1/K, ..., 1`` (:class:`.LevelMap`,
            fitted on validation events); ``None``: the nominal level is the HDR level.
        region_tilt: the gap-length tilt of the reported regions (:class:`.RegionTilt` config,
            fitted on validation events): the regions are the HDR of ``p(x) exp(h(L(x)))``;
            ``None``: of ``p`` itself.
        dtype: parameter dtype, ``"float64"`` (training, as the original) or ``"float32"``.
    """

    label_offset: torch.Tensor  # [dim] float64 buffer, metres
    label_scale: torch.Tensor  # [dim] float64 buffer, metres
    region_tilt: Optional[RegionTilt]
    mlp_predictors: nn.ModuleList

    def __init__(
        self,
        flow_defs: str = "gggggt",
        conditional_input_dim: int = 100,
        dim: int = 6,
        mlp_hidden_dims: Sequence[int] = (128,),
        n_kernels: int = 10,
        g_width_min: float = 0.01,
        g_width_max: float = 1.0,
        t_width_min: float = 0.01,
        t_width_max: float = 100.0,
        label_standardization: bool = True,
        label_offset: Optional[Sequence[float]] = None,
        label_scale: Optional[Sequence[float]] = None,
        dtype: Union[str, torch.dtype] = "float64",
        base_temperature: float = 1.0,
        temperature_weights: Optional[Sequence[float]] = None,
        gap_prior: Optional[Dict[str, Any]] = None,
        level_map: Optional[Sequence[float]] = None,
        region_tilt: Optional[Dict[str, Any]] = None,
        brightness_width: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__()
        self.flow_defs = flow_defs
        self.conditional_input_dim = int(conditional_input_dim)
        self.dim = int(dim)
        self.mlp_hidden_dims = [int(h) for h in mlp_hidden_dims]
        self.n_kernels = int(n_kernels)
        self.g_width_min, self.g_width_max = float(g_width_min), float(g_width_max)
        self.t_width_min, self.t_width_max = float(t_width_min), float(t_width_max)
        self.label_standardization = bool(label_standardization)
        self.base_temperature = float(base_temperature)
        if not (math.isfinite(self.base_temperature) and self.base_temperature > 0):
            raise ValueError(f"base_temperature must be finite and > 0, got {base_temperature!r}")
        self.temperature_weights: Optional[torch.Tensor] = None
        self.set_temperature_weights(temperature_weights)
        self.gap_prior: Optional[GapPriorTable] = None
        self.set_gap_prior(None if gap_prior is None else GapPriorTable(**gap_prior))
        self.level_map: Optional[LevelMap] = None if level_map is None else LevelMap(level_map)
        self.region_tilt = None if region_tilt is None else RegionTilt(**region_tilt)
        self.brightness_width = BrightnessWidth(**brightness_width) if brightness_width else None
        slots, n_params = build_layout(flow_defs, self.dim, self.n_kernels)
        self.slots: List[LayerSlot] = slots
        self.n_params: int = n_params

        sizes = [self.conditional_input_dim, *self.mlp_hidden_dims, self.n_params]
        mods: List[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            mods.append(nn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                mods.append(nn.Tanh())
        self.mlp_predictors = nn.ModuleList([nn.Sequential(*mods)])

        offset, scale = (torch.as_tensor([v] * self.dim if given is None else given,
                                         dtype=torch.float64)
                         for given, v in ((label_offset, 0.0), (label_scale, 1.0)))  # fmt: skip
        if offset.shape != (self.dim,) or scale.shape != (self.dim,) or bool((scale <= 0).any()):
            raise ValueError(f"label_offset/label_scale must have shape ({self.dim},), scale > 0")
        self.register_buffer("label_offset", offset.to(torch.float64), persistent=False)
        self.register_buffer("label_scale", scale.to(torch.float64), persistent=False)
        # the standardisation constants stay float64 (metres) whatever the network dtype
        self.mlp_predictors.to(_DTYPES[_dtype_name(dtype)])

    # ------------------------------------------------------------------ construction
    @property
    def dtype(self) -> torch.dtype:
        first = self._mlp[0]
        assert isinstance(first, nn.Linear)
        return first.weight.dtype

    @property
    def _mlp(self) -> nn.Sequential:
        """The amortisation MLP (``mlp_predictors.0``, the original parameter names)."""
        mlp = self.mlp_predictors[0]
        assert isinstance(mlp, nn.Sequential)
        return mlp

    @property
    def config(self) -> Dict[str, Any]:
        """Plain-data keyword arguments that rebuild this flow: ``ConditionalFlow(**config)``."""
        return {
            "flow_defs": self.flow_defs,
            "conditional_input_dim": self.conditional_input_dim,
            "dim": self.dim,
            "mlp_hidden_dims": list(self.mlp_hidden_dims),
            "n_kernels": self.n_kernels,
            "g_width_min": self.g_width_min,
            "g_width_max": self.g_width_max,
            "t_width_min": self.t_width_min,
            "t_width_max": self.t_width_max,
            "label_standardization": self.label_standardization,
            "label_offset": [float(v) for v in self.label_offset],
            "label_scale": [float(v) for v in self.label_scale],
            "dtype": _dtype_name(self.dtype),
            "base_temperature": self.base_temperature,
            "temperature_weights": (
                None
                if self.temperature_weights is None
                else [float(v) for v in self.temperature_weights]
            ),
            "gap_prior": None if self.gap_prior is None else self.gap_prior.config(),
            "level_map": None if self.level_map is None else self.level_map.config(),
            "region_tilt": None if self.region_tilt is None else self.region_tilt.config(),
            "brightness_width": self.brightness_width and self.brightness_width.config(),
        }

    @classmethod
    def from_original_state_dict(
        cls,
        state_dict: Dict[str, torch.Tensor],
        conditional_input_dim: Optional[int] = None,
        **kwargs: Any,
    ) -> ConditionalFlow:
        """Flow in the original convention (no standardisation) with an original ``flow_best.pth``;
        ``conditional_input_dim`` defaults to the first Linear's input size; loading is strict."""
        first = state_dict["mlp_predictors.0.0.weight"]
        d = int(first.shape[1]) if conditional_input_dim is None else int(conditional_input_dim)
        kwargs.setdefault("dtype", _dtype_name(first.dtype))
        kwargs.setdefault("label_standardization", False)
        flow = cls(conditional_input_dim=d, **kwargs)
        flow.load_state_dict(state_dict, strict=True)
        return flow

    def set_label_standardization(self, offset: torch.Tensor, scale: torch.Tensor) -> None:
        """Store standardisation constants [dim] (label units)."""
        if not self.label_standardization:
            raise ValueError("this flow was built with label_standardization=False")
        self.label_offset.copy_(torch.as_tensor(offset, dtype=torch.float64))
        self.label_scale.copy_(torch.as_tensor(scale, dtype=torch.float64))

    def set_temperature_weights(self, weights: Optional[Sequence[float]]) -> None:
        """Set (``[bias, w_1 .. w_D]``) or clear (``None``) the event-dependent width."""
        if weights is None:
            self.temperature_weights = None
            return
        w = torch.as_tensor(weights, dtype=torch.float64).flatten()
        if w.shape != (self.conditional_input_dim + 1,) or not bool(torch.isfinite(w).all()):
            raise ValueError(
                f"temperature_weights must be {self.conditional_input_dim + 1} finite numbers "
                f"(bias, then one per encoding channel), got shape {tuple(w.shape)}"
            )
        self.temperature_weights = w

    def set_gap_prior(self, table: Optional[GapPriorTable]) -> None:
        """Set or clear (``None``) the gap-length loss weights the flow was trained with."""
        self.gap_prior = table

    def event_factor(self, encoding: torch.Tensor) -> Optional[torch.Tensor]:
        """``exp(bias + w . encoding + g)`` ``[B]`` (float64) of the event-dependent width (``g``:
        the :class:`.BrightnessWidth` term, 0 without one), or ``None`` when the flow has one
        width for all events."""
        w = self.temperature_weights
        if w is None:
            return None
        w, term = w.to(encoding.device), self.brightness_width
        log_f = w[0] + encoding.to(torch.float64) @ w[1:]
        return torch.exp(log_f if term is None else log_f + term(encoding))

    def temperature(
        self, encoding: torch.Tensor, base: Optional[float] = None
    ) -> Union[float, torch.Tensor]:
        """Base-distribution width of each event: ``base`` (default: the flow's
        ``base_temperature``) times the event factor, ``[B]`` in the flow dtype; a float when
        the flow has one width for all events."""
        t = self.base_temperature if base is None else float(base)
        factor = self.event_factor(encoding)
        return t if factor is None else (t * factor).to(self.dtype)

    # ------------------------------------------------------------------ parameters
    def flow_parameters(self, encoding: torch.Tensor) -> torch.Tensor:
        """The per-event parameter vector ``[B, n_params]`` predicted by the MLP."""
        if encoding.dim() != 2 or encoding.shape[1] != self.conditional_input_dim:
            raise ValueError(
                f"encoding must have shape [B, {self.conditional_input_dim}], "
                f"got {tuple(encoding.shape)}"
            )
        return self.mlp_predictors[0](encoding.to(self.dtype))

    def layer_parameters(self, theta: torch.Tensor) -> List[LayerParams]:
        """Split ``theta [B, n_params]`` into ``(offset or None, layer)``, base outward."""
        out: List[LayerParams] = []
        for slot in self.slots:
            block = theta[:, slot.start : slot.stop]
            offset = None
            if slot.has_offset:
                offset, block = block[:, : self.dim], block[:, self.dim :]
            if slot.kind == "g":
                layer: Union[GParams, TParams] = GParams.from_vector(
                    block,
                    self.dim,
                    self.n_kernels,
                    self.g_width_min,
                    self.g_width_max,
                    slot.inverse_normal,
                )
            else:
                layer = TParams.from_vector(block, self.dim, self.t_width_min, self.t_width_max)
            out.append((offset, layer))
        return out

    # ------------------------------------------------------------------ transforms
    @staticmethod
    def _offset(offset: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return offset.reshape(offset.shape[:1] + (1,) * (x.dim() - 2) + offset.shape[1:])

    def to_base(
        self, x_std: torch.Tensor, layers: List[LayerParams]
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Standardised labels ``[B, ..., dim]`` -> base point, ``log|det dz/dx|`` ``[B, ...]``."""
        logdet = x_std.new_zeros(x_std.shape[:-1])
        for offset, layer in reversed(layers):
            if offset is not None:
                x_std = x_std - self._offset(offset, x_std)
            x_std, ld = layer.to_base(x_std)
            logdet = logdet + ld
        return x_std, logdet

    def from_base(
        self, z: torch.Tensor, layers: List[LayerParams], tol: Optional[float] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Base points ``[B, ..., dim]`` -> standardised labels and ``log|det dx/dz|``."""
        logdet = z.new_zeros(z.shape[:-1])
        for offset, layer in layers:
            z, ld = layer.from_base(z, tol) if isinstance(layer, GParams) else layer.from_base(z)
            logdet = logdet + ld
            if offset is not None:
                z = z + self._offset(offset, z)
        return z, logdet

    def _standardize(self, x: torch.Tensor) -> torch.Tensor:
        if not self.label_standardization:
            return x
        return (x - self.label_offset.to(x.dtype)) / self.label_scale.to(x.dtype)

    def _unstandardize(self, x: torch.Tensor) -> torch.Tensor:
        if not self.label_standardization:
            return x
        return x * self.label_scale.to(x.dtype) + self.label_offset.to(x.dtype)

    def _log_scale(self) -> torch.Tensor:
        if not self.label_standardization:
            return torch.zeros((), dtype=self.dtype)
        return self.label_scale.log().sum().to(self.dtype)

    # ------------------------------------------------------------------ public API
    def log_prob(self, x: torch.Tensor, encoding: torch.Tensor) -> torch.Tensor:
        """``log p(x | encoding)`` in label units (log 1/m^dim); ``x [B, ..., dim] -> [B, ...]``."""
        if x.shape[0] != encoding.shape[0] or x.shape[-1] != self.dim:
            raise ValueError(
                f"x must be [B, ..., {self.dim}] with B = {encoding.shape[0]}, got {tuple(x.shape)}"
            )
        z, log_jac = self.base_point(x, encoding)
        return self.log_base(z, self.temperature(encoding)) + log_jac

    def region_score(self, x: torch.Tensor, encoding: torch.Tensor) -> torch.Tensor:
        """``log p(x) + h(L(x))`` with the flow's :class:`.RegionTilt` (``log_prob`` without one),
        ``x [B, dim]`` (m) ``-> [B]``: ``x`` is inside the reported ``alpha`` region iff it is at
        least the summary's ``logp_threshold_*``."""
        log_p = self.log_prob(x, encoding)
        if self.region_tilt is None:
            return log_p
        return log_p + self.region_tilt(gap_lengths(x)).to(log_p.dtype)

    def base_point(
        self, x: torch.Tensor, encoding: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Labels ``x [B, ..., dim]`` (metres) -> base points ``z`` and ``log|dz/dx|`` (per m^dim)
        ``[B, ...]``: ``log p(x) = log_base(z) + log|dz/dx|`` at any base temperature."""
        layers = self.layer_parameters(self.flow_parameters(encoding))
        z, logdet = self.to_base(self._standardize(x.to(self.dtype)), layers)
        return z, logdet - self._log_scale()

    def log_base(
        self, z: torch.Tensor, temperature: Union[None, float, torch.Tensor] = None
    ) -> torch.Tensor:
        """``log N(z; 0, T^2 I)`` of base points ``[B, ..., dim] -> [B, ...]``; ``T``: a float,
        one per event ``[B]``, or the flow's base temperature when not given."""
        half_log_2pi = 0.5 * math.log(2 * math.pi)
        if isinstance(temperature, torch.Tensor):
            t = temperature.to(z.dtype)
            t = t.reshape(t.shape + (1,) * (z.dim() - 1 - t.dim()))
            return -0.5 * (z**2).sum(-1) / t**2 - self.dim * (torch.log(t) + half_log_2pi)
        s = self.base_temperature if temperature is None else float(temperature)
        return -0.5 * (z**2).sum(-1) / s**2 - self.dim * (math.log(s) + half_log_2pi)

    def sample_base(
        self, z: torch.Tensor, encoding: torch.Tensor, tol: Optional[float] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Push standard-normal points ``z [B, n, dim]`` (scaled by each event's temperature)
        through the flow: samples in label units and their ``log p`` ``[B, n]``."""
        layers = self.layer_parameters(self.flow_parameters(encoding))
        t = self.temperature(encoding)
        scale = t[:, None, None] if isinstance(t, torch.Tensor) else t
        z = z.to(self.dtype) * scale
        x_std, logdet = self.from_base(z, layers, tol)
        return self._unstandardize(x_std), self.log_base(z, t) - logdet - self._log_scale()

    def sample(
        self,
        encoding: torch.Tensor,
        n: int,
        generator: Optional[torch.Generator] = None,
        tol: Optional[float] = None,
    ) -> torch.Tensor:
        """``n`` samples per event, ``[B, n, dim]`` in label units (reparameterised)."""
        shape = (encoding.shape[0], n, self.dim)
        z = torch.randn(shape, generator=generator, dtype=self.dtype, device=encoding.device)
        return self.sample_base(z, encoding, tol)[0]

    def init_from_labels(
        self, labels: torch.Tensor, seed: int = 0, damping_factor: float = 1000.0
    ) -> None:
        """Data-driven initialisation (the original ``init_params``); see ``flow.init``."""
        init_from_labels(self, labels, seed=seed, damping_factor=damping_factor)

    def summarize(
        self, encoding: torch.Tensor, n_samples: int = 512, seed: int = 0, **kwargs: Any
    ) -> PosteriorSummary:
        """Posterior summary per event (quasi-Monte Carlo); see ``flow.summary.summarize``."""
        return summarize(self, encoding, n_samples=n_samples, seed=seed, **kwargs)
