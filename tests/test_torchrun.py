"""``llp-gap-reco train`` under the real ``torchrun`` launcher (two gloo processes on CPU), as
README.md and training.md tell users to run it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import yaml
from _training_helpers import make_folder, tiny_config


def _train(folder: str, cfg: str, out: str, nproc: int) -> subprocess.CompletedProcess:
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    cmd = [sys.executable, *launcher, "-m", "llp_gap_reco.cli.main", "train", "--data", folder,
           "--config", cfg, "--out", out, "--no-progress"]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_torchrun_two_ranks_split_the_events_and_write_once(tmp_path):
    # 5 files of 40 events: 4 train (160 events), 1 validation; batch 16
    folder = make_folder(tmp_path / "sim", n_events=200, events_per_file=40)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config(epochs=2).to_dict()))
    runs = {n: _train(folder, str(cfg), str(tmp_path / f"run{n}"), n) for n in (1, 2)}
    for n, proc in runs.items():
        assert proc.returncode == 0, f"{n} rank(s):\n{proc.stdout}\n{proc.stderr[-3000:]}"
    # only rank 0 reports and writes
    assert runs[2].stdout.count("model bundle:") == 1
    training = {
        n: torch.load(tmp_path / f"run{n}" / "model.pt", weights_only=False)["training"]
        for n in runs
    }
    assert training[1]["world_size"] == 1 and training[2]["world_size"] == 2
    # each rank reads half of the 160 training events: 80 / 16 = 5 steps per epoch (1 rank: 10)
    assert training[1]["global_step"] == 2 * 10
    assert training[2]["global_step"] == 2 * 5
    assert sorted(os.listdir(tmp_path / "run2")) == sorted(os.listdir(tmp_path / "run1"))
