#!/usr/bin/env python3
"""ctest: simulate an I3 file, train a tiny model, reconstruct it in a tray, check every frame.

Run by ``ctest -R llp_gap_reco`` inside an icetray build (or directly with python).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile

from icecube import dataio, icetray
from icecube.icetray import I3Tray

try:
    from icecube.llp_gap_reco import LLPGapReco
    from icecube.llp_gap_reco.cli.main import main as cli
    from icecube.llp_gap_reco.i3.simulated_i3 import write_simulated_i3
except ImportError:
    from llp_gap_reco import LLPGapReco
    from llp_gap_reco.cli.main import main as cli
    from llp_gap_reco.i3.simulated_i3 import write_simulated_i3

TINY = """
epochs: 1
batch_size: 16
init_labels: 100
progress: false
val_fraction: 0.25
encoder: {output_dim: 16, io_mlp_hidden_dims: '16', attn_computational_dim: 16,
          attn_num_layers: 1, attn_num_heads_per_layer: 1, attn_internal_mlp_dim: 32}
flow: {flow_defs: gggggt, mlp_hidden_dims: [32]}
"""


def main() -> int:
    tmp = tempfile.mkdtemp(prefix="llp_gap_reco_ctest_")
    data, run = os.path.join(tmp, "train"), os.path.join(tmp, "run")
    cfg = os.path.join(tmp, "tiny.yaml")
    with open(cfg, "w") as fh:
        fh.write(TINY)
    assert (
        cli(
            ["simulate", "--events", "160", "--seed", "1", "--out", data, "--events-per-file", "40"]
        )
        == 0
    )
    assert (
        cli(
            [
                "train",
                "--data",
                data,
                "--out",
                run,
                "--config",
                cfg,
                "--device",
                "cpu",
                "--no-progress",
            ]
        )
        == 0
    )
    model = os.path.join(run, "model.pt")
    infile, outfile = os.path.join(tmp, "in.i3"), os.path.join(tmp, "out.i3")
    # BadDomsList in the D frame: strings 36 (DeepCore-adjacent) and 79, every DOM
    bad = [(s, om) for s in (36, 79) for om in range(1, 61)]
    write_simulated_i3(infile, 50, seed=2, bad_doms=bad)

    tray = I3Tray()
    tray.AddModule("I3Reader", "reader", Filename=infile)
    tray.AddModule(
        LLPGapReco, "reco", ModelPath=model, BatchSize=7, SubEventStream="InIceSplit", Samples=64
    )
    tray.AddModule("I3Writer", "writer", Filename=outfile)
    tray.Execute()

    def frames(path):  # without the TrayInfo frame that I3Writer adds
        return [f for f in dataio.I3File(path) if f.Stop != icetray.I3Frame.TrayInfo]

    def ids(fs):
        return [
            (
                f.Stop.id,
                f["I3EventHeader"].event_id if "I3EventHeader" in f else -1,
                f["I3EventHeader"].sub_event_stream if "I3EventHeader" in f else "",
            )
            for f in fs
        ]

    fin, fout = frames(infile), frames(outfile)
    assert ids(fin) == ids(fout), "frame order changed"
    n = excluded = 0
    for f in fout:
        if f.Stop != icetray.I3Frame.Physics:
            continue
        if f["I3EventHeader"].sub_event_stream != "InIceSplit":
            assert "reco_Params" not in f and "LLPGapReco_Params" not in f
            continue
        params = f["LLPGapReco_Params"]
        excluded += params["n_doms_excluded"]
        if params["status"] == 3:  # every hit DOM was on a bad string
            assert params["n_doms_excluded"] > 0 and params["n_doms"] == 0, params
            n += 1
            continue
        assert params["status"] == 0, params
        assert all(math.isfinite(params[k]) for k in ("prod_x", "decay_z", "gap_length"))
        n += 1
    assert n == 50, n
    assert excluded > 0, "BadDomsList had no effect"
    print(f"ok: {len(fout)} frames in order, {n} events with results, {excluded:.0f} DOMs excluded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
