"""Writes simulated events as a real I3 file: G, C, D frames, then Q + P frames per event.

The G frame carries an ``I3Geometry`` of the generated layout; each Q frame an
``I3EventHeader``; each P frame (sub-event stream ``InIceSplit``) the pulses as an
``I3RecoPulseSeriesMap`` and the truth as the ``LLPInfo`` ``I3MapStringDouble``. An S frame
after the D frame records the simulation settings: ``LLPSimulationConfig`` (the
:class:`SimulationConfig` fields as an ``I3MapStringDouble``: booleans 0/1, ``decay_length``
null as NaN, ``ice_model`` 1 for layered, 0 for homogeneous) and ``LLPSimulationConfigYAML``
(an ``I3String`` with the fields as YAML). With
``null_split`` every Q frame also gets a ``NullSplit`` P frame without pulses, as processed
IceCube files have; ``bad_doms`` puts a ``BadDomsList`` into the D frame.
"""

from __future__ import annotations

import logging
from typing import Optional

import numpy as np
import yaml
from icecube import dataclasses, dataio, icetray

from ..core.geometry import Geometry
from ..data.simulation import SimulationConfig, simulate
from ..data.simulation.config import ConfigLike, resolve_config

logger = logging.getLogger(__name__)


def i3_geometry(geometry: Geometry) -> dataclasses.I3Geometry:
    """An ``I3Geometry`` with one in-ice ``I3OMGeo`` per DOM of ``geometry``."""
    geo = dataclasses.I3Geometry()
    for s, o, (x, y, z) in zip(geometry.string, geometry.om, geometry.pos):
        omgeo = dataclasses.I3OMGeo()
        omgeo.position = dataclasses.I3Position(float(x), float(y), float(z))
        omgeo.omtype = dataclasses.I3OMGeo.OMType.IceCube
        omgeo.orientation = dataclasses.I3Orientation(0, 0, -1, 1, 0, 0)
        omgeo.area = 0.0444
        geo.omgeo[icetray.OMKey(int(s), int(o), 0)] = omgeo
    geo.start_time = dataclasses.I3Time(2020, 0)
    geo.end_time = dataclasses.I3Time(2030, 0)
    return geo


def pulse_map(pulses: np.ndarray) -> dataclasses.I3RecoPulseSeriesMap:
    """``float64 [N, 6]`` (string, om, pmt, time, charge, width) -> ``I3RecoPulseSeriesMap``."""
    out = dataclasses.I3RecoPulseSeriesMap()
    if len(pulses) == 0:
        return out
    keys = pulses[:, :3].astype(np.int64)
    starts = np.flatnonzero(np.r_[True, np.any(keys[1:] != keys[:-1], axis=1)])
    for a, b in zip(starts, np.r_[starts[1:], len(pulses)]):
        series = dataclasses.I3RecoPulseSeries()
        for t, q, w in pulses[a:b, 3:6]:
            p = dataclasses.I3RecoPulse()
            p.time, p.charge, p.width = float(t), float(q), float(w)
            p.flags = 0
            series.append(p)
        s, o, m = (int(v) for v in keys[a])
        out[icetray.OMKey(s, o, m)] = series
    return out


def config_frame(config: SimulationConfig) -> icetray.I3Frame:
    """The S frame recording ``config`` (see the module docstring)."""
    numbers = {}
    for key, value in config.to_dict().items():
        if key == "ice_model":
            value = 1.0 if value == "layered" else 0.0
        numbers[key] = float("nan") if value is None else float(value)
    s = icetray.I3Frame(icetray.I3Frame.Simulation)
    s["LLPSimulationConfig"] = dataclasses.I3MapStringDouble(numbers)
    s["LLPSimulationConfigYAML"] = dataclasses.I3String(yaml.safe_dump(config.to_dict()))
    return s


def write_simulated_i3(
    path: str,
    n_events: int,
    seed: int = 1,
    kind: str = "signal",
    pulse_key: str = "SplitInIcePulses",
    null_split: bool = True,
    geometry: Optional[Geometry] = None,
    run_id: int = 1,
    config: ConfigLike = None,
    bad_doms: Optional[np.ndarray] = None,
) -> int:
    """Simulate ``n_events`` events into the I3 file ``path`` (.i3, .i3.gz, .i3.zst); returns
    the number of frames written. ``config``: :class:`SimulationConfig`, mapping or YAML path
    (``None``: the defaults); ``bad_doms``: int ``[K, 2]`` (string, om) of DOMs listed in the
    D frame's ``BadDomsList``."""
    geometry = geometry or Geometry.icecube86_like()
    config = resolve_config(config)
    out = dataio.I3File(path, "w")
    n_frames = 0
    try:
        g = icetray.I3Frame(icetray.I3Frame.Geometry)
        g["I3Geometry"] = i3_geometry(geometry)
        c = icetray.I3Frame(icetray.I3Frame.Calibration)
        c["I3Calibration"] = dataclasses.I3Calibration()
        d = icetray.I3Frame(icetray.I3Frame.DetectorStatus)
        d["I3DetectorStatus"] = dataclasses.I3DetectorStatus()
        if bad_doms is not None:
            d["BadDomsList"] = dataclasses.I3VectorOMKey(
                [icetray.OMKey(int(k[0]), int(k[1]), 0) for k in np.asarray(bad_doms)]
            )
        for fr in (g, c, d, config_frame(config)):
            out.push(fr)
            n_frames += 1
        for ev in simulate(
            n_events, seed=seed, geometry=geometry, kind=kind, run_id=run_id, config=config
        ):
            q = icetray.I3Frame(icetray.I3Frame.DAQ)
            header = dataclasses.I3EventHeader()
            header.run_id, header.event_id = int(ev.run_id), int(ev.event_id)
            header.sub_event_stream = ""
            q["I3EventHeader"] = header
            out.push(q)
            p = icetray.I3Frame(icetray.I3Frame.Physics)
            ph = dataclasses.I3EventHeader(header)
            ph.sub_event_stream, ph.sub_event_id = "InIceSplit", 0
            p["I3EventHeader"] = ph
            p[pulse_key] = pulse_map(ev.pulses)
            info = {k: float(v) for k, v in ev.llp_info().items()}
            p["LLPInfo"] = dataclasses.I3MapStringDouble(info)
            out.push(p)
            n_frames += 2
            if null_split:
                n = icetray.I3Frame(icetray.I3Frame.Physics)
                nh = dataclasses.I3EventHeader(header)
                nh.sub_event_stream, nh.sub_event_id = "NullSplit", 0
                n["I3EventHeader"] = nh
                out.push(n)
                n_frames += 1
    finally:
        out.close()
    logger.info("wrote %d frames (%d events) to %s", n_frames, n_events, path)
    return n_frames
