"""Writes one event's :class:`EventResult` into an I3 frame as standard dataclasses.

Keys, for ``OutputName = N``:

* ``N_Production``, ``N_Decay``: ``I3Position``, posterior means [m]
* ``N_Covariance``: ``I3Matrix`` 6x6 [m^2], order prod_x, prod_y, prod_z, decay_x, decay_y, decay_z
* ``N_Params``: ``I3MapStringDouble`` (means, sigmas, gap length and sigma, the 21 covariance
  entries ``cov_<a>_<b>``, n_doms, n_doms_excluded, HDR log-p thresholds, status code; see
  resources/docs/icetray.md); tableio books it
* ``N_Particle``: ``I3Particle`` with pos = production, dir = toward the decay vertex, length =
  gap length, ``fit_status`` OK or a failure code
"""

from __future__ import annotations

import numpy as np
from icecube import dataclasses, icetray

from ..core.status import Status
from .results import EventResult

_INSUFFICIENT = {Status.PULSES_MISSING, Status.NO_PULSES, Status.NO_DOMS_AFTER_CLEANING}


def fit_status(status: Status) -> dataclasses.I3Particle.FitStatus:
    """I3Particle.FitStatus for a reconstruction status."""
    if status is Status.OK:
        return dataclasses.I3Particle.FitStatus.OK
    if status in _INSUFFICIENT:
        return dataclasses.I3Particle.FitStatus.InsufficientHits
    if status is Status.SKIPPED:
        return dataclasses.I3Particle.FitStatus.NotSet
    return dataclasses.I3Particle.FitStatus.GeneralFailure


def particle(result: EventResult) -> dataclasses.I3Particle:
    p = dataclasses.I3Particle()
    p.shape = dataclasses.I3Particle.ParticleShape.ContainedTrack
    p.fit_status = fit_status(result.status)
    prod, decay = result.production, result.decay
    p.pos = dataclasses.I3Position(*map(float, prod))
    step = decay - prod
    if np.all(np.isfinite(step)) and np.linalg.norm(step) > 0:
        p.dir = dataclasses.I3Direction(*map(float, step))
    p.length = float(result.gap_length_mean)
    return p


def write_result(frame: icetray.I3Frame, output_name: str, result: EventResult) -> None:
    """Put the five output objects of ``result`` into ``frame``."""
    frame[output_name + "_Production"] = dataclasses.I3Position(*map(float, result.production))
    frame[output_name + "_Decay"] = dataclasses.I3Position(*map(float, result.decay))
    cov = np.ascontiguousarray(result.cov, dtype=float)
    frame[output_name + "_Covariance"] = dataclasses.I3Matrix(cov)
    frame[output_name + "_Params"] = dataclasses.I3MapStringDouble(result.params())
    frame[output_name + "_Particle"] = particle(result)
