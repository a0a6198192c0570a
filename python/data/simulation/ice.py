"""Optical properties of the ice along a photon's path: attenuation length of the expected
light and the Pandel delay parameters.

``"layered"``: absorption ``a(z)`` and effective scattering ``b_e(z)`` coefficients at 400 nm
from the SPICE1 ice model (IceCube, D. Chirkin et al.; method: IceCube, NIM A 711 (2013) 73),
its 10 m layers between z = -565 m and +555 m from the table in IceCube coordinates distributed with
icetray (``phys-services/resources/ice_tables/Ice_table.spice.i3coords.cos080.10feb2010.txt``,
column 400 nm). The main dust layer sits at z ≈ −140…−40 m (depth ≈ 1990–2090 m).

Approximation: a photon from ``z1`` to ``z2`` sees the path averages ``<a>``, ``<b_e>``
(exact integrals of the binned table along z). The Pandel length parameters scale with
``1/<b_e>`` (lambda) and ``1/<a>`` (lambda_a) around the published bulk values; the
expected-light attenuation length scales with the diffusion length of those
(:func:`diffusion_length`), so that the detector-average ice gives the homogeneous model's
:data:`~.constants.ATTENUATION_LENGTH` (35 m there, about the diffusion length over
``sin(theta_c)``: the light's e-folding in perpendicular distance is the diffusion length).
``"homogeneous"``: the bulk values everywhere.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .constants import ATTENUATION_LENGTH, PANDEL_LAMBDA, PANDEL_LAMBDA_A

#: lower edge of the first 10 m layer (IceCube z, m) and the layer thickness
TABLE_Z0, TABLE_DZ = -565.4, 10.0
#: absorption coefficient a(400 nm), 1e-3 / m, layers from TABLE_Z0 upwards
ABSORPTION = np.array([
    7.1, 7.2, 7.0, 5.6, 4.5, 3.6, 3.6, 3.8, 4.0, 5.1, 5.5, 5.4, 5.3, 5.7, 7.8, 8.9, 9.1,
    8.0, 6.1, 4.6, 3.7, 3.9, 4.2, 4.3, 4.5, 5.3, 5.5, 5.5, 5.6, 6.3, 7.4, 9.0, 9.3, 9.3,
    8.7, 6.9, 6.1, 5.7, 5.7, 6.8, 6.1, 7.0, 11.8, 17.9, 21.9, 27.3, 28.2, 25.6, 23.9, 20.5,
    18.7, 19.1, 17.6, 16.3, 15.4, 11.4, 8.6, 6.3, 5.7, 5.6, 5.6, 6.4, 8.2, 11.3, 11.6, 11.0,
    9.5, 8.1, 7.3, 6.4, 5.8, 6.8, 7.8, 7.3, 8.8, 10.3, 11.4, 11.6, 11.4, 11.5, 10.9, 8.4,
    6.2, 5.6, 5.7, 5.9, 8.0, 10.2, 11.8, 11.7, 10.7, 11.1, 13.2, 15.1, 15.7, 17.4, 18.0,
    16.0, 11.3, 8.2, 6.3, 6.2, 8.1, 10.7, 13.2, 15.1, 15.5, 15.1, 13.4, 12.3, 12.3, 12.9,
    14.7,
]) * 1e-3  # fmt: skip
#: effective scattering coefficient b_e(400 nm), 1e-3 / m, same layers
SCATTERING = np.array([
    31.9, 32.5, 31.2, 24.7, 18.3, 14.1, 13.3, 14.5, 16.2, 19.1, 20.6, 19.7, 20.7, 24.9,
    36.1, 42.0, 47.3, 39.8, 29.3, 18.0, 15.9, 14.8, 15.3, 14.8, 16.6, 20.4, 21.8, 21.9,
    22.7, 28.6, 37.0, 44.0, 43.5, 46.1, 43.0, 30.6, 27.3, 24.9, 27.6, 31.5, 27.9, 31.3,
    53.7, 92.4, 165.8, 239.2, 248.5, 206.2, 185.1, 150.7, 122.7, 115.7, 111.6, 102.6, 78.0,
    65.2, 41.4, 29.9, 24.2, 23.2, 24.3, 31.1, 35.7, 50.5, 62.2, 52.1, 45.0, 37.5, 36.6,
    31.3, 28.0, 31.4, 36.0, 36.6, 41.7, 51.7, 60.1, 65.8, 68.0, 60.2, 51.5, 42.1, 29.3,
    23.8, 25.8, 28.0, 39.6, 51.3, 65.4, 60.6, 60.9, 58.9, 67.2, 79.0, 89.6, 99.0, 91.1,
    77.8, 64.7, 41.0, 29.8, 31.6, 39.4, 51.5, 68.5, 77.8, 73.3, 75.1, 74.0, 68.0, 68.1,
    67.7, 75.4,
]) * 1e-3  # fmt: skip
#: depth range of the instrumented volume over which the reference (bulk) ice is averaged, m
REFERENCE_Z = (-500.0, 500.0)

_EDGES = TABLE_Z0 + TABLE_DZ * np.arange(ABSORPTION.size + 1)
#: the bin edges with one far edge on each side, where the edge bins continue
_FAR = 1e5
_EDGES_EXT = np.concatenate([[_EDGES[0] - _FAR], _EDGES, [_EDGES[-1] + _FAR]])


def _cumulative(coef: np.ndarray) -> np.ndarray:
    """Integral of the binned ``coef`` from the lower far edge at each of ``_EDGES_EXT``."""
    inner = np.cumsum(np.concatenate([[coef[0] * _FAR], coef * TABLE_DZ]))
    return np.concatenate([[0.0], inner, [inner[-1] + coef[-1] * _FAR]])


class IceModel:
    """Path-averaged ice for the expected light and the Pandel delays (see module docstring)."""

    def __init__(self, kind: str = "layered") -> None:
        if kind not in ("layered", "homogeneous"):
            raise ValueError(f"ice model must be 'layered' or 'homogeneous', got {kind!r}")
        self.kind = kind
        self._cum_a, self._cum_b = _cumulative(ABSORPTION), _cumulative(SCATTERING)
        lo, hi = REFERENCE_Z
        self.a_ref, self.b_ref = (
            float(np.diff(np.interp([lo, hi], _EDGES_EXT, c))[0] / (hi - lo))
            for c in (self._cum_a, self._cum_b)
        )
        self._att_ref = float(diffusion_length(self.a_ref, self.b_ref))

    def path_coefficients(self, z1: np.ndarray, z2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Path averages ``(<a>, <b_e>)`` (1/m) between depths ``z1`` and ``z2`` (m, broadcast;
        beyond the table the edge bins continue)."""
        z1, z2 = np.asarray(z1, float), np.asarray(z2, float)
        if z1.shape != z2.shape:
            z1, z2 = np.broadcast_arrays(z1, z2)
        dz = z2 - z1
        flat = np.abs(dz) < 1.0
        any_flat = bool(flat.any())
        if any_flat:
            dz = np.where(flat, 1.0, dz)
            im = self._bin(0.5 * (z1 + z2))
        out = []
        for cum, coef in ((self._cum_a, ABSORPTION), (self._cum_b, SCATTERING)):
            # the integral of a binned coefficient is piecewise linear between the bin edges
            mean = (np.interp(z2, _EDGES_EXT, cum) - np.interp(z1, _EDGES_EXT, cum)) / dz
            out.append(np.where(flat, coef[im], mean) if any_flat else mean)
        return out[0], out[1]

    @staticmethod
    def _bin(z: np.ndarray) -> np.ndarray:
        i = ((z - TABLE_Z0) * (1.0 / TABLE_DZ)).astype(np.int64)
        return np.minimum(np.maximum(i, 0), ABSORPTION.size - 1)

    def propagation(
        self, z1: np.ndarray, z2: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(attenuation length, Pandel lambda, Pandel lambda_a)``, m, for photons from depth
        ``z1`` to ``z2`` (arrays broadcast; scalars everywhere for ``"homogeneous"``)."""
        if self.kind == "homogeneous":
            shape = np.broadcast_shapes(np.shape(z1), np.shape(z2))
            return (np.full(shape, ATTENUATION_LENGTH), np.full(shape, PANDEL_LAMBDA),
                    np.full(shape, PANDEL_LAMBDA_A))  # fmt: skip
        a, b = self.path_coefficients(z1, z2)
        lam, lam_a = PANDEL_LAMBDA * self.b_ref / b, PANDEL_LAMBDA_A * self.a_ref / a
        att = ATTENUATION_LENGTH * diffusion_length(a, b) / self._att_ref
        return att, lam, lam_a


def diffusion_length(a: ArrayLike, b_e: ArrayLike) -> np.ndarray:
    """Diffusion length ``sqrt(D / a) = 1 / sqrt(3 a (a + b_e))`` (m) of ice with absorption
    ``a`` and effective scattering ``b_e`` (1/m): the e-folding length of light far from a
    source, where it has forgotten its direction."""
    a, b_e = np.asarray(a, float), np.asarray(b_e, float)
    return 1.0 / np.sqrt(3.0 * a * (a + b_e))
