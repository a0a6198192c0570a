"""The model bundle: one ``.pt`` file holding everything needed to reconstruct.

The file is a plain nested dict of tensors, strings, numbers, lists and dicts, written with
``torch.save`` and read with ``torch.load(weights_only=True)``, so loading never executes code::

    format: "llp_gap_reco.model_bundle"      format_version: 1      package_version: "0.1.0"
    kind: "flow" | "point"                   # point: the MSE baseline (no posterior)
    encoder: {config: LLPTransformerModel settings, state_dict}
    flow:    {config: ConditionalFlow kwargs (incl. label standardisation), state_dict}  # flow
    point_head: {config, state_dict}                                                    # point
    features: {config: FeatureExtractor config, feature_indices: group -> columns}
    normalization: group -> {offset, scale}          # x_new = (x - offset) * scale
    label_standardization: {offset: [6], scale: [6]} | None   # metres; also inside the head
    training: free-form summary (plain data)

See ``resources/docs/bundle.md``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import pickle
import zipfile
from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np
import torch

from ..core.atomic import atomic_torch_save
from ..core.batch import PackedBatch
from ..core.errors import InputError
from ..core.version import __version__
from ..data.features import FeatureExtractor
from ..data.features.convention import convention_of
from ..data.parquet.normalization import Normalization
from .encoder import LLPTransformerModel
from .flow import ConditionalFlow, PosteriorSummary
from .point_head import PointHead

logger = logging.getLogger(__name__)

BUNDLE_FORMAT = "llp_gap_reco.model_bundle"
FORMAT_VERSION = 1
#: field -> required sub-fields (per kind for the head)
_REQUIRED = {
    "format": (),
    "format_version": (),
    "package_version": (),
    "kind": (),
    "encoder": ("config", "state_dict"),
    "features": ("config", "feature_indices"),
    "normalization": (),
    "training": (),
}
_HEAD_FIELD = {"flow": "flow", "point": "point_head"}
#: the head of a bundle: the flow (kind ``flow``) or the MSE point head (kind ``point``)
Head = Union[ConditionalFlow, PointHead]


class BundleError(InputError):
    """A model bundle that cannot be used; the message names the file and the problem."""


def _plain(obj: Any) -> Any:
    """Plain-data copy (numpy -> lists/Python scalars) safe for ``weights_only`` loading."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"bundle fields must be plain data, got {type(obj).__name__}")


