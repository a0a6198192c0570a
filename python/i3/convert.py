"""I3 -> converted parquet: the ``I3ToParquet`` module and :func:`convert_files`.

Features come from the same code path as :class:`LLPGapReco` (:func:`frame_features`). Truth is
read from the ``LLPInfo`` ``I3MapStringDouble`` when present (``prod_x, prod_y, prod_z, zenith,
azimuth, length, fractional_energy, llp_energy``); the decay vertex is production + length x
the unit vector of ``I3Direction(zenith, azimuth)`` (its theta/phi), i.e. along the direction of
travel. Muon information comes from ``MMCTrackList`` when present (the track with the highest
entry energy).
"""

from __future__ import annotations

import logging
import math
import os
from typing import Optional, Sequence

import numpy as np
from icecube import dataclasses, icetray
from tqdm import tqdm

try:  # MMCTrackList needs simclasses, which not every IceTray build has
    import icecube.simclasses  # noqa: F401
except ImportError:
    pass

from ..core.errors import InputError
from ..core.geometry import Geometry
from ..core.status import Status
from ..data.features import FeatureExtractor
from ..data.features.config import ConfigLike
from ..data.parquet.writer import ConvertedFolderWriter
from . import logging_bridge
from .access import I3FrameAccess
from .engine import ON_ERROR
from .errors import ConfigurationError
from .frame_features import ExclusionSettings, frame_features

logger = logging.getLogger(__name__)


#: keys an ``LLPInfo`` map must hold
LLP_INFO_KEYS = ("prod_x", "prod_y", "prod_z", "zenith", "azimuth", "length")


def llp_truth(info: dataclasses.I3MapStringDouble) -> dict:
    """Truth dict (writer keys) from an ``LLPInfo`` map; :class:`InputError` when it lacks one
    of :data:`LLP_INFO_KEYS` or one of them is not finite."""
    if not hasattr(info, "keys"):
        raise InputError(f"the truth is a {type(info).__name__}, not an I3MapStringDouble")
    missing = [k for k in LLP_INFO_KEYS if k not in info]
    if missing:
        raise InputError(f"the truth map lacks {missing} (has {sorted(info.keys())})")
    bad = [k for k in LLP_INFO_KEYS if not math.isfinite(float(info[k]))]
    if bad:
        raise InputError(f"the truth map has non-finite {bad}")
    d = dataclasses.I3Direction(float(info["zenith"]), float(info["azimuth"]))
    u = (
        math.sin(d.theta) * math.cos(d.phi),
        math.sin(d.theta) * math.sin(d.phi),
        math.cos(d.theta),
    )
    length = float(info["length"])
    prod = [float(info["prod_x"]), float(info["prod_y"]), float(info["prod_z"])]
    truth = {f"prod_{c}": v for c, v in zip("xyz", prod)}
    truth.update({f"decay_{c}": p + length * w for c, p, w in zip("xyz", prod, u)})
    truth["gap_length"] = length
    for key in ("fractional_energy", "llp_energy"):
        truth[key] = float(info[key]) if key in info else float("nan")
    return truth


_UNREADABLE: set[str] = set()


def muon_info(frame: icetray.I3Frame, key: str = "MMCTrackList") -> dict:
    """``muon_energy`` [GeV], ``zenith`` [rad], ``muon_length`` [m] of the most energetic muon
    entering the detector, from ``MMCTrackList``; empty when absent or when this IceTray build
    cannot read it (no simclasses: warned once)."""
    if key not in frame or key in _UNREADABLE:
        return {}
    try:
        tracks = list(frame[key])
    except KeyError as err:  # "Deserialization failed": the type's library is not built
        _UNREADABLE.add(key)
        logger.warning("cannot read %r (%s); muon information is left empty", key, err)
        return {}
    if not tracks:
        return {}
    best = max(tracks, key=lambda t: t.Ei)
    return {
        "muon_energy": float(best.Ei),
        "zenith": float(best.particle.dir.zenith),
        "muon_length": float(best.particle.length),
    }


