"""The batching engine behind LLPGapReco, on dict frames (no icetray needed).

The reconstruction callable here is deterministic and cheap (per-event feature sums), so that each
written result can be traced back to the frame it belongs to; what is tested is ordering,
batching, selection, statuses and bounded memory, not the model.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from llp_gap_reco.core.status import Status
from llp_gap_reco.data.features.exclusions import Exclusions
from llp_gap_reco.features import FeatureExtractor
from llp_gap_reco.geometry import Geometry
from llp_gap_reco.i3.engine import BatchingEngine
from llp_gap_reco.i3.errors import ReconstructionError
from llp_gap_reco.i3.frame_features import ExclusionSettings
from llp_gap_reco.i3.frame_queue import FrameQueue
from llp_gap_reco.i3.results import EventResult
from llp_gap_reco.simulation import simulate

GEO = Geometry.icecube86_like()
PULSES = "Pulses"


class DictAccess:
    """Frames are dicts; ``pushed`` frames must never be written again. Keys of the latest
    non-P frames are visible in P frames (as IceTray mixes frames): exclusion entries are
    ``("doms", int [K, 3])`` or ``("windows", float [W, 5])``."""

    def __init__(self):
        self.mixed = {}

    def new_frame(self, frame):
        self.mixed.update({k: v for k, v in frame.items() if isinstance(v, tuple)})

    def exclusions(self, frame, keys):
        seen = {**self.mixed, **{k: v for k, v in frame.items() if isinstance(v, tuple)}}
        return Exclusions.combine(
            [seen[k] for k in keys if k in seen], tuple(k for k in keys if k not in seen)
        )

    def stop(self, frame):
        return frame["stop"]

    def geometry(self, frame):
        return frame["geometry"]

    def pulses(self, frame, key):
        return frame.get(key)

    def sub_event_stream(self, frame):
        return frame.get("sub")

    def has_key(self, frame, key):
        return key in frame

    def write(self, frame, output_name, result):
        assert not frame.get("pushed"), "a frame was changed after it was pushed"
        frame[output_name + "_Params"] = result


def fingerprint(features: np.ndarray) -> float:
    return float(np.float64(features).sum())


def fake_reconstruct(batch):
    out = []
    for f in batch:
        mean = np.full(6, fingerprint(f))
        out.append(
            EventResult(
                Status.OK,
                f.shape[0],
                mean=mean,
                cov=np.eye(6),
                sigma=np.ones(6),
                gap_length_mean=1.0,
                gap_length_sigma=0.1,
                logp_threshold_68=-5,
                logp_threshold_90=-7,
            )
        )
    return out


def make_stream(n_daq: int, seed: int = 3) -> list[dict]:
    """G, C, D, then DAQ groups (Q + 1..3 P frames of two sub-event streams), a second G midway,
    with missing and empty pulse maps sprinkled in."""
    rng = np.random.default_rng(seed)
    events = iter(simulate(n_daq * 3, seed=seed, geometry=GEO))
    frames: list[dict] = [
        {"stop": "G", "geometry": GEO},
        {"stop": "C"},
        {"stop": "D"},
    ]
    for q in range(n_daq):
        if q == n_daq // 2:
            frames += [{"stop": "G", "geometry": GEO}, {"stop": "C"}, {"stop": "D"}]
        frames.append({"stop": "Q", "q": q})
        for s in range(int(rng.integers(1, 4))):
            f = {"stop": "P", "sub": "InIceSplit" if s % 2 == 0 else "NullSplit"}
            r = rng.random()
            if r < 0.03:
                pass  # pulse key missing
            elif r < 0.06:
                f[PULSES] = np.zeros((0, 6))
            else:
                f[PULSES] = next(events).pulses
            frames.append(f)
        if rng.random() < 0.05:
            frames.append({"stop": "I"})  # an unusual stream
    for i, f in enumerate(frames):
        f["index"] = i
    return frames


def run(frames, engine):
    pushed = []
    depth = 0
    for f in frames:
        out = engine.process(f)
        depth = max(depth, len(engine.queue))
        for g in out:
            g["pushed"] = True
        pushed += out
    for g in engine.finish():
        g["pushed"] = True
        pushed.append(g)
    return pushed, depth


@pytest.mark.parametrize("batch_size", [1, 7, 256])
def test_order_count_and_results(batch_size):
    frames = make_stream(700)
    assert len(frames) >= 2000
    ex = FeatureExtractor()
    eng = BatchingEngine(
        DictAccess(),
        ex,
        fake_reconstruct,
        pulse_key=PULSES,
        output_name="Reco",
        batch_size=batch_size,
        sub_event_stream="InIceSplit",
    )
    pushed, depth = run(frames, eng)
    assert [f["index"] for f in pushed] == list(range(len(frames)))
    assert depth <= eng.queue.max_frames
    n_ok = 0
    for f in frames:
        selected = f["stop"] == "P" and f["sub"] == "InIceSplit"
        if not selected:
            assert "Reco_Params" not in f
            continue
        res = f["Reco_Params"]
        if PULSES not in f:
            assert res.status is Status.PULSES_MISSING
        elif len(f[PULSES]) == 0:
            assert res.status is Status.NO_PULSES
            assert np.isnan(res.mean).all()
        else:
            expect = ex.event_features(f[PULSES], GEO)
            assert res.status is Status.OK
            assert res.n_doms == expect.shape[0]
            assert res.mean[0] == pytest.approx(fingerprint(expect), rel=1e-12)
            n_ok += 1
    assert n_ok > 500
    assert eng.stats.by_status[Status.OK] == n_ok


def test_condition_skips_but_keeps_place():
    frames = make_stream(60)
    eng = BatchingEngine(
        DictAccess(),
        FeatureExtractor(),
        fake_reconstruct,
        pulse_key=PULSES,
        output_name="Reco",
        batch_size=5,
        condition=lambda fr: fr["index"] % 2 == 0,
    )
    pushed, _ = run(frames, eng)
    assert [f["index"] for f in pushed] == list(range(len(frames)))
    for f in frames:
        if f["stop"] == "P":
            assert ("Reco_Params" in f) == (f["index"] % 2 == 0)


def broken(batch):
    raise FloatingPointError("boom")


def test_unexpected_error_stops_by_default():
    frames = make_stream(40)
    eng = BatchingEngine(
        DictAccess(), FeatureExtractor(), broken, pulse_key=PULSES, output_name="Reco", batch_size=4
    )
    with pytest.raises(ReconstructionError, match="FloatingPointError: boom") as err:
        run(frames, eng)
    assert isinstance(err.value.__cause__, FloatingPointError)  # the traceback is kept


def test_flagged_batch_marks_events_and_keeps_frames():
    frames = make_stream(40)
    eng = BatchingEngine(
        DictAccess(),
        FeatureExtractor(),
        broken,
        pulse_key=PULSES,
        output_name="Reco",
        batch_size=4,
        on_error="flag",
    )
    pushed, _ = run(frames, eng)
    assert [f["index"] for f in pushed] == list(range(len(frames)))
    statuses = [f["Reco_Params"].status for f in frames if f["stop"] == "P"]
    assert Status.ERROR in statuses and Status.OK not in statuses
    # the summary counts every status, known bad input included
    assert eng.stats.n_written == len(statuses) == eng.stats.events
    for st in set(statuses):
        assert eng.stats.by_status[int(st)] == statuses.count(st)
    assert "ERROR" in eng.stats.summary()


def test_unexpected_feature_error_follows_on_error():
    frames = make_stream(20)
    frames[5][PULSES] = "not an array"  # a pulses object that cannot be read
    for mode in ("raise", "flag"):
        eng = BatchingEngine(
            DictAccess(),
            FeatureExtractor(),
            fake_reconstruct,
            pulse_key=PULSES,
            output_name="Reco",
            batch_size=4,
            on_error=mode,
        )
        if mode == "raise":
            with pytest.raises(ReconstructionError, match="feature extraction"):
                run(copy.deepcopy(frames), eng)
            continue
        fs = copy.deepcopy(frames)
        pushed, _ = run(fs, eng)
        assert len(pushed) == len(fs) and fs[5]["Reco_Params"].status is Status.ERROR
        ok = [f for f in fs if f["stop"] == "P" and f["Reco_Params"].status is Status.OK]
        assert len(ok) > 5


def naive_keep(pulses, bad, windows, partial):
    keep = []
    for s, o, p, t, _, _ in pulses:
        drop = (int(s), int(o), int(p)) in bad
        for ws, wo, wp, a, b in windows:
            if (ws, wo, wp) == (s, o, p) and (not partial or a <= t <= b):
                drop = True
        keep.append(not drop)
    return np.array(keep, dtype=bool)


@pytest.mark.parametrize("partial", [False, True])
def test_exclusions_from_d_and_event_frames(partial):
    """BadDomsList in D frames (replaced by a second D frame), SaturationWindows per event,
    CalibrationErrata never present: excluded DOMs never reach the model."""
    rng = np.random.default_rng(5)
    events = list(simulate(30, seed=21, geometry=GEO))
    bad1 = np.array([[int(s), int(o), 0] for s, o in events[0].pulses[:3, :2]])
    bad2 = np.array([[int(s), int(o), 0] for s, o in events[20].pulses[:2, :2]])
    frames = [{"stop": "G", "geometry": GEO}, {"stop": "D", "BadDomsList": ("doms", bad1)}]
    expect = []
    for i, ev in enumerate(events):
        if i == 15:
            frames.append({"stop": "D", "BadDomsList": ("doms", bad2)})
        p = ev.pulses
        row = p[rng.integers(len(p))]
        win = np.array([[row[0], row[1], row[2], row[3] - 2.0, row[3] + 30.0]])
        frames += [{"stop": "Q"}, {"stop": "P", PULSES: p, "SaturationWindows": ("windows", win)}]
        bad = {tuple(k) for k in (bad1 if i < 15 else bad2).tolist()}
        keep = naive_keep(p, bad, [tuple(w) for w in win], partial)
        before = {(s, o) for s, o in p[:, :2].tolist()}
        after = {(s, o) for s, o in p[keep, :2].tolist()}
        expect.append((p[keep], len(before - after)))
    seen = []

    def recording(batch):
        seen.extend(batch)
        return fake_reconstruct(batch)

    settings = ExclusionSettings(("SaturationWindows", "BadDomsList", "CalibrationErrata"), partial)
    ex = FeatureExtractor()
    eng = BatchingEngine(
        DictAccess(),
        ex,
        recording,
        pulse_key=PULSES,
        output_name="Reco",
        batch_size=7,
        exclusions=settings,
    )
    pushed, _ = run(frames, eng)
    assert len(pushed) == len(frames)
    results = [f["Reco_Params"] for f in frames if f["stop"] == "P"]
    assert len(seen) == len(results) == len(events)
    total_removed = 0
    for res, feats, (kept, n_removed) in zip(results, seen, expect):
        want = ex.event_features(kept, GEO)
        np.testing.assert_array_equal(feats, want)  # the encoder input has no excluded DOM
        assert res.n_doms == want.shape[0] and res.n_doms_excluded == n_removed
        total_removed += n_removed
    assert total_removed > 0 and eng.stats.doms_excluded == total_removed
    # excluding everything is a per-event status, not an error
    p = events[0].pulses
    every = np.unique(p[:, :3], axis=0).astype(np.int64)
    eng = BatchingEngine(
        DictAccess(),
        ex,
        fake_reconstruct,
        pulse_key=PULSES,
        output_name="Reco",
        batch_size=2,
        exclusions=settings,
    )
    allbad = [
        {"stop": "G", "geometry": GEO},
        {"stop": "D", "BadDomsList": ("doms", every)},
        {"stop": "P", PULSES: p},
    ]
    run(allbad, eng)
    res = allbad[-1]["Reco_Params"]
    assert res.status is Status.NO_DOMS_AFTER_CLEANING and res.n_doms_excluded == len(
        np.unique(p[:, :2], axis=0)
    )


def test_output_key_clash_and_missing_geometry_are_clear_errors():
    eng = BatchingEngine(
        DictAccess(), FeatureExtractor(), fake_reconstruct, pulse_key=PULSES, output_name="Reco"
    )
    with pytest.raises(RuntimeError, match="before any geometry"):
        eng.process({"stop": "P", PULSES: np.zeros((0, 6))})
    eng.process({"stop": "G", "geometry": GEO})
    with pytest.raises(RuntimeError, match="Reco_Particle"):
        eng.process({"stop": "P", "Reco_Particle": 1})


def test_queue_bounds_memory_without_physics():
    q: FrameQueue = FrameQueue(batch_size=4, max_frames=10)
    for i in range(9):
        q.append(i)
        assert not q.due
    q.append(9)
    assert q.due
    frames, pending = q.drain()
    assert frames == list(range(10)) and pending == [] and len(q) == 0
    with pytest.raises(ValueError):
        FrameQueue(batch_size=0)
