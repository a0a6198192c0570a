"""Small I3 files in the format of processed IceCube data, written with the real icetray.

What a production file has and the package's own simulated files lack: I (TrayInfo) and S
(Simulation) frames, an IC86 geometry table plus a string of multi-PMT modules (mDOMs,
``pmt != 0`` keys), ``BadDomsList``/``BadDomsListSLC`` in D frames (a second D frame midway changes
them), ``InIcePulses`` in Q frames with ``SaturationWindows``/``CalibrationErrata``, P frames of
several sub-event streams (``InIceSplit`` with ``sub_event_id`` 0 and 1, ``NullSplit``,
``IceTopSplit``) whose pulses are masks over ``InIcePulses`` (``SplitInIcePulses``), masks of
masks (``SRTInIcePulses``), HLC/SLC masks and a union; a few non-finite charges.

Next to the file, :func:`write_realformat_i3` returns what it put in, as numpy, so that tests can
compute the expected encoder input without IceTray.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from llp_gap_reco.geometry import Geometry
from llp_gap_reco.simulation import simulate

MDOM_STRING, MDOM_OMS, MDOM_PMTS = 87, range(1, 11), 24
LC = 1  # I3RecoPulse.PulseFlags.LC


@dataclass
class Expected:
    """What one P frame of ``InIceSplit`` holds, as numpy."""

    run_id: int
    event_id: int
    sub_event_id: int
    split: np.ndarray  # float64 [N, 6]: the SplitInIcePulses mask
    srt: np.ndarray  # the SRTInIcePulses mask (of the mask)
    hlc: np.ndarray  # the HLC pulses of SplitInIcePulses
    bad_doms: np.ndarray  # int [K, 3]: BadDomsList + BadDomsListSLC in force
    windows: np.ndarray  # float [W, 5]: SaturationWindows + CalibrationErrata of its Q frame
    lc: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def geometry_with_mdoms(table: str | os.PathLike) -> Geometry:
    """The in-ice DOMs of the IC86 table ``table`` (graphnet's format, see ``_ic86_table``) plus
    one string of 10 mDOMs (module positions)."""
    ic86 = Geometry.from_table(table)
    oms = np.array(list(MDOM_OMS))
    pos = np.column_stack([np.full(oms.size, 40.0), np.full(oms.size, -40.0), -200.0 - 10 * oms])
    return Geometry(
        np.r_[ic86.string, np.full(oms.size, MDOM_STRING)],
        np.r_[ic86.om, oms],
        np.r_[ic86.pos, pos],
        np.r_[ic86.dom_type, np.full(oms.size, "mDOM")],
        source="IC86 table + 10 mDOMs",
    )


def _i3geometry(geometry: Geometry):
    from icecube import dataclasses, icetray

    geo = dataclasses.I3Geometry()
    for s, o, (x, y, z), t in zip(geometry.string, geometry.om, geometry.pos, geometry.dom_type):
        pmts = range(MDOM_PMTS) if t == "mDOM" else (0,)
        for pmt in pmts:
            g = dataclasses.I3OMGeo()
            # PMTs of an mDOM sit 0.1 m around the module centre (mean = centre)
            phi = 2 * np.pi * pmt / len(pmts)
            d = 0.1 if len(pmts) > 1 else 0.0
            g.position = dataclasses.I3Position(x + d * np.cos(phi), y + d * np.sin(phi), z)
            g.omtype = (
                dataclasses.I3OMGeo.OMType.mDOM
                if t == "mDOM"
                else dataclasses.I3OMGeo.OMType.IceCube
            )
            g.area = 0.0444
            geo.omgeo[icetray.OMKey(int(s), int(o), pmt)] = g
    geo.start_time = dataclasses.I3Time(2020, 0)
    geo.end_time = dataclasses.I3Time(2030, 0)
    return geo


def _pulse_map(pulses: np.ndarray, lc: np.ndarray):
    from icecube import dataclasses, icetray

    out = dataclasses.I3RecoPulseSeriesMap()
    pulses = pulses.copy()
    pulses[:, 4:6] = pulses[:, 4:6].astype(np.float32)  # I3RecoPulse stores charge, width as float
    order = np.lexsort((pulses[:, 3], pulses[:, 2], pulses[:, 1], pulses[:, 0]))
    pulses, lc = pulses[order], lc[order]
    keys = pulses[:, :3].astype(np.int64)
    starts = np.flatnonzero(np.r_[True, np.any(keys[1:] != keys[:-1], axis=1)])
    for a, b in zip(starts, np.r_[starts[1:], len(pulses)]):
        series = dataclasses.I3RecoPulseSeries()
        for (t, q, w), f in zip(pulses[a:b, 3:6], lc[a:b]):
            p = dataclasses.I3RecoPulse()
            p.time, p.charge, p.width, p.flags = float(t), float(q), float(w), LC if f else 0
            series.append(p)
        out[icetray.OMKey(*map(int, keys[a]))] = series
    return out, pulses, lc


def _omkey_vector(rows):
    from icecube import dataclasses, icetray

    return dataclasses.I3VectorOMKey([icetray.OMKey(*map(int, r)) for r in rows])


def _window_map(rows):
    from icecube import dataclasses, icetray

    out = dataclasses.I3TimeWindowSeriesMap()
    for s, o, p, a, b in rows:
        key = icetray.OMKey(int(s), int(o), int(p))
        series = out[key] if key in out else dataclasses.I3TimeWindowSeries()
        series.append(dataclasses.I3TimeWindow(float(a), float(b)))
        out[key] = series
    return out


def write_realformat_i3(
    path: str,
    n_events: int,
    table: str | os.PathLike,
    seed: int = 1,
    run_id: int = 7,
    with_gcd: bool = True,
) -> list[Expected]:
    """Write ``n_events`` DAQ events (with GCD, I and S frames) on the IC86 table ``table`` plus
    mDOMs to ``path``; return what every ``InIceSplit`` P frame holds, in file order."""
    from icecube import dataclasses, dataio, icetray

    rng = np.random.default_rng(seed)
    geometry = geometry_with_mdoms(table)
    ic86 = Geometry.from_table(table)
    events = list(simulate(n_events, seed=seed, geometry=ic86, run_id=run_id))
    hit = np.unique(np.concatenate([e.pulses[:, :3] for e in events]), axis=0).astype(np.int64)
    bad_lists = [hit[rng.choice(len(hit), 8, replace=False)] for _ in range(2)]
    out = dataio.I3File(path, "w")
    expected: list[Expected] = []

    def push(frame):
        out.push(frame)

    info = icetray.I3Frame(icetray.I3Frame.TrayInfo)
    info["ProcessingNote"] = dataclasses.I3String("real-format stand-in")
    push(info)
    if with_gcd:
        g = icetray.I3Frame(icetray.I3Frame.Geometry)
        g["I3Geometry"] = _i3geometry(geometry)
        push(g)
        c = icetray.I3Frame(icetray.I3Frame.Calibration)
        c["I3Calibration"] = dataclasses.I3Calibration()
        push(c)
    bad = None
    for i, ev in enumerate(events):
        if with_gcd and i in (0, n_events // 2):
            d = icetray.I3Frame(icetray.I3Frame.DetectorStatus)
            d["I3DetectorStatus"] = dataclasses.I3DetectorStatus()
            bl = bad_lists[0 if i == 0 else 1]
            d["BadDomsList"] = _omkey_vector(bl[:5])
            d["BadDomsListSLC"] = _omkey_vector(bl[5:])
            push(d)
            bad = bl
        if i == n_events // 3:
            s = icetray.I3Frame(icetray.I3Frame.Simulation)
            s["SimulationNote"] = dataclasses.I3String("S frame")
            push(s)
        p = ev.pulses.copy()
        if i % 3 == 0:  # pulses on mDOM PMTs (pmt != 0)
            k = int(rng.integers(3, 12))
            md = np.column_stack(
                [
                    np.full(k, MDOM_STRING),
                    rng.choice(list(MDOM_OMS), k),
                    rng.integers(0, MDOM_PMTS, k),
                    rng.uniform(p[:, 3].min(), p[:, 3].max(), k),
                    rng.uniform(0.2, 3.0, k),
                    np.full(k, 5.0),
                ]
            )
            p = np.concatenate([p, md])
        if i % 7 == 3:  # a few non-finite charges (removed by the feature cleaning)
            p[rng.choice(len(p), 3, replace=False), 4] = np.nan
        lc = rng.random(len(p)) < 0.6
        full, p, lc = _pulse_map(p, lc)
        q = icetray.I3Frame(icetray.I3Frame.DAQ)
        header = dataclasses.I3EventHeader()
        header.run_id, header.event_id = run_id, int(ev.event_id)
        header.sub_event_stream = ""
        q["I3EventHeader"] = header
        q["InIcePulses"] = full
        rows = p[rng.choice(len(p), min(3, len(p)), replace=False)]
        sat = np.column_stack([rows[:, :3], rows[:, 3] - 1.0, rows[:, 3] + 50.0])
        q["SaturationWindows"] = _window_map(sat)
        windows = sat
        if i % 4 == 1:  # CalibrationErrata only in some Q frames, with an open-ended window
            row = p[int(rng.integers(len(p)))]
            err = np.array([[*row[:3], -np.inf, row[3] + 5.0]])
            q["CalibrationErrata"] = _window_map(err)
            windows = np.concatenate([sat, err])
        push(q)
        t_split = np.quantile(p[:, 3], 0.9)
        for sub, (stream, lo, hi) in enumerate(
            [("InIceSplit", -np.inf, t_split), ("InIceSplit", t_split, np.inf)]
        ):
            if sub == 1 and i % 2:
                continue  # a second InIceSplit sub-event for every other Q frame
            fr = icetray.I3Frame(icetray.I3Frame.Physics)
            h = dataclasses.I3EventHeader(header)
            h.sub_event_stream, h.sub_event_id = stream, sub
            fr["I3EventHeader"] = h
            push_pending = fr
            # masks need the Q frame's keys: build them on a frame that sees InIcePulses
            fr.merge(q)
            fr["SplitInIcePulses"] = dataclasses.I3RecoPulseSeriesMapMask(
                fr, "InIcePulses", lambda om, idx, pulse, lo=lo, hi=hi: bool(lo <= pulse.time < hi)
            )
            fr["SRTInIcePulses"] = dataclasses.I3RecoPulseSeriesMapMask(
                fr, "SplitInIcePulses", lambda om, idx, pulse: idx % 2 == 0
            )
            fr["SplitInIcePulsesHLC"] = dataclasses.I3RecoPulseSeriesMapMask(
                fr, "SplitInIcePulses", lambda om, idx, pulse: bool(pulse.flags & LC)
            )
            fr["SplitInIcePulsesSLC"] = dataclasses.I3RecoPulseSeriesMapMask(
                fr, "SplitInIcePulses", lambda om, idx, pulse: not pulse.flags & LC
            )
            fr["SplitInIcePulsesHLCSLC"] = dataclasses.I3RecoPulseSeriesMapUnion(
                fr, ["SplitInIcePulsesHLC", "SplitInIcePulsesSLC"]
            )
            fr.purge(icetray.I3Frame.DAQ)
            push(push_pending)
            sel = (p[:, 3] >= lo) & (p[:, 3] < hi)
            split = p[sel]
            rank = _rank_in_dom(split)
            expected.append(
                Expected(
                    run_id,
                    int(ev.event_id),
                    sub,
                    split,
                    split[rank % 2 == 0],
                    split[lc[sel]],
                    bad,
                    windows,
                    lc[sel],
                )
            )
        null = icetray.I3Frame(icetray.I3Frame.Physics)
        nh = dataclasses.I3EventHeader(header)
        nh.sub_event_stream, nh.sub_event_id = "NullSplit", 0
        null["I3EventHeader"] = nh
        push(null)
        if i % 5 == 2:
            top = icetray.I3Frame(icetray.I3Frame.Physics)
            th = dataclasses.I3EventHeader(header)
            th.sub_event_stream, th.sub_event_id = "IceTopSplit", 0
            top["I3EventHeader"] = th
            push(top)
    out.close()
    return expected


def _rank_in_dom(pulses: np.ndarray) -> np.ndarray:
    """Index of each pulse within its OMKey's series (pulses sorted by OMKey, then time)."""
    keys = pulses[:, :3]
    new = np.r_[True, np.any(keys[1:] != keys[:-1], axis=1)]
    start = np.maximum.accumulate(np.where(new, np.arange(len(pulses)), 0))
    return np.arange(len(pulses)) - start