class I3ToParquet(icetray.I3Module):
    """Writes the P frames of one sub-event stream to a converted parquet folder."""

    def __init__(self, context: icetray.I3Context) -> None:
        super().__init__(context)
        self.AddParameter("OutputDir", "Converted folder to write (resumed when it exists).", None)
        self.AddParameter("Pulses", "Pulse map/mask key (default: the feature config's).", None)
        self.AddParameter(
            "FeatureConfig", "Feature config: None (default), dict or YAML path.", None
        )
        self.AddParameter("EventsPerFile", "Events per parquet data file.", 1000)
        self.AddParameter(
            "SubEventStream", "Convert only this sub-event stream (None: all).", "InIceSplit"
        )
        self.AddParameter("TruthKey", "I3MapStringDouble with the LLP truth.", "LLPInfo")
        self.AddParameter(
            "Source", "Description stored in the manifest (e.g. the file list).", None
        )
        self.AddParameter("Progress", "Show a progress bar (events converted).", True)
        self.AddParameter(
            "GeometryTable",
            "Geometry table used until a G frame arrives (files without GCD).",
            None,
        )
        self.AddParameter(
            "OnError",
            "'raise': an event that cannot be converted (an unreadable truth map, an "
            "unexpected error) stops the tray; 'flag': it is logged with its traceback, counted "
            "as ERROR in the folder's manifest, and the tray goes on.",
            "raise",
        )
        self.AddOutBox("OutBox")

    def Configure(self) -> None:
        logging_bridge.install()
        self.extractor = FeatureExtractor(self.GetParameter("FeatureConfig"))
        self.exclusions = ExclusionSettings.from_config(self.extractor.config)
        self.pulse_key = self.GetParameter("Pulses") or self.extractor.pulse_key
        self.stream = self.GetParameter("SubEventStream")
        self.truth_key = self.GetParameter("TruthKey")
        self.on_error = self.GetParameter("OnError")
        if self.on_error not in ON_ERROR:
            icetray.logging.log_fatal(
                f"OnError must be one of {ON_ERROR}, got {self.on_error!r}", unit="I3ToParquet"
            )
        self.access = I3FrameAccess()
        table = self.GetParameter("GeometryTable")
        self.geometry = Geometry.from_table(table) if table else None
        src = self.GetParameter("Source")
        self.writer = ConvertedFolderWriter(
            self.GetParameter("OutputDir"),
            self.extractor.config,
            events_per_file=int(self.GetParameter("EventsPerFile")),
            resume=True,
            source={"kind": "i3", "input": src} if src else {"kind": "i3"},
        )
        self._skip = self.writer.n_input_events  # events already converted by an earlier run
        self._seen = 0
        self.bar = tqdm(unit="ev", desc="convert", disable=not self.GetParameter("Progress"))

    def Process(self) -> None:
        frame = self.PopFrame()
        if frame.Stop == icetray.I3Frame.Physics:
            self.Physics(frame)
            return
        self.access.new_frame(frame)  # a new D frame replaces the cached bad-DOM lists
        if frame.Stop == icetray.I3Frame.Geometry:
            self.geometry = self.access.geometry(frame)
        self.PushFrame(frame)

    def Physics(self, frame: icetray.I3Frame) -> None:
        if self.stream is not None and self.access.sub_event_stream(frame) != self.stream:
            self.PushFrame(frame)
            return
        if self.geometry is None:
            icetray.logging.log_fatal(
                "a P frame arrived before any geometry (add the GCD file or a GeometryTable)",
                unit="I3ToParquet",
            )
        self._seen += 1
        if self._seen > self._skip:
            self._convert(frame)
        self.bar.update(1)
        self.PushFrame(frame)

    def _convert(self, frame: icetray.I3Frame) -> None:
        """Add one P frame to the writer (an event that fails: see ``OnError``)."""
        header = frame["I3EventHeader"] if "I3EventHeader" in frame else None
        run_id = header.run_id if header else 0
        event_id = header.event_id if header else self._seen
        try:
            ff = frame_features(
                self.access, frame, self.pulse_key, self.geometry, self.extractor, self.exclusions
            )
            truth = llp_truth(frame[self.truth_key]) if self.truth_key in frame else None
            muon = muon_info(frame)
        except ConfigurationError:
            raise
        except Exception as err:
            where = f"run {run_id} event {event_id}"
            if self.on_error == "raise":
                logger.error("%s: conversion failed; stopping (OnError='raise')", where)
                if isinstance(err, InputError):
                    raise InputError(f"{where}: {err}") from err
                raise
            logger.exception("%s: conversion failed; counted as ERROR (OnError='flag')", where)
            self.writer.add(run_id, event_id, _empty(self.extractor.dim), (), (),
                            status=Status.ERROR)  # fmt: skip
            return
        self.writer.add(
            run_id,
            event_id,
            ff.features if ff.features is not None else _empty(self.extractor.dim),
            ff.string if ff.string is not None else (),
            ff.om if ff.om is not None else (),
            truth=truth,
            muon=muon,
            status=ff.status,
        )

    def Finish(self) -> None:
        self.bar.close()
        if self._seen < self._skip:
            logger.warning(
                "%s: the input holds %d events, fewer than the %d already converted: "
                "is this the same input?",
                self.writer.out_dir,
                self._seen,
                self._skip,
            )
        self.writer.close()
        logger.info(
            "%s: %d events written, skipped by status %s",
            self.writer.out_dir,
            sum(f["n_events"] for f in self.writer.files),
            dict(self.writer.skipped),
        )


