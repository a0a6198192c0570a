"""Charge per hit DOM and per DOM in the dust layer against deep clear ice, layered ice relative to
homogeneous ice, for the same 10 TeV near-vertical muons.

    python resources/reports/dust_per_hit.py [--muons 1000] [--seed 7] [--photon-tracking]
        [--set FIELD=VALUE ...]

Dust layer ``-150 < z < -50 m``, deep clear ice ``-450 < z < -200 m``; background muons of
10 TeV with ``cos(zenith) >= 0.9``, stochastic losses on (the muons of
``tests/test_simulation_physics.py``). Per hit DOM: the charge of all hit DOMs of the layer over
all events divided by their number. Prints the double ratios
``(dust / clear)_layered / (dust / clear)_homogeneous`` for all muons and for six disjoint
blocks of 150 (its spread). ``--set`` changes a field of the muons' ``SimulationConfig``
(``--set noise_rate_hz=0``, ``--set angular_acceptance=false``).

``--photon-tracking`` is a what-if: each photon path's light is multiplied by the ratio, at its
perpendicular distance ``dist / 1.52``, of the photon-tracking reference's recorded light
(``photon_near_field.json`` beside this script) to the simulator's, dust over clear ice, to the
power ``w = (<b_e> - b_clear) / (b_dust - b_clear)`` clipped to [0, 1] (how much of the path's
scattering is the dust's): the simulator with the dust layer's near field of photon tracking.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import llp_gap_reco.data.simulation.light as light
import numpy as np
import yaml
from llp_gap_reco.geometry import Geometry
from llp_gap_reco.simulation import simulate

LAYERS = {"dust": (-150.0, -50.0), "clear": (-450.0, -200.0)}
BLOCK = 150


def layer_masks(geo: Geometry) -> dict[str, np.ndarray]:
    """Per layer: which DOMs of ``geo`` lie in it (bool ``[n_doms]``)."""
    z = geo.pos[:, 2]
    return {k: (z > lo) & (z < hi) for k, (lo, hi) in LAYERS.items()}


def hit_charges(
    ice: str, muons: int, seed: int, geo: Geometry, **config: Any
) -> dict[str, list[np.ndarray]]:
    """Per layer, per event: the charges (PE) of the layer's hit DOMs (``config``: further
    ``SimulationConfig`` fields)."""
    masks = layer_masks(geo)
    cfg = {
        "energy_min": 1e4,
        "energy_max": 1e4,
        "cos_zenith_min": 0.9,
        "ice_model": ice,
        **config,
    }
    out: dict[str, list[np.ndarray]] = {k: [] for k in LAYERS}
    for ev in simulate(muons, seed=seed, geometry=geo, config=cfg, kind="background"):
        q = np.bincount(geo.index(ev.pulses[:, 0], ev.pulses[:, 1]), ev.pulses[:, 4], len(geo))
        for k, m in masks.items():
            out[k].append(q[m][q[m] > 0])
    return out


def double_ratios(res: dict, events: range, geo: Geometry) -> tuple[float, float]:
    """Per hit DOM and per DOM: ``(dust / clear)_layered / (dust / clear)_homogeneous`` over
    ``events`` of ``res`` (``{ice: hit_charges(ice, ...)}``)."""
    n_dom = {k: int(m.sum()) for k, m in layer_masks(geo).items()}
    per_hit, per_dom = {}, {}
    for ice, layers in res.items():
        q = {k: np.concatenate([layers[k][i] for i in events]) for k in LAYERS}
        per_hit[ice] = (q["dust"].mean()) / (q["clear"].mean())
        per_dom[ice] = (q["dust"].sum() / n_dom["dust"]) / (q["clear"].sum() / n_dom["clear"])
    return (per_hit["layered"] / per_hit["homogeneous"],
            per_dom["layered"] / per_dom["homogeneous"])  # fmt: skip


def use_photon_tracking_near_field() -> None:
    """Rescale the simulator's light of dust paths to the photon-tracking reference (what-if)."""
    ref = json.loads((Path(__file__).parent / "photon_near_field.json").read_text())
    edges = np.asarray(ref["edges_m"])
    mid = 0.5 * (edges[1:] + edges[:-1])
    log_corr = np.log(
        (np.asarray(ref["dust"]["recorded"]) / np.asarray(ref["clear"]["recorded"]))
        / (np.asarray(ref["simulator"]["dust"]) / np.asarray(ref["simulator"]["clear"]))
    )
    b_clear, b_dust = ref["clear"]["b_e_per_m"], ref["dust"]["b_e_per_m"]
    original = light._ice_and_acceptance

    def rescaled(ice, acceptance, z_emit, z_dom, vec, dist):  # type: ignore[no-untyped-def]
        att, lam, lam_a, fade, acc = original(ice, acceptance, z_emit, z_dom, vec, dist)
        if ice.kind == "layered":
            _, b = ice.path_coefficients(z_emit, z_dom)
            w = np.clip((b - b_clear) / (b_dust - b_clear), 0.0, 1.0)
            acc = acc * np.exp(w * np.interp(dist / 1.52, mid, log_corr))
        return att, lam, lam_a, fade, acc

    light._ice_and_acceptance = rescaled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--muons", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--photon-tracking", action="store_true")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a SimulationConfig field of the muons (YAML value)",
    )
    args = parser.parse_args()
    config = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    if args.photon_tracking:
        use_photon_tracking_near_field()
    geo = Geometry.icecube86_like()
    res = {ice: hit_charges(ice, args.muons, args.seed, geo, **config)
           for ice in ("layered", "homogeneous")}  # fmt: skip
    hit, dom = double_ratios(res, range(args.muons), geo)
    print(f"{args.muons} muons: per hit DOM {hit:.3f}, per DOM {dom:.3f}")
    blocks = [double_ratios(res, range(i, i + BLOCK), geo)[0]
              for i in range(0, args.muons - BLOCK + 1, BLOCK)]  # fmt: skip
    print("per hit DOM, blocks of", BLOCK, ":", " ".join(f"{v:.2f}" for v in blocks))
    for ice, layers in res.items():
        for k in LAYERS:
            q = np.concatenate(layers[k])
            hits, per_hit, per_event = q.size / args.muons, q.mean(), q.sum() / args.muons
            print(f"{ice:11s} {k:5s}: hit DOMs per event {hits:.1f}, "
                  f"PE per hit DOM {per_hit:.2f}, PE per event {per_event:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
