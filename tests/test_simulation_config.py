"""SimulationConfig: YAML defaults, validation, and where it is recorded (manifest, I3 S frame)."""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib

import numpy as np
import pytest
import yaml
from llp_gap_reco.core.yaml_file import YamlFileError
from llp_gap_reco.data.simulation.ice import ABSORPTION, SCATTERING, TABLE_DZ, TABLE_Z0, IceModel
from llp_gap_reco.data.simulation.kinematics import muon_energy
from llp_gap_reco.data.simulation.light import cascade_profile, dom_acceptance
from llp_gap_reco.simulation import SimulationConfig, simulate

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_YAML = ROOT / "configs" / "simulation.yaml"


def test_default_yaml_mirrors_the_dataclass():
    assert SimulationConfig.from_yaml(DEFAULT_YAML) == SimulationConfig()
    names = {f.name for f in dataclasses.fields(SimulationConfig)}
    required = {"energy_min", "energy_max", "spectral_index", "energy_offset", "cos_zenith_min",
                "cos_zenith_max", "gap_min", "gap_max", "decay_length", "containment_padding",
                "stochastic_losses", "ice_model", "noise_rate_hz"}  # fmt: skip
    assert required <= names


def test_bad_configs_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="ice_model"):
        SimulationConfig(ice_model="clear")
    with pytest.raises(ValueError, match="gap_min"):
        SimulationConfig(gap_min=300.0, gap_max=100.0)
    bad = tmp_path / "bad.yaml"
    bad.write_text("energy_min: 100\nenergy_maximum: 5\n")
    with pytest.raises(YamlFileError, match="energy_maximum"):
        SimulationConfig.from_yaml(bad)
    with pytest.raises(FileNotFoundError, match="simulation config"):
        simulate(1, config=tmp_path / "missing.yaml")


def test_config_from_yaml_path_changes_the_events(tmp_path):
    path = tmp_path / "sim.yaml"
    path.write_text("ice_model: homogeneous\nstochastic_losses: false\nnoise_rate_hz: 0\n")
    events = list(simulate(5, seed=2, config=str(path)))
    assert all(ev.losses.shape == (0, 5) and ev.noise_doms == 0 for ev in events)
    default = list(simulate(5, seed=2))
    assert any(ev.losses.shape[0] > 0 for ev in default)


def test_offset_power_law_quantiles():
    """Reference: the analytic CDF of (E + 700)^-2 on [200, 15000] GeV."""
    cfg = SimulationConfig()
    rng = np.random.default_rng(0)
    e = np.array([muon_energy(rng, cfg) for _ in range(20000)])
    lo, hi = cfg.energy_min + cfg.energy_offset, cfg.energy_max + cfg.energy_offset
    for q in (0.1, 0.5, 0.9):
        x = 1.0 / (1.0 / lo - q * (1.0 / lo - 1.0 / hi))  # inverse CDF for gamma = 2
        assert np.quantile(e, q) == pytest.approx(x - cfg.energy_offset, rel=0.03)


def test_path_averaged_ice_matches_numerical_integration():
    ice = IceModel("layered")
    z = np.arange(ABSORPTION.size) * TABLE_DZ + TABLE_Z0
    for z1, z2 in ((-400.0, -37.0), (120.0, -260.0), (-90.0, -95.0)):
        grid = np.linspace(z1, z2, 200001)
        idx = np.clip(np.searchsorted(z, grid, side="right") - 1, 0, ABSORPTION.size - 1)
        a, b = ice.path_coefficients(np.array([z1]), np.array([z2]))
        assert a[0] == pytest.approx(ABSORPTION[idx].mean(), rel=1e-3)
        assert b[0] == pytest.approx(SCATTERING[idx].mean(), rel=1e-3)
    dust, clear = ice.propagation(np.array([-100.0, -300.0]), np.array([-100.0, -300.0]))[0]
    assert dust < 0.2 * clear


def test_attenuation_length_follows_the_diffusion_length():
    """``L_att = 35 m * L_d(<a>, <b_e>) / L_d(reference ice)``, ``L_d = sqrt(D / a)`` with
    ``D = 1 / (3 (a + b_e))``; reference: the table averaged over z in [-500, 500] m, here by a
    fine grid."""
    ice = IceModel("layered")
    z = np.arange(ABSORPTION.size) * TABLE_DZ + TABLE_Z0
    grid = np.linspace(-500.0, 500.0, 1000001)
    idx = np.clip(np.searchsorted(z, grid, side="right") - 1, 0, ABSORPTION.size - 1)
    a_ref, b_ref = ABSORPTION[idx].mean(), SCATTERING[idx].mean()
    k = int((-100.0 - TABLE_Z0) // TABLE_DZ)  # the dust peak's layer
    a, b = ABSORPTION[k], SCATTERING[k]
    expected = 35.0 * np.sqrt(3 * a_ref * (a_ref + b_ref)) / np.sqrt(3 * a * (a + b))
    att = ice.propagation(np.array([-100.0, -500.0]), np.array([-100.0, 500.0]))[0]
    assert att[0] == pytest.approx(expected, rel=1e-4)
    assert att[1] == pytest.approx(35.0, rel=1e-4)


def test_angular_profiles_average_to_one():
    x = np.linspace(-1.0, 1.0, 200001)
    assert np.trapezoid(dom_acceptance(x), x) / 2 == pytest.approx(1.0, rel=1e-6)
    assert np.trapezoid(cascade_profile(x), x) / 2 == pytest.approx(1.0, rel=1e-4)
    assert dom_acceptance(1.0) > dom_acceptance(-1.0)  # PMT faces down: photons going up


def test_manifest_records_the_config(tmp_path):
    from llp_gap_reco.dataset import write_simulated_folder

    cfg = SimulationConfig(gap_max=600.0, decay_length=None)
    man = write_simulated_folder(str(tmp_path / "f"), 12, seed=1, events_per_file=6,
                                 progress=False, config=cfg)  # fmt: skip
    on_disk = json.loads((tmp_path / "f" / "manifest.json").read_text())
    assert man["source"]["simulator"]["config"] == cfg.to_dict()
    assert on_disk["source"]["simulator"]["config"] == cfg.to_dict()


@pytest.mark.icetray
def test_i3_s_frame_records_the_config(tmp_path):
    from icecube import dataio, icetray
    from llp_gap_reco.i3.simulated_i3 import write_simulated_i3

    cfg = SimulationConfig(ice_model="homogeneous", decay_length=None, noise_rate_hz=400.0)
    path = str(tmp_path / "sim.i3")
    write_simulated_i3(path, 3, seed=2, config=cfg)
    frames = [f for f in dataio.I3File(path)]
    s = [f for f in frames if f.Stop == icetray.I3Frame.Simulation]
    assert len(s) == 1 and frames.index(s[0]) == 3  # after G, C, D; before the events
    numbers = dict(s[0]["LLPSimulationConfig"])
    assert numbers["noise_rate_hz"] == 400.0 and numbers["ice_model"] == 0.0
    assert math.isnan(numbers["decay_length"]) and numbers["stochastic_losses"] == 1.0
    assert yaml.safe_load(s[0]["LLPSimulationConfigYAML"].value) == cfg.to_dict()
