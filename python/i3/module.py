"""``LLPGapReco``: the I3Module that reconstructs LLP production and decay vertices.

Add it to a tray after an ``I3Reader`` that reads the GCD file and the data::

    from icecube.llp_gap_reco import LLPGapReco
    tray.AddModule(LLPGapReco, "llpreco", ModelPath="model.pt", BatchSize=256)

Frames of every type wait in one queue while a batch fills, and leave in arrival order; see
resources/docs/icetray.md for every parameter, output key and status code.
"""

from __future__ import annotations

import time
from typing import Optional, Sequence

import numpy as np
import torch
from icecube import icetray
from icecube.icetray import logging as i3logging

from ..core.atomic import atomic_write_json
from ..core.geometry import Geometry
from ..data.features import FeatureExtractor
from ..model.bundle import load_bundle
from . import logging_bridge
from .access import I3FrameAccess
from .engine import ON_ERROR, BatchingEngine
from .errors import ConfigurationError
from .frame_features import ExclusionSettings
from .results import EventResult, results_from_summary

_UNIT = "LLPGapReco"


class LLPGapReco(icetray.I3Module):
    """Reconstructs LLP vertices with a posterior per event, batching frames for the model."""

    def __init__(self, context: icetray.I3Context) -> None:
        super().__init__(context)
        self.AddParameter(
            "ModelPath",
            "Path of the model bundle (.pt) written by training or `llp-gap-reco import-seed`.",
            None,
        )
        self.AddParameter(
            "Pulses",
            "Key of the I3RecoPulseSeriesMap (or mask, or union) to "
            "read; default: the pulse key of the bundle's feature config.",
            None,
        )
        self.AddParameter(
            "OutputName",
            "Prefix of the output keys (_Production, _Decay, _Covariance, _Params, _Particle).",
            "LLPGapReco",
        )
        self.AddParameter(
            "BatchSize",
            "Events per model call; frames are held until a batch is full (or at Finish).",
            256,
        )
        self.AddParameter(
            "Device", "'auto' (CUDA when available, else CPU), 'cpu', 'cuda' or 'cuda:N'.", "auto"
        )
        self.AddParameter(
            "SubEventStream",
            "Reconstruct only P frames of this sub-event stream (None: all).",
            None,
        )
        self.AddParameter(
            "If",
            "Python callable frame -> bool; P frames for which it is False "
            "pass untouched (in order).",
            None,
        )
        self.AddParameter(
            "Samples", "Quasi-Monte Carlo samples per event for the posterior summary.", 512
        )
        self.AddParameter(
            "Seed", "Seed of the scrambled Sobol points (results are deterministic given it).", 0
        )
        self.AddParameter(
            "Threads",
            "torch CPU threads; 0 keeps torch's default (set 1 on grid slots of one core).",
            0,
        )
        self.AddParameter(
            "MaxHeldFrames",
            "Flush when this many frames are held even if the "
            "batch is not full (0: 16 x BatchSize).",
            0,
        )
        self.AddParameter("GeometryKey", "Key of the I3Geometry in G frames.", "I3Geometry")
        self.AddParameter(
            "GeometryTable",
            "Geometry table (parquet/CSV, e.g. graphnet's "
            "icecube86.parquet) used until a G frame arrives: for files without "
            "GCD.",
            None,
        )
        self.AddParameter(
            "DOMExclusions",
            "Frame keys of excluded DOMs (I3VectorOMKey) and time "
            "windows (I3TimeWindowSeriesMap); None: the bundle's feature config. "
            "[] switches exclusions off.",
            None,
        )
        self.AddParameter(
            "PartialExclusion",
            "True: remove only pulses inside the exclusion "
            "windows; False: the whole DOM; None: the bundle's setting.",
            None,
        )
        self.AddParameter(
            "OnError",
            "'raise': an unexpected error stops the tray with its "
            "traceback; 'flag': its events get status ERROR and the tray goes on.",
            "raise",
        )
        self.AddParameter(
            "MultiPMT",
            "'sum': pulses of all PMTs of a module (Upgrade mDOM, "
            "D-Egg) form one row per (string, om); 'refuse': events with a pulse "
            "on pmt != 0 get status MULTI_PMT_REFUSED.",
            "sum",
        )
        self.AddParameter(
            "SummaryFile",
            "Write the status counts and timings as JSON here at Finish (None: only the log line).",
            None,
        )
        self.AddOutBox("OutBox")

    def _exclusions(self, extractor: FeatureExtractor) -> ExclusionSettings:
        trained = ExclusionSettings.from_config(extractor.config)
        keys, partial = self.GetParameter("DOMExclusions"), self.GetParameter("PartialExclusion")
        if isinstance(keys, str):
            keys = [keys]
        chosen = trained.override(None if keys is None else list(keys), partial)
        if chosen != trained:
            i3logging.log_warn(
                f"DOM exclusions {list(chosen.keys)} (partial {chosen.partial}) differ from those "
                f"the model was trained with: {list(trained.keys)} (partial {trained.partial})",
                unit=_UNIT,
            )
        return chosen

    def Configure(self) -> None:
        logging_bridge.install()
        path = self.GetParameter("ModelPath")
        if not path:
            icetray.logging.log_fatal("ModelPath is required", unit=_UNIT)
        threads = int(self.GetParameter("Threads"))
        if threads > 0:
            torch.set_num_threads(threads)
        device = self.GetParameter("Device")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.bundle = load_bundle(path, device=device)
        extractor = self.bundle.feature_extractor
        pulse_key = self.GetParameter("Pulses") or extractor.pulse_key
        self.samples = int(self.GetParameter("Samples"))
        self.seed = int(self.GetParameter("Seed"))
        cond = self.GetParameter("If")
        on_error = self.GetParameter("OnError")
        if on_error not in ON_ERROR:
            icetray.logging.log_fatal(
                f"OnError must be one of {ON_ERROR}, got {on_error!r}", unit=_UNIT
            )
        table = self.GetParameter("GeometryTable")
        self.summary_file = self.GetParameter("SummaryFile")
        self.exclusion_settings = self._exclusions(extractor)
        self.engine = BatchingEngine(
            I3FrameAccess(self.GetParameter("GeometryKey")),
            extractor,
            self._reconstruct,
            pulse_key=pulse_key,
            output_name=self.GetParameter("OutputName"),
            batch_size=int(self.GetParameter("BatchSize")),
            sub_event_stream=self.GetParameter("SubEventStream"),
            condition=cond if callable(cond) else None,
            max_frames=int(self.GetParameter("MaxHeldFrames")) or None,
            exclusions=self.exclusion_settings,
            on_error=on_error,
            geometry=Geometry.from_table(table) if table else None,
            multi_pmt=self.GetParameter("MultiPMT"),
        )
        self._t0 = time.perf_counter()
        i3logging.log_info(
            f"model {path} on {device}, pulses {pulse_key!r}, batch {self.engine.queue.batch_size}"
            f", attention backend {self.bundle.attention_backend}, DOM exclusions "
            f"{list(self.exclusion_settings.keys)} (partial {self.exclusion_settings.partial})"
            f", OnError {on_error!r}",
            unit=_UNIT,
        )

    def _reconstruct(self, features: Sequence[np.ndarray]) -> list[EventResult]:
        summary = self.bundle.reconstruct_features(features, n_samples=self.samples, seed=self.seed)
        return results_from_summary(summary, [f.shape[0] for f in features])

    def Process(self) -> None:
        frame = self.PopFrame()
        if frame is None:
            icetray.logging.log_fatal("LLPGapReco cannot be the first module of a tray", unit=_UNIT)
        try:
            out = self.engine.process(frame)
        except ConfigurationError as err:  # output clash, no geometry, a key of the wrong type
            self._write_summary(error=str(err))
            icetray.logging.log_fatal(str(err), unit=_UNIT)
        except Exception as err:  # the tray stops; the summary says how far it got and why
            self._write_summary(error=f"{type(err).__name__}: {err}")
            raise
        for f in out:
            self.PushFrame(f)

    def Finish(self) -> None:
        try:
            frames = self.engine.finish()
        except Exception as err:
            self._write_summary(error=f"{type(err).__name__}: {err}")
            raise
        for f in frames:
            self.PushFrame(f)
        stats = self.engine.stats
        i3logging.log_notice(
            f"{stats.summary()}; {time.perf_counter() - self._t0:.1f} s since Configure, "
            f"backend {self.bundle.attention_backend}",
            unit=_UNIT,
        )
        self._write_summary()

    def _write_summary(self, error: Optional[str] = None) -> None:
        """The ``SummaryFile`` (when set): counts and timings so far; ``completed`` false and
        the ``error`` when the tray stops on one."""
        if not self.summary_file:
            return
        stats = self.engine.stats
        atomic_write_json(
            self.summary_file,
            {
                "completed": error is None,
                "error": error,
                "events": stats.events,
                "frames": stats.frames,
                "batches": stats.batches,
                "frames_by_stream": dict(stats.by_stop),
                "status": stats.status_counts(),
                "failed": stats.n_failed,
                "doms_excluded": stats.doms_excluded,
                "seconds": dict(stats.seconds),
                "wall_seconds": time.perf_counter() - self._t0,
            },
        )
