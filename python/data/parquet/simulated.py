"""Write a converted folder from the built-in simulator."""

from __future__ import annotations

import logging
import multiprocessing
from typing import Mapping, Optional

import numpy as np
from tqdm import tqdm

from ...core.geometry import Geometry
from ..features import FeatureExtractor
from ..simulation import simulate
from ..simulation.config import ConfigLike, SimulationConfig, resolve_config
from .format import DEFAULT_EVENTS_PER_FILE, DEFAULT_ROW_GROUP_SIZE
from .writer import ConvertedFolderWriter

logger = logging.getLogger(__name__)

#: events simulated and featurised together
_CHUNK = 256
_MUON_KEYS = ("muon_energy", "zenith", "muon_length")


def write_simulated_folder(
    out_dir: str,
    n_events: int,
    seed: int = 0,
    events_per_file: int = DEFAULT_EVENTS_PER_FILE,
    kind: str = "signal",
    progress: bool = True,
    feature_config: Optional[Mapping] = None,
    geometry: Optional[Geometry] = None,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    prefix: Optional[str] = None,
    resume: bool = False,
    run_id: int = 0,
    config: ConfigLike = None,
    workers: int = 1,
) -> dict:
    """Simulate ``n_events`` (seeded), compute their features and write a converted folder.

    ``kind="signal"`` writes a labeled folder (LLP truth columns); ``"background"`` an unlabeled
    one (the truth columns hold NaN and the manifest says ``labeled: false``). ``config``: a
    :class:`~..simulation.SimulationConfig`, mapping or YAML path (``None``: defaults); the
    manifest records its fields under ``source.simulator.config``. Returns the manifest. A
    rerun with ``resume=True`` continues after the last complete data file (the simulator is
    deterministic per event, so the result equals an uninterrupted run). ``workers > 1``
    simulates in that many processes; the folder is the same as with one.
    """

    geometry = geometry if geometry is not None else Geometry.icecube86_like()
    fx = FeatureExtractor(feature_config)
    config = resolve_config(config)
    source = {
        "simulator": {
            "n_events": int(n_events),
            "seed": int(seed),
            "run_id": int(run_id),
            "kind": kind,
            "geometry": str(getattr(geometry, "source", "icecube86_like")),
            "config": config.to_dict(),
        }
    }
    writer = ConvertedFolderWriter(
        out_dir,
        fx.config,
        fx.feature_indices,
        events_per_file=events_per_file,
        row_group_size=row_group_size,
        prefix=prefix or f"sim_{kind}",
        resume=resume,
        labeled=kind == "signal",
        source=source,
    )
    if writer.complete:
        logger.info(
            "%s is complete already (%d events)", out_dir, sum(f["n_events"] for f in writer.files)
        )
        return writer.close()
    done = writer.n_input_events
    job = _ChunkJob(n_events, seed, kind, run_id, config, fx, geometry)
    starts = range(done, n_events, job.chunk)
    with tqdm(
        total=n_events, initial=done, unit="ev", desc="simulate", disable=not progress
    ) as bar:
        if workers > 1:
            # events depend only on (seed, run_id, kind, event_id): any split gives the same
            # events, and imap hands the chunks back in order
            context = multiprocessing.get_context("spawn")
            with context.Pool(workers, initializer=_set_job, initargs=(job,)) as pool:
                for chunk in pool.imap(_run_chunk, starts):
                    writer.add_batch(*chunk)
                    bar.update(len(chunk[0]))
        else:
            for start in starts:
                chunk = job(start)
                writer.add_batch(*chunk)
                bar.update(len(chunk[0]))
    return writer.close()


class _ChunkJob:
    """Simulates and featurises the events ``[start, start + chunk)`` of one folder."""

    def __init__(self, n_events: int, seed: int, kind: str, run_id: int,
                 config: SimulationConfig, fx: FeatureExtractor,
                 geometry: Geometry) -> None:  # fmt: skip
        self.n_events, self.seed, self.kind, self.run_id = n_events, seed, kind, run_id
        self.config, self.fx, self.geometry = config, fx, geometry
        self.chunk = _CHUNK  # the parent's value, also in spawned workers

    def __call__(self, start: int) -> tuple:
        """``writer.add_batch``'s positional arguments for the chunk starting at ``start``."""
        n = min(self.chunk, self.n_events - start)
        chunk = list(simulate(n, seed=self.seed, geometry=self.geometry, kind=self.kind,
                              first_event_id=start, run_id=self.run_id,
                              config=self.config))  # fmt: skip
        lens = np.array([ev.pulses.shape[0] for ev in chunk], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lens)])
        pulses = np.concatenate([ev.pulses for ev in chunk]).reshape(-1, 6)
        batch = self.fx.batch_features(pulses, offsets, self.geometry)
        truths = [ev.truth for ev in chunk] if self.kind == "signal" else None
        muons = [{k: ev.truth.get(k, np.nan) for k in _MUON_KEYS} for ev in chunk]
        return [ev.run_id for ev in chunk], [ev.event_id for ev in chunk], batch, truths, muons


_JOB: Optional[_ChunkJob] = None


def _set_job(job: _ChunkJob) -> None:
    global _JOB
    _JOB = job


def _run_chunk(start: int) -> tuple:
    assert _JOB is not None, "worker started without its job"
    return _JOB(start)
