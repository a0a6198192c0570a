"""DDP with two real gloo processes: loss goes down, ranks stay identical, the checkpoint holds
rank 0's state, and every training event is seen once per epoch across ranks."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from _training_helpers import make_folder, mean_loss, tiny_config
from llp_gap_reco.training import TrainConfig, Trainer
from llp_gap_reco.training.checkpoint import load_checkpoint
from llp_gap_reco.training.ddp import cleanup


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(
    rank: int, world: int, port: int, folder: str, out: str, cfg: dict, result_dir: str
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    trainer = Trainer(folder, out, TrainConfig(**cfg))
    trainer.train_loader.set_epoch(0)
    before = mean_loss(trainer.model, trainer.train_loader)  # this rank's training files
    result = trainer.run()
    trainer.train_loader.set_epoch(0)
    after = mean_loss(trainer.model, trainer.train_loader)
    torch.save(
        {
            "state": trainer.model.state_dict(),
            "history": result.history,
            "before": before,
            "after": after,
            "initial": result.initial_val_loss,
            "best": result.best_val_loss,
            "n_train_files": len(trainer.train_loader.shard_files(rank, 0, 1)),
        },
        os.path.join(result_dir, f"rank{rank}.pt"),
    )
    cleanup(trainer.ctx)


@pytest.mark.slow
def test_two_gloo_processes_train_in_lockstep(tmp_path):
    folder = make_folder(tmp_path / "sim", n_events=200, events_per_file=40)  # 4 train + 1 val
    cfg = tiny_config(epochs=3, val_fraction=0.2, lr=5e-3).to_dict()
    out = tmp_path / "run"
    mp.spawn(
        _worker, args=(2, _free_port(), folder, str(out), cfg, str(tmp_path)), nprocs=2, join=True
    )
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)

    # Each rank read its own half of the 4 training files; every event once per epoch.
    assert r0["n_train_files"] == r1["n_train_files"] == 2
    assert all(row["train_events"] == 160 for row in r0["history"])
    keys = ("train_loss", "val_loss", "train_events", "val_events", "batches_applied")
    for a, b in zip(r0["history"], r1["history"]):  # reduced metrics agree on both ranks
        assert [a[k] for k in keys] == [b[k] for k in keys]
    # The training loss went down on the files of each rank.
    assert r0["after"] < r0["before"] - 0.1 and r1["after"] < r1["before"] - 0.1
    assert r0["best"] == r1["best"]
    # Replicas identical, and the checkpoint equals rank 0's final state.
    last = load_checkpoint(out / "checkpoints" / "last.pt")
    for k, v in r0["state"].items():
        assert torch.equal(v, r1["state"][k]), k
        assert torch.equal(v, last["model"][k]), k
    assert last["world_size"] == 2
    assert (out / "model.pt").exists()
    # Both ranks' RNG states are in the checkpoint; rank 0's is also the plain `rng` entry.
    rngs = last["rng_per_rank"]
    assert len(rngs) == 2 and not torch.equal(rngs[0]["torch"], rngs[1]["torch"])
    assert torch.equal(rngs[0]["torch"], last["rng"]["torch"])


def _resume_worker(
    rank: int, world: int, port: int, folder: str, out: str, cfg: dict, result_dir: str
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    trainer = Trainer(folder, out, TrainConfig(**cfg), resume=True)
    torch.save(
        {"rng": torch.get_rng_state(), "step": trainer.global_step},
        os.path.join(result_dir, f"resumed{rank}.pt"),
    )
    cleanup(trainer.ctx)


@pytest.mark.slow
def test_two_gloo_processes_resume_their_own_rng_streams(tmp_path):
    folder = make_folder(tmp_path / "sim", n_events=200, events_per_file=40)
    cfg = tiny_config(epochs=1, val_fraction=0.2).to_dict()
    out = tmp_path / "run"
    mp.spawn(
        _worker, args=(2, _free_port(), folder, str(out), cfg, str(tmp_path)), nprocs=2, join=True
    )
    last = load_checkpoint(out / "checkpoints" / "last.pt")
    mp.spawn(
        _resume_worker,
        args=(2, _free_port(), folder, str(out), cfg, str(tmp_path)),
        nprocs=2,
        join=True,
    )
    for rank in (0, 1):
        got = torch.load(tmp_path / f"resumed{rank}.pt", weights_only=True)
        assert got["step"] == last["global_step"]
        assert torch.equal(got["rng"], last["rng_per_rank"][rank]["torch"]), rank
