"""The brightness term of a flow's event width: widths that hold for dim and bright events.

The event width ``exp(bias + w . encoding)`` (``temperature_weights``) is fitted by maximum
likelihood, which matches the mean of the truths' squared base radius per event class, not the
coverage of its regions; in the physics run the dimmest fifth of the events stayed ~7 points
under the 68% level (``resources/docs/evaluation.md``). The brightness term multiplies each
event's width by ``exp(g(s))``, with

    s = c_0 + c . encoding     (the encoding's linear prediction of the standardised log n_doms)

and ``g`` piecewise linear in ``s`` between knots, constant beyond them; ``c`` and ``g`` are
fitted on validation events (:mod:`...evaluation.brightness_width_fit`). It is a function of the
encoding alone, so prediction needs nothing else.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch


class BrightnessWidth:
    """``g(s(encoding))``: ``direction = [c_0, c_1 .. c_D]`` gives ``s``; ``values [K]`` at
    ``knots [K]`` (increasing ``s``), linear between them, constant beyond."""

    def __init__(self, direction: Sequence[float], knots: Sequence[float],
                 values: Sequence[float]) -> None:  # fmt: skip
        d, k, v = (torch.as_tensor(a, dtype=torch.float64).flatten()
                   for a in (direction, knots, values))  # fmt: skip
        if d.numel() < 2 or k.numel() < 2 or v.numel() != k.numel():
            raise ValueError(
                "brightness width: needs a direction [1 + D] and >= 2 knots with one value "
                f"each, got {d.numel()}, {k.numel()}, {v.numel()}"
            )
        finite = all(bool(torch.isfinite(a).all()) for a in (d, k, v))
        if not finite or not bool((k[1:] > k[:-1]).all()):
            raise ValueError("brightness width: numbers must be finite and knots increasing")
        self.direction, self.knots, self.values = d, k, v

    def config(self) -> dict[str, Any]:
        """Plain data that rebuilds the term: ``BrightnessWidth(**config)``."""
        return {k: [float(x) for x in getattr(self, k)] for k in ("direction", "knots", "values")}

    def score(self, encoding: torch.Tensor) -> torch.Tensor:
        """``s [B]`` (float64) of encodings ``[B, D]``."""
        d = self.direction.to(encoding.device)
        return d[0] + encoding.to(torch.float64) @ d[1:]

    def __call__(self, encoding: torch.Tensor) -> torch.Tensor:
        """``g(s) [B]`` (float64): the log factor of each event's width."""
        return interpolate(self.score(encoding), self.knots, self.values)


def interpolate(s: torch.Tensor, knots: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``values`` at ``knots`` interpolated linearly at ``s`` (any shape), constant beyond the
    ends (``numpy.interp``'s rule), float64; differentiable in ``values``."""
    knots = knots.to(s.device, torch.float64)
    x = s.to(torch.float64).clamp(float(knots[0]), float(knots[-1]))
    i = torch.bucketize(x.contiguous(), knots[1:-1], right=True)
    frac = (x - knots[i]) / (knots[i + 1] - knots[i])
    v = values.to(s.device, torch.float64)
    return v[i] + frac * (v[i + 1] - v[i])
