#!/usr/bin/env python3
"""Reconstruct LLP vertices in one I3 file: one job per input file (HTCondor/IceProd friendly).

    python reconstruct_i3.py --gcd GCD.i3.zst -i IN.i3.zst -o OUT.i3.zst --model model.pt
    python reconstruct_i3.py --geometry-table icecube86.parquet -i IN.i3.zst -o OUT.i3.zst ...

Exit codes: 0 success; 1 processing error (an unexpected error stopped the tray, the output is
left as OUT.part.i3[.zst]); 2 bad arguments; 3 the tray finished but more than
--max-failed-fraction of the reconstructed events have a status other than OK (the output and
OUT.summary.json are kept for inspection). The output is written under a temporary name and
renamed at the end, so a rerun after a killed job starts clean.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gcd", default=None, help="GCD file (geometry, calibration, status)")
    parser.add_argument(
        "--geometry-table",
        default=None,
        help="geometry table for inputs without GCD (e.g. icecube86.parquet)",
    )
    parser.add_argument("-i", "--input", required=True, help="input I3 file")
    parser.add_argument("-o", "--output", required=True, help="output I3 file")
    parser.add_argument("--model", required=True, help="model bundle (.pt)")
    parser.add_argument("--pulses", default=None, help="pulse key (default: the bundle's)")
    parser.add_argument("--output-name", default="LLPGapReco")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (grid: 1)")
    parser.add_argument("--sub-event-stream", default="InIceSplit")
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument(
        "--on-error",
        choices=("raise", "flag"),
        default="raise",
        help="an unexpected error stops the job (raise) or marks its events",
    )
    parser.add_argument(
        "--max-failed-fraction",
        type=float,
        default=0.1,
        help="exit 3 when more than this fraction of events is not OK",
    )
    args = parser.parse_args(argv)
    for path in (args.gcd, args.geometry_table, args.input, args.model):
        if path is not None and not os.path.exists(path):
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2

    from icecube import dataio  # noqa: F401  (registers I3Reader/I3Writer)
    from icecube.icetray import I3Tray

    try:  # inside an icetray build
        from icecube.llp_gap_reco import LLPGapReco
        from icecube.llp_gap_reco.i3.tray import partial_path
    except ImportError:  # pip-installed package
        from llp_gap_reco import LLPGapReco
        from llp_gap_reco.i3.tray import partial_path

    tmp = str(partial_path(args.output))  # run.part.i3.zst: compressed as the final name says
    summary_path = args.output + ".summary.json"
    tray = I3Tray()
    tray.AddModule(
        "I3Reader", "reader", FilenameList=([args.gcd] if args.gcd else []) + [args.input]
    )
    tray.AddModule(
        LLPGapReco,
        "llpreco",
        ModelPath=args.model,
        Pulses=args.pulses,
        OutputName=args.output_name,
        BatchSize=args.batch_size,
        Device=args.device,
        Threads=args.threads,
        SubEventStream=args.sub_event_stream,
        Samples=args.samples,
        OnError=args.on_error,
        GeometryTable=args.geometry_table,
        SummaryFile=summary_path,
    )
    tray.AddModule("I3Writer", "writer", Filename=tmp)
    try:
        tray.Execute()
    except Exception as err:  # icetray raises RuntimeError on log_fatal and module errors
        print(f"error: {err}", file=sys.stderr)
        return 1
    os.replace(tmp, args.output)
    with open(summary_path) as fh:
        summary = json.load(fh)
    events, failed = summary["events"], summary["failed"]
    if events and failed / events > args.max_failed_fraction:
        print(
            f"error: {failed} of {events} events failed ({summary['status']}), more than "
            f"--max-failed-fraction {args.max_failed_fraction}",
            file=sys.stderr,
        )
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