@dataclasses.dataclass
class ModelBundle:
    """A trained model ready for reconstruction (see module docstring for the file)."""

    encoder: LLPTransformerModel
    head: Head
    kind: str
    feature_config: dict
    feature_indices: dict
    normalization: Normalization
    training: dict
    package_version: str = __version__
    path: Optional[str] = None

    # ------------------------------------------------------------------ properties
    @property
    def flow(self) -> Optional[ConditionalFlow]:
        """The flow head, ``None`` for a point model."""
        return self.head if self.kind == "flow" and isinstance(self.head, ConditionalFlow) else None

    @property
    def flow_head(self) -> ConditionalFlow:
        """The flow head; :class:`BundleError` for a model without a posterior."""
        flow = self.flow
        if flow is None:
            raise BundleError(
                f"{self.path}: a '{self.kind}' model has no posterior; use predict_point()"
            )
        return flow

    @property
    def point_head(self) -> PointHead:
        """The MSE point head; :class:`BundleError` for a flow model."""
        if not isinstance(self.head, PointHead):
            raise BundleError(f"{self.path}: a '{self.kind}' model has no point head")
        return self.head

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    @property
    def attention_backend(self) -> str:
        return str(getattr(self.encoder, "attention_backend", "unknown"))

    @property
    def feature_extractor(self) -> FeatureExtractor:
        """Computes features from pulses exactly as this model expects (its own config and
        input convention)."""
        return FeatureExtractor(self.feature_config)

    @property
    def convention(self) -> str:
        """The input convention of the model (``package`` or ``original``)."""
        return convention_of(self.feature_config)

    @property
    def label_standardization(self) -> Optional[dict]:
        """Label offset and scale ``[6]`` (metres), ``None`` for a flow without them."""
        cfg = self.head.config
        if self.kind == "flow" and not cfg.get("label_standardization", False):
            return None
        return {"offset": list(cfg["label_offset"]), "scale": list(cfg["label_scale"])}

    def to(self, device: Union[str, torch.device]) -> ModelBundle:
        """Move encoder and head to ``device`` (in place); returns ``self``."""
        self.encoder.to(device)
        self.head.to(device)
        return self

    def eval(self) -> ModelBundle:
        """Put encoder and head in evaluation mode; returns ``self``."""
        self.encoder.eval()
        self.head.eval()
        return self

    # ------------------------------------------------------------------ inference
    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Raw per-DOM features ``[N, D]`` -> the network input (group-wise affine)."""
        return self.normalization.apply(x, self.feature_indices)

    def encode(self, x: torch.Tensor, seqlens: torch.Tensor) -> torch.Tensor:
        """Normalised packed rows -> encodings ``[B, output_dim]`` (no grad)."""
        dev = self.device
        with torch.inference_mode():
            return self.encoder(x.to(dev, torch.float32), seqlens.to(dev))

    def _chunks(
        self, seqlens: torch.Tensor, chunk_events: int, chunk_doms: int
    ) -> Iterator[tuple[int, int, int, int]]:
        """Event ranges ``(b0, b1, r0, r1)`` of at most ``chunk_events`` events and about
        ``chunk_doms`` rows (an event longer than that is a chunk of its own)."""
        cu = torch.cat([seqlens.new_zeros(1), seqlens.cumsum(0)]).tolist()
        b, n = 0, len(cu) - 1
        while b < n:
            e = b + 1
            while e < n and e - b < chunk_events and cu[e + 1] - cu[b] <= chunk_doms:
                e += 1
            yield b, e, cu[b], cu[e]
            b = e

    def reconstruct(
        self,
        batch: PackedBatch,
        n_samples: int = 512,
        seed: int = 0,
        chunk_events: int = 1024,
        chunk_doms: int = 200_000,
    ) -> PosteriorSummary:
        """Posterior summary of every event of a packed batch of *normalised* rows.

        Runs encoder and flow over chunks of events (bounded memory), then concatenates the
        chunks. Returns the flow's ``PosteriorSummary`` (``.mean [B,6]``, ``.cov [B,6,6]``, ...).
        """
        flow = self.flow_head
        parts = []
        for b0, b1, r0, r1 in self._chunks(batch.seqlens, chunk_events, chunk_doms):
            enc = self.encode(batch.x[r0:r1], batch.seqlens[b0:b1])
            with torch.inference_mode():
                parts.append(flow.summarize(enc.to(flow.dtype), n_samples=n_samples, seed=seed))
        return concat_summaries(parts)

    def reconstruct_features(
        self, features: Sequence[np.ndarray], n_samples: int = 512, seed: int = 0
    ) -> PosteriorSummary:
        """Posterior summaries from raw per-event feature arrays ``[n_doms_i, D]``."""
        seqlens = torch.tensor([f.shape[0] for f in features], dtype=torch.int64)
        x = torch.from_numpy(np.concatenate(features, 0).astype(np.float32))
        return self.reconstruct(PackedBatch(self.normalize(x), seqlens), n_samples, seed)

    def predict_point(
        self, batch: PackedBatch, chunk_events: int = 1024, chunk_doms: int = 200_000
    ) -> torch.Tensor:
        """Point estimate ``[B, 6]`` metres (float64): the MSE head's output, or for a flow
        model its posterior mean (512 QMC samples)."""
        if self.kind == "flow":
            return (
                self.reconstruct(batch, chunk_events=chunk_events, chunk_doms=chunk_doms)
                .mean.double()
                .cpu()
            )
        head = self.point_head
        out = []
        for b0, b1, r0, r1 in self._chunks(batch.seqlens, chunk_events, chunk_doms):
            enc = self.encode(batch.x[r0:r1], batch.seqlens[b0:b1])
            with torch.inference_mode():
                out.append(head.predict(enc).cpu())
        return torch.cat(out)

    # ------------------------------------------------------------------ file
    def to_dict(self) -> dict:
        """The bundle file's plain nested dict (see the module docstring)."""
        head_cfg = self.head.config
        return _plain(
            {
                "format": BUNDLE_FORMAT,
                "format_version": FORMAT_VERSION,
                "package_version": self.package_version,
                "kind": self.kind,
                "encoder": {"config": self.encoder.config, "state_dict": self.encoder.state_dict()},
                _HEAD_FIELD[self.kind]: {"config": head_cfg, "state_dict": self.head.state_dict()},
                "features": {
                    "config": self.feature_config,
                    "feature_indices": self.feature_indices,
                },
                "normalization": self.normalization.to_dict(),
                "label_standardization": self.label_standardization,
                "training": self.training,
            }
        )


