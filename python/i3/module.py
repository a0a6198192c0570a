"""``LLPGapReco``: the I3Module that reconstructs LLP production and decay vertices.

Add it to a tray after an ``I3Reader`` that reads the GCD file and the data::

    from icecube.llp_gap_reco import LLPGapReco
    tray.AddModule(LLPGapReco, "llpreco", ModelPath="model.pt", BatchSize=256)

Frames of every type wait in one queue while a batch fills, and leave in arrival order; see
resources/docs/icetray.md for every parameter, output key and status code.
"""

from __future__ import annotations

import time

import torch
from icecube import icetray
from icecube.icetray import logging as i3logging

from ..model.bundle import load_bundle
from . import logging_bridge
from .access import I3FrameAccess
from .engine import BatchingEngine
from .results import results_from_summary

_UNIT = "LLPGapReco"


class LLPGapReco(icetray.I3Module):
    """Reconstructs LLP vertices with a posterior per event, batching frames for the model."""

    def __init__(self, context):
        super().__init__(context)
        self.AddParameter("ModelPath", "Path of the model bundle (.pt) written by training or "
                          "`llp-gap-reco import-seed`.", None)
        self.AddParameter("Pulses", "Key of the I3RecoPulseSeriesMap (or mask, or union) to "
                          "read; default: the pulse key of the bundle's feature config.", None)
        self.AddParameter("OutputName", "Prefix of the output keys (_Production, _Decay, "
                          "_Covariance, _Params, _Particle).", "LLPGapReco")
        self.AddParameter("BatchSize", "Events per model call; frames are held until a batch "
                          "is full (or at Finish).", 256)
        self.AddParameter("Device", "'auto' (CUDA when available, else CPU), 'cpu', 'cuda' or "
                          "'cuda:N'.", "auto")
        self.AddParameter("SubEventStream", "Reconstruct only P frames of this sub-event stream "
                          "(None: all).", None)
        self.AddParameter("If", "Python callable frame -> bool; P frames for which it is False "
                          "pass untouched (in order).", None)
        self.AddParameter("Samples", "Quasi-Monte Carlo samples per event for the posterior "
                          "summary.", 512)
        self.AddParameter("Seed", "Seed of the scrambled Sobol points (results are "
                          "deterministic given it).", 0)
        self.AddParameter("Threads", "torch CPU threads; 0 keeps torch's default (set 1 on "
                          "grid slots of one core).", 0)
        self.AddParameter("MaxHeldFrames", "Flush when this many frames are held even if the "
                          "batch is not full (0: 16 x BatchSize).", 0)
        self.AddParameter("GeometryKey", "Key of the I3Geometry in G frames.", "I3Geometry")
        self.AddOutBox("OutBox")

    def Configure(self):


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
        )
        self._t0 = time.perf_counter()
        i3logging.log_info(
            f"model {path} on {device}, pulses {pulse_key!r}, batch {self.engine.queue.batch_size}"
            f", attention backend {self.bundle.attention_backend}", unit=_UNIT)

    def _reconstruct(self, features):
        summary = self.bundle.reconstruct_features(features, n_samples=self.samples,
                                                   seed=self.seed)
        return results_from_summary(summary, [f.shape[0] for f in features])

    def Process(self):
        frame = self.PopFrame()
        if frame is None:
            icetray.logging.log_fatal("LLPGapReco cannot be the first module of a tray",
                                      unit=_UNIT)
        try:
            out = self.engine.process(frame)
        except RuntimeError as err:  # configuration errors: output clash, no geometry
            icetray.logging.log_fatal(str(err), unit=_UNIT)
        for f in out:
            self.PushFrame(f)

    def Finish(self):
        for f in self.engine.finish():
            self.PushFrame(f)
        wall = time.perf_counter() - self._t0
        i3logging.log_notice(
            f"{self.engine.stats.summary()}; {wall:.1f} s since Configure, backend "
            f"{self.bundle.attention_backend}", unit=_UNIT)
