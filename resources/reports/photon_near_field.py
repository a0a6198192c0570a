"""Photon-tracking reference for the light of a muon track near the track, in the dust layer and
in deep clear ice, against the simulator's track light.

    python resources/reports/photon_near_field.py [--photons 20000] [--out FILE.json]

Photons leave an infinite straight down-going track at the Cherenkov angle and are followed one
scattering at a time in an infinite homogeneous medium: free paths exponential with the
geometric scattering coefficient ``b = b_e / (1 - g)``, Henyey-Greenstein scattering with mean
cosine ``g = 0.9``, absorption as the continuous weight ``exp(-a s)`` along the path ``s``
(photons are dropped at ``a s > 9.2``, a weight of 1e-4, or beyond 150 m of the track). By the
track's translation symmetry, the weighted path length inside each annulus of perpendicular
distance ``[r1, r2)``, divided by its area and the photons' number, is the fluence per photon
emitted per metre of track (1/m): exactly, segment by segment, no binning of positions along a
path. The fluence weighted with the DOM angular acceptance
(:func:`llp_gap_reco.data.simulation.light.dom_acceptance`, mean 1, at each photon's vertical
direction cosine) is what a down-facing DOM records.

The ice: the averages of the simulator's SPICE1 table over the dust layer ``-150 < z < -50 m``
and the deep clear ice ``-450 < z < -200 m``, and the peak dust layer (10 m). The simulator's own
track light (continuous losses, no window, acceptance on) at DOMs at ``z = -100 m`` and
``z = -325 m`` is printed beside it, for the ratio dust / clear at each distance. Prints a table
(the one in ``resources/docs/simulation.md``, "A photon-tracking reference") and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
from llp_gap_reco.data.simulation.ice import IceModel
from llp_gap_reco.data.simulation.light import COS_THETA_C, dom_acceptance, track_light
from llp_gap_reco.data.simulation.losses import Track

#: annulus edges, perpendicular distance to the track (m)
EDGES = np.array([0, 1, 2, 3, 4, 5, 6, 8, 10, 12.5, 15, 17.5, 20, 25, 30, 40, 50, 60, 80, 100.0])
#: Henyey-Greenstein mean scattering cosine of South Pole ice (IceCube, NIM A 711 (2013) 73)
MEAN_COS = 0.9
#: the photons' weight below which they are dropped is exp(-MAX_OPTICAL_DEPTH)
MAX_OPTICAL_DEPTH = 9.2
MAX_RHO = 150.0
#: layers of the simulator's ice table whose averages are tracked (IceCube z, m)
MEDIA = {"dust": (-150.0, -50.0), "dust peak": (-110.0, -100.0), "clear": (-450.0, -200.0)}
SIN_THETA_C = math.sqrt(1.0 - COS_THETA_C**2)


def hg_cos(u: np.ndarray, g: float) -> np.ndarray:
    """Henyey-Greenstein scattering angle cosines for uniform ``u`` in (0, 1)."""
    return (1 + g * g - ((1 - g * g) / (1 - g + 2 * g * u)) ** 2) / (2 * g)


def turn(d: np.ndarray, cos_t: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Unit vectors ``d [n, 3]`` turned by the polar angles ``acos(cos_t)`` at azimuths ``phi``."""
    helper = np.where(np.abs(d[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    e1 = np.cross(d, helper)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(d, e1)
    sin_t = np.sqrt(np.maximum(1.0 - cos_t**2, 0.0))
    return cos_t[:, None] * d + sin_t[:, None] * (
        np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2
    )


def inside(p: np.ndarray, d: np.ndarray, length: np.ndarray, r: float) -> tuple[np.ndarray, ...]:
    """The part ``[t1, t2]`` of each segment ``p + t d``, ``0 <= t <= length``, that lies within
    perpendicular distance ``r`` of the z axis (``t1 == t2`` where none)."""
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = 2.0 * (p[:, 0] * d[:, 0] + p[:, 1] * d[:, 1])
    c = p[:, 0] ** 2 + p[:, 1] ** 2 - r * r
    tilted = a > 1e-12
    disc = np.where(tilted, b * b - 4.0 * a * c, 0.0)
    root = np.sqrt(np.maximum(disc, 0.0))
    a_safe = np.where(tilted, a, 1.0)
    crosses = tilted & (disc > 0)
    t1 = np.where(crosses, (-b - root) / (2 * a_safe), 0.0)
    # a vertical segment stays at one distance: inside throughout or not at all
    t2 = np.where(crosses, (-b + root) / (2 * a_safe), np.where(~tilted & (c < 0), length, 0.0))
    return np.clip(t1, 0.0, length), np.clip(t2, 0.0, length)


def track_fluence(
    a: float, b_e: float, n_photons: int, seed: int = 1, g: float = MEAN_COS,
    edges: np.ndarray = EDGES,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Fluence per emitted photon per metre of track (1/m) in the annuli ``edges`` around an
    infinite down-going track, in ice of absorption ``a`` and effective scattering ``b_e``
    (1/m): ``"fluence"`` (all photons), ``"recorded"`` (weighted with the DOM acceptance) and
    ``"unscattered"`` (photons before their first scattering), each ``[len(edges) - 1]``."""
    rng = np.random.default_rng(seed)
    b = b_e / (1.0 - g)
    phi = rng.uniform(0.0, 2.0 * np.pi, n_photons)
    d = np.stack([SIN_THETA_C * np.cos(phi), SIN_THETA_C * np.sin(phi),
                  np.full(n_photons, -COS_THETA_C)], axis=1)  # fmt: skip
    p, s = np.zeros((n_photons, 3)), np.zeros(n_photons)
    scattered = np.zeros(n_photons, bool)
    sums = {k: np.zeros(edges.size - 1) for k in ("fluence", "recorded", "unscattered")}
    alive = np.ones(n_photons, bool)
    while alive.any():
        i = np.nonzero(alive)[0]
        pi, di, si = p[i], d[i], s[i]
        step = rng.exponential(1.0 / b, i.size)
        acc = dom_acceptance(di[:, 2])
        below = np.zeros(i.size)  # absorbed-weighted path length within the previous edge
        for k, r in enumerate(edges[1:]):
            t1, t2 = inside(pi, di, step, float(r))
            within = (np.exp(-a * (si + t1)) - np.exp(-a * (si + t2))) / a
            ring = within - below
            sums["fluence"][k] += ring.sum()
            sums["recorded"][k] += (ring * acc).sum()
            sums["unscattered"][k] += ring[~scattered[i]].sum()
            below = within
        p[i], s[i] = pi + step[:, None] * di, si + step
        d[i] = turn(di, hg_cos(rng.uniform(0.0, 1.0, i.size), g), rng.uniform(0, 2 * np.pi, i.size))
        scattered[i] = True
        alive[i] = (a * s[i] < MAX_OPTICAL_DEPTH) & (np.hypot(p[i, 0], p[i, 1]) < MAX_RHO)
    area = np.pi * (edges[1:] ** 2 - edges[:-1] ** 2)
    return {k: v / (n_photons * area) for k, v in sums.items()}


def simulator_light(rho: np.ndarray, z: float) -> np.ndarray:
    """The simulator's expected PE of a long vertical down-going minimum-ionising track at
    DOMs at perpendicular distances ``rho`` (m) and depth ``z`` (layered ice, acceptance on)."""
    dom = np.stack([rho, np.zeros_like(rho), np.full_like(rho, z)], axis=1)
    origin = np.array([0.0, 0.0, 1000.0])
    none = np.zeros(0)
    track = Track(s0=0.0, s1=3000.0, e0=1e3, b=1e-12, s_loss=none, e_loss=none, e_after=none)
    light = track_light(dom, np.ones(rho.size), origin, np.array([0.0, 0.0, -1.0]), 0.0,
                        [track], IceModel("layered"), acceptance=True)  # fmt: skip
    return np.bincount(light.dom, light.mu, rho.size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photons", type=int, default=20000)
    parser.add_argument("--out", default="photon_near_field.json")
    args = parser.parse_args()
    ice = IceModel("layered")
    mid = 0.5 * (EDGES[1:] + EDGES[:-1])
    out: dict = {"edges_m": EDGES.tolist(), "photons": args.photons, "mean_cos": MEAN_COS}
    for name, (lo, hi) in MEDIA.items():
        a, b_e = (float(v[0]) for v in ice.path_coefficients(np.array([lo]), np.array([hi])))
        res = track_fluence(a, b_e, args.photons)
        out[name] = {"z_m": [lo, hi], "a_per_m": a, "b_e_per_m": b_e,
                     **{k: v.tolist() for k, v in res.items()}}  # fmt: skip
    out["simulator"] = {"dust": simulator_light(mid, -100.0).tolist(),
                        "clear": simulator_light(mid, -325.0).tolist()}  # fmt: skip
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    head = ("rho (m)", "clear: recorded", "share unscattered", "mean acceptance",
            "dust/clear: fluence", "recorded", "peak dust recorded", "simulator")  # fmt: skip
    print(" | ".join(head))
    for k, r in enumerate(mid):
        c, dust = out["clear"], out["dust"]
        row = (r, c["recorded"][k], c["unscattered"][k] / c["fluence"][k],
               c["recorded"][k] / c["fluence"][k], dust["fluence"][k] / c["fluence"][k],
               dust["recorded"][k] / c["recorded"][k],
               out["dust peak"]["recorded"][k] / c["recorded"][k],
               out["simulator"]["dust"][k] / out["simulator"]["clear"][k])  # fmt: skip
        print(" | ".join(f"{v:.3g}" for v in row))


if __name__ == "__main__":
    main()
