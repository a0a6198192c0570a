"""Kill a training process with SIGKILL mid-run, resume from its last checkpoint, and end with
exactly the weights of an uninterrupted run (same optimiser state, RNG, data position)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from _training_helpers import make_folder, tiny_config
from llp_gap_reco.training import TrainConfig, Trainer
from llp_gap_reco.training.checkpoint import load_checkpoint, own_rng_state

# the killed run uses this process's torch thread count: the float sums, and so the weights,
# are bit-identical only with the same number of threads
_RUN = """
import json, sys
import torch
torch.set_num_threads(int(sys.argv[4]))
from llp_gap_reco.training import TrainConfig, Trainer
Trainer(sys.argv[1], sys.argv[2], TrainConfig(**json.loads(sys.argv[3]))).run()
"""


def _assert_same_tree(a, b, path="") -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_same_tree(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tree(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    folder = make_folder(tmp_path / "sim", n_events=200)
    cfg = tiny_config(epochs=4, checkpoint_every=3)
    run = tmp_path / "killed"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _RUN,
            folder,
            str(run),
            json.dumps(cfg.to_dict()),
            str(torch.get_num_threads()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    last = run / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 240
    while not last.exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.005)
    time.sleep(0.05)  # let it run on into the next steps, then kill it without warning
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    ck = load_checkpoint(last)  # the last checkpoint is complete and loads
    assert ck["global_step"] >= 3 and ck["epoch"] < 4
    assert not (run / "model.pt").exists()  # it died mid-run

    resumed = Trainer(folder, run, cfg, resume=True)
    assert resumed.global_step == ck["global_step"]
    assert resumed.step_in_epoch == ck["step_in_epoch"]
    _assert_same_tree(resumed.optimizer.state_dict(), ck["optimizer"])
    _assert_same_tree(resumed.scheduler.state_dict(), ck["scheduler"])
    _assert_same_tree(resumed.model.state_dict(), ck["model"])
    result = resumed.run()

    reference = Trainer(folder, tmp_path / "reference", cfg).run()
    assert result.global_step == reference.global_step
    # Bit-identical on one CPU process: same batches, same dropout masks, same updates.
    _assert_same_tree(result.model.state_dict(), reference.model.state_dict())
    assert [r["val_loss"] for r in result.history] == [r["val_loss"] for r in reference.history]
    assert (run / "model.pt").exists()


def test_resume_without_checkpoint_starts_fresh(tmp_path, caplog):
    folder = make_folder(tmp_path / "sim", n_events=80)
    t = Trainer(folder, tmp_path / "run", tiny_config(epochs=1), resume=True)
    assert t.global_step == 0 and "no checkpoint" in caplog.text
    assert isinstance(t.config, TrainConfig)


def test_resume_with_another_world_size_reseeds_each_rank(tmp_path):
    folder = make_folder(tmp_path / "sim", n_events=80)
    cfg = tiny_config(epochs=1, calibrate=False)
    trainer = Trainer(folder, tmp_path / "run", cfg)
    attributes = set(vars(trainer))
    trainer.run()
    assert set(vars(trainer)) == attributes  # the run keeps its state in its parts
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    ck = load_checkpoint(last)
    assert own_rng_state(ck, 0, 1) is ck["rng_per_rank"][0]
    assert own_rng_state(dict(ck, rng_per_rank=None), 0, 1) is ck["rng"]  # older checkpoints
    # Written by two ranks, resumed by one: a fresh stream from (seed, rank, step).
    torch.save(dict(ck, world_size=2, rng_per_rank=[ck["rng"], ck["rng"]]), last)
    assert own_rng_state(load_checkpoint(last), 0, 1) is None
    resumed = Trainer(folder, tmp_path / "run", cfg, resume=True)
    got = torch.get_rng_state()
    assert resumed.global_step == ck["global_step"] > 0
    _assert_same_tree(resumed.model.state_dict(), ck["model"])
    torch.manual_seed(cfg.seed + ck["global_step"])  # rank 0
    assert torch.equal(got, torch.get_rng_state())
    assert not torch.equal(got, ck["rng"]["torch"])


def test_resuming_a_run_that_spent_its_steps_trains_no_further(tmp_path):
    """``max_steps`` reached: a resumed run stops at once (no extra optimiser step), keeps the
    checkpoint's weights and still writes its bundle."""
    folder = make_folder(tmp_path / "sim", n_events=80)
    cfg = tiny_config(epochs=50, max_steps=5, calibrate=False)
    Trainer(folder, tmp_path / "run", cfg).run()
    ck = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ck["global_step"] == 5
    resumed = Trainer(folder, tmp_path / "run", cfg, resume=True)
    result = resumed.run()
    assert resumed.global_step == 5 and result.stopped == "budget"
    _assert_same_tree(resumed.model.state_dict(), ck["model"])
