"""The batching engine behind LLPGapReco, on dict frames (no icetray needed).

The reconstruction callable here is deterministic and cheap (per-event feature sums), so that each
written result can be traced back to the frame it belongs to; what is tested is ordering,
batching, selection, statuses and bounded memory, not the model.
"""

from __future__ import annotations

import numpy as np
import pytest
from llp_gap_reco.core.status import Status
from llp_gap_reco.features import FeatureExtractor
from llp_gap_reco.geometry import Geometry
from llp_gap_reco.i3.engine import BatchingEngine
from llp_gap_reco.i3.frame_queue import FrameQueue
from llp_gap_reco.i3.results import EventResult
from llp_gap_reco.simulation import simulate

GEO = Geometry.icecube86_like()
PULSES = "Pulses"


class DictAccess:
    """Frames are dicts; ``pushed`` frames must never be written again."""

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
            EventResult(Status.OK, f.shape[0], mean, np.eye(6), np.ones(6), 1.0, 0.1, -5, -7)
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
    eng = BatchingEngine(DictAccess(), ex, fake_reconstruct, pulse_key=PULSES,
                         output_name="Reco", batch_size=batch_size, sub_event_stream="InIceSplit")
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
    eng = BatchingEngine(DictAccess(), FeatureExtractor(), fake_reconstruct, pulse_key=PULSES,
                         output_name="Reco", batch_size=5,
                         condition=lambda fr: fr["index"] % 2 == 0)
    pushed, _ = run(frames, eng)
    assert [f["index"] for f in pushed] == list(range(len(frames)))
    for f in frames:
        if f["stop"] == "P":
            assert ("Reco_Params" in f) == (f["index"] % 2 == 0)


def test_failed_batch_marks_events_and_keeps_frames():
    frames = make_stream(40)

    def broken(batch):
        raise FloatingPointError("boom")

    eng = BatchingEngine(DictAccess(), FeatureExtractor(), broken, pulse_key=PULSES,
                         output_name="Reco", batch_size=4)
    pushed, _ = run(frames, eng)
    assert len(pushed) == len(frames)
    statuses = {f["Reco_Params"].status for f in frames if f["stop"] == "P"}
    assert Status.ERROR in statuses and Status.OK not in statuses


def test_output_key_clash_and_missing_geometry_are_clear_errors():
    eng = BatchingEngine(DictAccess(), FeatureExtractor(), fake_reconstruct, pulse_key=PULSES,
                         output_name="Reco")
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
