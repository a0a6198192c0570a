"""``llp-gap-reco features``: show a feature configuration and its columns on simulated events."""

from __future__ import annotations

import argparse
import time

import numpy as np

from ..core.status import Status
from ..data.features import FeatureExtractor
from . import checks
from .simulate import check_inputs, events_from_args, geometry_from_args


def run(args: argparse.Namespace) -> int:
    check_inputs(args)
    if args.config:
        checks.input_file(args.config, "--config")
    extractor = FeatureExtractor(args.config)
    geometry = geometry_from_args(args)
    events = list(events_from_args(args, geometry))
    pulses = np.concatenate([e.pulses for e in events]) if events else np.zeros((0, 6))
    offsets = np.concatenate([[0], np.cumsum([e.pulses.shape[0] for e in events])])
    t0 = time.perf_counter()
    batch = extractor.batch_features(pulses, offsets, geometry)
    seconds = time.perf_counter() - t0

    print(f"pulse key   {extractor.pulse_key}")
    modifier = extractor.config["pulse_modifier"]
    print(f"modifier    {modifier['class'] if modifier else 'none'}")
    group_of = {i: g for g, cols in extractor.feature_indices.items() for i in cols}
    print(f"columns     {extractor.dim}")
    for g, cols in extractor.feature_indices.items():
        print(f"  {g:18s} {cols}")
    codes, counts = np.unique(batch.status, return_counts=True)
    statuses = {Status(int(s)).name: int(n) for s, n in zip(codes, counts)}
    print(f"events      {len(events)}  status {statuses}  DOM rows {batch.features.shape[0]}")
    print(f"excluded    {int(batch.n_excluded.sum())} pulses")
    print(f"{'col':>3} {'name':28s} {'group':18s} {'mean':>11} {'std':>11} {'min':>11} "
          f"{'median':>11} {'max':>11}")  # fmt: skip
    x = batch.features.astype(np.float64)
    for i, name in enumerate(extractor.names):
        c = x[:, i] if x.shape[0] else np.full(1, np.nan)
        print(f"{i:3d} {name:28s} {group_of.get(i, '-'):18s} {c.mean():11.4g} {c.std():11.4g} "
              f"{c.min():11.4g} {np.median(c):11.4g} {c.max():11.4g}")  # fmt: skip
    if seconds > 0 and events:
        print(f"speed       {len(events) / seconds:.0f} events/s (batched, one process)")
    return 0
