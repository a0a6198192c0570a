"""PackedLoader under a real torch.distributed (gloo) group of 2 processes x 2 workers."""

from __future__ import annotations

import json

import pytest
import torch.multiprocessing as mp
from _dataset_helpers import N_EVENTS, ddp_worker, simulated_folder


@pytest.mark.slow
def test_two_gloo_ranks_two_workers_each_event_once(tmp_path_factory, tmp_path):
    folder = simulated_folder(tmp_path_factory)
    mp.spawn(
        ddp_worker, args=(2, str(tmp_path / "init"), folder, str(tmp_path)), nprocs=2, join=True
    )
    results = [json.load(open(tmp_path / f"rank{r}.json")) for r in range(2)]
    assert [(r["rank"], r["world_size"]) for r in results] == [(0, 2), (1, 2)]
    ids = results[0]["ids"] + results[1]["ids"]
    assert sorted(ids) == list(range(N_EVENTS))  # every event exactly once
    assert results[0]["all_steps"] == results[1]["all_steps"] == [results[0]["steps"]] * 2
    assert all(r["len"] == r["steps"] for r in results)
