"""``llp-gap-reco quickstart`` end to end at toy size, through the same entry point as
``make quickstart`` (simulate, train, calibrate, predict, the tray stage, evaluate, report with
figures), and the fixed step budget that makes its model reproducible."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import torch
from llp_gap_reco.cli.main import main
from llp_gap_reco.cli.quickstart import quick_config, step_budget
from llp_gap_reco.dataset import write_simulated_folder
from llp_gap_reco.training import train

STEPS = 30


@pytest.mark.slow
def test_quickstart_runs_end_to_end_at_toy_size(tmp_path, capsys):
    out = tmp_path / "qs"
    rc = main(
        [
            "quickstart",
            "--out",
            str(out),
            "--train-events",
            "400",
            "--test-events",
            "60",
            "--steps",
            str(STEPS),
            "--i3-events",
            "12",
            "--device",
            "cpu",
            "--seed",
            "3",
            "--max-minutes",
            "60",
        ]
    )  # no safety stop on a busy machine: steps are checked
    assert rc == 0
    printed = capsys.readouterr().out
    assert "expected duration about" in printed.splitlines()[0]
    assert printed.rstrip().splitlines()[-1] == f"report: {out / 'report'}"

    report = json.loads((out / "report" / "report.json").read_text())
    budget = report["training_budget"]
    for name in ("flow", "mse_baseline"):  # the same fixed budget for both, all of it used
        assert budget[name]["steps_requested"] == budget[name]["steps_done"] == STEPS
        assert budget[name]["safety_stop_triggered"] is False
    assert {"flow", "mse_baseline", "prior"} <= set(report["resolution"])
    assert 0.0 <= report["coverage"]["summary_68"] <= report["coverage"]["summary_90"] <= 1.0
    assert (out / "report" / "report.md").exists() and (out / "report" / "model.pt").exists()
    figures = list((out / "report").glob("*.png"))
    assert len(figures) >= 3, figures
    assert all(f.stat().st_size > 1000 for f in figures)
    assert pq.read_metadata(out / "predictions.parquet").num_rows == 60

    # the flow trained in its one-thread worker process is the model a direct one-thread
    # training with the same seed gives (bit for bit)
    from llp_gap_reco.bundle import load_bundle

    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = quick_config(device="cpu", seed=3, progress=False, calibrate=False,
                           **step_budget(STEPS, 60.0))  # fmt: skip
        direct = train(out / "data" / "train", tmp_path / "direct", cfg)
    finally:
        torch.set_num_threads(torch_threads)
    bundle = load_bundle(out / "runs" / "flow" / "model.pt")
    mine = {**{f"e.{k}": v for k, v in bundle.encoder.state_dict().items()},
            **{f"h.{k}": v for k, v in bundle.head.state_dict().items()}}  # fmt: skip
    other = load_bundle(direct.bundle_path)
    ref = {**{f"e.{k}": v for k, v in other.encoder.state_dict().items()},
           **{f"h.{k}": v for k, v in other.head.state_dict().items()}}  # fmt: skip
    assert mine.keys() == ref.keys()
    assert all(torch.equal(mine[k], ref[k]) for k in mine)

    try:
        from icecube import dataio, icetray
    except ImportError:
        pytest.skip("icecube is not importable: the quickstart's I3 tray stage was skipped")
    frames = [
        f
        for f in dataio.I3File(str(out / "i3" / "reconstructed.i3.zst"))
        if f.Stop == icetray.I3Frame.Physics and "LLPGapReco_Params" in f
    ]
    assert len(frames) == 12
    assert all(f["LLPGapReco_Params"]["status"] == 0 for f in frames)


def test_same_seed_gives_the_same_model_on_one_thread(tmp_path, single_thread):
    data = tmp_path / "train"
    write_simulated_folder(str(data), 200, seed=5, events_per_file=25, progress=False)
    states = []
    for run in ("a", "b"):
        cfg = quick_config(device="cpu", seed=7, progress=False, **step_budget(12, 30.0))
        result = train(data, tmp_path / run, cfg)
        assert result.global_step == 12 and result.stopped == "budget"
        states.append(result.model.state_dict())
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert any(not torch.equal(v, torch.zeros_like(v)) for v in states[0].values())