def concat_summaries(parts: list[PosteriorSummary]) -> PosteriorSummary:
    """Concatenate per-chunk summaries along the event axis (dataclass of tensors/arrays)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    out: dict[str, Any] = {}
    for f in dataclasses.fields(first):
        vals = [getattr(p, f.name) for p in parts]
        if isinstance(vals[0], torch.Tensor):
            out[f.name] = torch.cat(vals)
        elif isinstance(vals[0], np.ndarray):
            out[f.name] = np.concatenate(vals)
        else:
            out[f.name] = vals[0]
    return type(first)(**out)


def save_bundle(bundle: ModelBundle, path: Union[str, os.PathLike]) -> pathlib.Path:
    """Write ``bundle`` atomically to ``path`` (:mod:`llp_gap_reco.core.atomic`)."""
    return atomic_torch_save(path, bundle.to_dict())


def _read(path: pathlib.Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"model bundle not found: {path}")
    if not zipfile.is_zipfile(path):
        raise BundleError(
            f"{path}: not a model bundle (not a torch zip archive; truncated or a different file)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise BundleError(
            f"{path}: the file needs pickled Python code to load, which a model bundle never "
            f"contains; refusing to execute it ({str(err).splitlines()[0]})"
        ) from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise BundleError(f"{path}: unreadable or truncated model bundle ({err})") from err
    if not isinstance(obj, dict):
        raise BundleError(f"{path}: expected a dict at top level, got {type(obj).__name__}")
    return obj


def validate_bundle_dict(obj: dict, path: Any = "<bundle>") -> None:
    """Raise :class:`BundleError` naming the first missing or incompatible field."""
    if obj.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"{path}: not a model bundle (format={obj.get('format')!r}, expected {BUNDLE_FORMAT!r})"
        )
    version = obj.get("format_version")
    if not isinstance(version, int):
        raise BundleError(f"{path}: missing field 'format_version'")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{path}: bundle format version {version} is newer than this "
            f"package reads ({FORMAT_VERSION}); written by llp_gap_reco "
            f"{obj.get('package_version')}, this is {__version__}: upgrade"
        )
    if version < 1:
        raise BundleError(f"{path}: incompatible bundle format version {version}")
    kind = obj.get("kind")
    if kind not in _HEAD_FIELD:
        raise BundleError(f"{path}: field 'kind' is {kind!r}, expected one of {list(_HEAD_FIELD)}")
    required = dict(_REQUIRED, **{_HEAD_FIELD[kind]: ("config", "state_dict")})
    for key, subs in required.items():
        if key not in obj:
            raise BundleError(f"{path}: missing field {key!r}")
        for sub in subs:
            if not isinstance(obj[key], dict) or sub not in obj[key]:
                raise BundleError(f"{path}: missing field '{key}.{sub}'")


def build_head(kind: str, config: dict) -> Head:
    """The flow (or point head) of ``config``, label standardisation restored in float64."""
    head: Head
    if kind == "flow":
        head = ConditionalFlow(**config)
    else:
        head = PointHead(**config)
    # The constants travel as Python floats; set them in float64 so nothing is rounded.
    for name in ("label_offset", "label_scale"):
        if config.get(name) is not None:
            getattr(head, name).copy_(torch.tensor(config[name], dtype=torch.float64))
    return head


def bundle_from_dict(obj: dict, path: Any = "<bundle>") -> ModelBundle:
    """Build the modules of a validated bundle dict (strict state-dict loading)."""
    validate_bundle_dict(obj, path)
    kind = obj["kind"]
    try:
        encoder = LLPTransformerModel(**obj["encoder"]["config"])
        encoder.load_state_dict(obj["encoder"]["state_dict"], strict=True)
        head_obj = obj[_HEAD_FIELD[kind]]
        head = build_head(kind, head_obj["config"])
        head.load_state_dict(head_obj["state_dict"], strict=True)
        normalization = Normalization(obj["normalization"])
    except (TypeError, ValueError, RuntimeError, KeyError) as err:
        raise BundleError(f"{path}: inconsistent model bundle: {err}") from err
    return ModelBundle(
        encoder=encoder,
        head=head,
        kind=kind,
        feature_config=obj["features"]["config"],
        feature_indices=obj["features"]["feature_indices"],
        normalization=normalization,
        training=obj["training"],
        package_version=obj["package_version"],
        path=None if path == "<bundle>" else str(path),
    )


def load_bundle(
    path: Union[str, os.PathLike], device: Union[str, torch.device] = "cpu"
) -> ModelBundle:
    """Load a model bundle (never executes pickled code), in eval mode on ``device``."""
    path = pathlib.Path(path)
    bundle = bundle_from_dict(_read(path), path)
    logger.info("loaded %s model bundle %s (package %s)", bundle.kind, path, bundle.package_version)
    return bundle.to(device).eval()


__all__ = ["BundleError", "ModelBundle", "load_bundle", "save_bundle"]
