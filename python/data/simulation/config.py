"""Simulation settings: :class:`SimulationConfig` (``configs/simulation.yaml`` mirrors the
defaults, which follow the training sets of the original LLP study: MuonGun muons with an
offset power law, LLP gaps of at least 50 m, vertices contained with 60 m padding)."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

from ...core.yaml_file import YamlFileError, read_yaml

ICE_MODELS = ("layered", "homogeneous")


@dataclass(frozen=True)
class SimulationConfig:
    """What the simulator draws and which physics it applies (units: GeV, m, Hz).

    Attributes:
        energy_min, energy_max: muon energy range at the generation cylinder, GeV.
        spectral_index: ``gamma`` of the offset power law ``(E + energy_offset)^-gamma``.
        energy_offset: offset of the power law, GeV.
        cos_zenith_min, cos_zenith_max: range of ``cos(zenith)`` (uniform; down-going > 0).
        gap_min, gap_max: range of the LLP gap length, m.
        decay_length: m; gap lengths ``~ exp(-L / decay_length)`` truncated to
            ``[gap_min, gap_max]``; ``None``: uniform in the range.
        containment_padding: both vertices lie in the instrumented volume grown by this, m.
        fractional_energy_min, fractional_energy_max: range of the fraction of the muon energy
            the LLP takes (uniform).
        stochastic_losses: sample bremsstrahlung, pair production and photonuclear losses
            above ``v_cut`` as cascades (otherwise all losses are continuous).
        v_cut: relative energy cut between continuous and stochastic losses.
        ice_model: ``"layered"`` (depth-dependent ice with the dust layer) or
            ``"homogeneous"`` (one bulk ice).
        noise_rate_hz: dark-noise rate per standard DOM; high-QE DOMs scaled.
        angular_acceptance: apply the DOM angular acceptance (PMT facing down).
    """

    energy_min: float = 200.0
    energy_max: float = 15000.0
    spectral_index: float = 2.0
    energy_offset: float = 700.0
    cos_zenith_min: float = 0.05
    cos_zenith_max: float = 1.0
    gap_min: float = 50.0
    gap_max: float = 1000.0
    decay_length: Optional[float] = 217.0
    containment_padding: float = 60.0
    fractional_energy_min: float = 0.5
    fractional_energy_max: float = 0.99
    stochastic_losses: bool = True
    v_cut: float = 0.01
    ice_model: str = "layered"
    noise_rate_hz: float = 560.0
    angular_acceptance: bool = True

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.energy_min <= self.energy_max:
            problems.append("need 0 < energy_min <= energy_max")
        if self.energy_offset < 0 or self.spectral_index <= 0:
            problems.append("need energy_offset >= 0 and spectral_index > 0")
        if not 0 < self.cos_zenith_min <= self.cos_zenith_max <= 1:
            problems.append("need 0 < cos_zenith_min <= cos_zenith_max <= 1 (down-going)")
        if not 0 < self.gap_min <= self.gap_max:
            problems.append("need 0 < gap_min <= gap_max")
        if self.decay_length is not None and not self.decay_length > 0:
            problems.append("decay_length must be > 0 or null")
        if self.containment_padding < 0:
            problems.append("containment_padding must be >= 0")
        if not 0 < self.fractional_energy_min <= self.fractional_energy_max < 1:
            problems.append("need 0 < fractional_energy_min <= fractional_energy_max < 1")
        if not 0 < self.v_cut < 1:
            problems.append("v_cut must lie in (0, 1)")
        if self.ice_model not in ICE_MODELS:
            problems.append(f"ice_model must be one of {ICE_MODELS}, got {self.ice_model!r}")
        if not (self.noise_rate_hz >= 0 and math.isfinite(self.noise_rate_hz)):
            problems.append("noise_rate_hz must be >= 0")
        if problems:
            raise ValueError("invalid SimulationConfig: " + "; ".join(problems))

    @classmethod
    def from_mapping(cls, values: Optional[Mapping[str, Any]]) -> SimulationConfig:
        """From a mapping of field names (missing fields keep their defaults)."""
        values = dict(values or {})
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown SimulationConfig field(s): {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: Union[str, os.PathLike[str]]) -> SimulationConfig:
        """From a YAML file of field names (e.g. ``configs/simulation.yaml``)."""
        data = read_yaml(path, "simulation config")
        if data is not None and not isinstance(data, Mapping):
            raise YamlFileError(f"{path}: a simulation config must be a mapping of fields")
        try:
            return cls.from_mapping(data)
        except (TypeError, ValueError) as err:
            raise YamlFileError(f"{path}: {err}") from err

    def to_dict(self) -> dict[str, Any]:
        """Plain ``{field: value}`` (YAML/JSON-serialisable)."""
        return dataclasses.asdict(self)


#: what :func:`resolve_config` takes
ConfigLike = Union[SimulationConfig, Mapping[str, Any], str, "os.PathLike[str]", None]


def resolve_config(config: ConfigLike) -> SimulationConfig:
    """A :class:`SimulationConfig` from itself, a mapping, a YAML path or ``None`` (defaults)."""
    if config is None:
        return SimulationConfig()
    if isinstance(config, SimulationConfig):
        return config
    if isinstance(config, Mapping):
        return SimulationConfig.from_mapping(config)
    return SimulationConfig.from_yaml(config)