def _empty(dim: int) -> np.ndarray:
    return np.zeros((0, dim), np.float32)


def convert_files(
    gcd: Optional[str],
    inputs: Sequence[str],
    out_dir: str,
    *,
    pulses: Optional[str] = None,
    feature_config: ConfigLike = None,
    events_per_file: int = 1000,
    sub_event_stream: Optional[str] = "InIceSplit",
    progress: bool = True,
    geometry_table: Optional[str] = None,
    on_error: str = "raise",
) -> str:
    """Run a tray ``I3Reader(gcd, *inputs) -> I3ToParquet``; returns ``out_dir``. ``gcd`` may be
    None when the inputs carry their own G frame or ``geometry_table`` names a table;
    ``on_error`` is the module's ``OnError``."""
    # dataio registers I3Reader; imported here so the module loads without the full tray
    from icecube import dataio  # noqa: F401
    from icecube.icetray import I3Tray

    files = ([gcd] if gcd else []) + list(inputs)
    for path in files:
        if not os.path.exists(path):
            raise FileNotFoundError(path)
    tray = I3Tray()
    tray.AddModule("I3Reader", "reader", FilenameList=files)
    tray.AddModule(
        I3ToParquet,
        "to_parquet",
        OutputDir=out_dir,
        Pulses=pulses,
        FeatureConfig=feature_config,
        EventsPerFile=events_per_file,
        SubEventStream=sub_event_stream,
        Source=",".join(map(os.path.basename, inputs)),
        Progress=progress,
        GeometryTable=geometry_table,
        OnError=on_error,
    )
    try:
        tray.Execute()
    except InputError as err:  # an event I3ToParquet cannot convert (OnError='raise')
        raise InputError(
            f"{err}; {out_dir} keeps the files completed before it (fix the input, or convert "
            "with OnError='flag' to count such events as ERROR and go on)"
        ) from err
    except RuntimeError as err:
        # I3Reader's message for a truncated or corrupt file: a fault of the input, not a bug
        message = str(err)
        if not message.startswith("Error reading "):
            raise
        raise InputError(
            f"{message.split(' (in ')[0]}; {out_dir} keeps the files completed before it "
            "(a rerun resumes there)"
        ) from err
    return out_dir
