"""Detector volumes: the instrumented volume (string hull x DOM depth range) and the
generation cylinder around it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.geometry import Geometry


def _convex_hull(xy: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull ``[k, 2]`` of points ``[n, 2]`` (monotone chain)."""
    pts = np.unique(xy, axis=0)
    if pts.shape[0] < 3:
        raise ValueError("the geometry needs at least 3 strings to span a volume")

    def half(points: np.ndarray) -> list[tuple[float, ...]]:
        out: list[tuple[float, ...]] = []
        for p in points:
            while len(out) >= 2:
                (ax, ay), (bx, by) = out[-2], out[-1]
                if (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax) > 1e-9:
                    break
                out.pop()
            out.append(tuple(p))
        return out

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


@dataclass
class InstrumentedVolume:
    """Prism over the convex hull of the strings, between the lowest and highest DOM.

    ``hull``: float64 ``[k, 2]`` counter-clockwise, metres; ``z_min``, ``z_max`` metres.
    """

    hull: np.ndarray
    z_min: float
    z_max: float

    def __post_init__(self) -> None:
        self.hull = np.ascontiguousarray(self.hull, dtype=np.float64)
        #: edge vectors ``[k, 2]`` (corner i to i+1) and outward normals ``[k, 2]``
        self._edges = np.roll(self.hull, -1, axis=0) - self.hull
        self._normals = np.column_stack([self._edges[:, 1], -self._edges[:, 0]])

    @classmethod
    def from_geometry(cls, geometry: Geometry) -> InstrumentedVolume:
        return cls(
            _convex_hull(geometry.pos[:, :2]),
            float(geometry.pos[:, 2].min()),
            float(geometry.pos[:, 2].max()),
        )

    def contains(self, points: np.ndarray) -> np.ndarray:
        """bool ``[n]`` for points ``[n, 3]`` (inside or on the boundary)."""
        p = np.asarray(points, dtype=np.float64)
        a, e = self.hull, self._edges
        # z-component of edge x (point - corner), [n, k]: >= 0 on the inner side of every edge
        cross = e[:, 0] * (p[:, 1:2] - a[:, 1]) - e[:, 1] * (p[:, 0:1] - a[:, 0])
        inside = (cross >= -1e-9).all(axis=1)
        return inside & (p[:, 2] >= self.z_min) & (p[:, 2] <= self.z_max)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` points ``[n, 3]`` uniform in the volume (rejection from the bounding box)."""
        lo, hi = self.hull.min(0), self.hull.max(0)
        out = np.empty((0, 3))
        while out.shape[0] < n:
            m = 2 * (n - out.shape[0]) + 8
            cand = np.column_stack(
                [
                    rng.uniform(lo[0], hi[0], m),
                    rng.uniform(lo[1], hi[1], m),
                    rng.uniform(self.z_min, self.z_max, m),
                ]
            )
            kept = cand[self.contains(cand)]
            out = np.concatenate([out, kept]) if out.shape[0] else kept
        return out[:n]

    def padded(self, padding: float) -> InstrumentedVolume:
        """The volume grown by ``padding`` m sideways (hull of the corners moved outwards in
        32 directions, as MuonGun's ``ExtrudedPolygon`` padding) and up and down."""
        if padding <= 0:
            return self
        phi = np.linspace(0.0, 2 * np.pi, 32, endpoint=False)
        ring = padding * np.column_stack([np.cos(phi), np.sin(phi)])
        corners = (self.hull[:, None, :] + ring[None]).reshape(-1, 2)
        return InstrumentedVolume(_convex_hull(corners), self.z_min - padding,
                                  self.z_max + padding)  # fmt: skip

    def chord(self, origin: np.ndarray, direction: np.ndarray) -> tuple[float, float]:
        """``(s_in, s_out)`` of the line ``origin + s * direction`` inside the volume
        (``s_in > s_out`` when it misses)."""
        a, normal = self.hull, self._normals  # outward for a counter-clockwise hull
        num = ((a - origin[:2]) * normal).sum(1)
        den = (direction[:2] * normal).sum(1)
        lo, hi = -np.inf, np.inf
        par = np.abs(den) < 1e-12
        if np.any(par & (num < 0)):
            return 0.0, -1.0
        t = num[~par] / den[~par]
        ent = den[~par] < 0
        lo = max(lo, t[ent].max(initial=-np.inf))
        hi = min(hi, t[~ent].min(initial=np.inf))
        if abs(direction[2]) > 1e-12:
            z1 = (self.z_min - origin[2]) / direction[2]
            z2 = (self.z_max - origin[2]) / direction[2]
            lo, hi = max(lo, min(z1, z2)), min(hi, max(z1, z2))
        elif not self.z_min <= origin[2] <= self.z_max:
            return 0.0, -1.0
        return float(lo), float(hi)

    @property
    def radius(self) -> float:
        """Largest horizontal distance of a hull corner from the origin, m."""
        return float(np.hypot(self.hull[:, 0], self.hull[:, 1]).max())


@dataclass
class Cylinder:
    """Vertical cylinder centred on the z axis: ``radius``, ``z_min``, ``z_max`` in metres."""

    radius: float
    z_min: float
    z_max: float

    def intersect(self, origin: np.ndarray, direction: np.ndarray) -> tuple[float, float]:
        """``(s_in, s_out)`` along ``origin + s * direction`` (unit direction, origin inside)."""
        o, d = origin, direction
        a = d[0] ** 2 + d[1] ** 2
        if a > 1e-12:
            b = o[0] * d[0] + o[1] * d[1]
            c = o[0] ** 2 + o[1] ** 2 - self.radius**2
            root = np.sqrt(max(b * b - a * c, 0.0))
            side = ((-b - root) / a, (-b + root) / a)
        else:
            side = (-np.inf, np.inf)
        if abs(d[2]) > 1e-12:
            z1, z2 = (self.z_min - o[2]) / d[2], (self.z_max - o[2]) / d[2]
            cap = (min(z1, z2), max(z1, z2))
        else:
            cap = (-np.inf, np.inf)
        return float(max(side[0], cap[0])), float(min(side[1], cap[1]))
