"""PackedLoader: same features as the extractor, exactly once per epoch across workers x ranks,
seeded shuffles, DOM cap, equal steps per rank, file split."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from _dataset_helpers import (
    EVENTS_PER_FILE,
    N_EVENTS,
    SEED,
    naive_normalize,
    simulated_folder,
    some_normalization,
)
from llp_gap_reco.core.batch import PackedBatch, unpack
from llp_gap_reco.dataset import (
    DatasetFormatError,
    LoaderConfig,
    Normalization,
    PackedLoader,
    split_files,
    write_simulated_folder,
)
from llp_gap_reco.features import FeatureExtractor
from llp_gap_reco.geometry import Geometry
from llp_gap_reco.simulation import simulate


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return simulated_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def direct():
    geo, fx = Geometry.icecube86_like(), FeatureExtractor()
    return {
        ev.event_id: (fx.event_features(ev.pulses, geo), ev.truth)
        for ev in simulate(N_EVENTS, seed=SEED)
    }


def _ids(batches) -> list[int]:
    return [int(i) for b in batches for i in b.event_id]


def test_features_equal_extractor_normalised(folder, direct):
    fi = FeatureExtractor().feature_indices
    args = some_normalization(fi)
    loader = PackedLoader(folder, LoaderConfig(batch_size=37, seed=4), Normalization(args))
    n = 0
    for b in loader:
        assert isinstance(b, PackedBatch) and b.x.dtype == torch.float32
        assert b.targets.shape == (b.batch_size, 6) and b.targets.dtype == torch.float64
        for x, evt, tg in zip(unpack(b.x, b.seqlens), b.event_id.tolist(), b.targets):
            feats, truth = direct[evt]
            ref = naive_normalize(feats.astype(np.float64), fi, args)
            np.testing.assert_allclose(x.double().numpy(), ref, rtol=1e-5, atol=1e-5)
            np.testing.assert_array_equal(
                tg.numpy(),
                [truth[k] for k in ("prod_x", "prod_y", "prod_z", "decay_x", "decay_y", "decay_z")],
            )
            n += 1
    assert n == N_EVENTS


def test_unshuffled_order_and_raw_features(folder, direct):
    loader = PackedLoader(folder, LoaderConfig(batch_size=50, shuffle=False))
    batches = list(loader)
    assert [b.batch_size for b in batches] == [50] * 6 + [20] and len(loader) == 7
    assert _ids(batches) == sorted(direct)
    x = torch.cat([b.x for b in batches]).numpy()
    np.testing.assert_array_equal(x, np.concatenate([direct[i][0] for i in sorted(direct)]))
    assert [
        b.batch_size
        for b in PackedLoader(folder, LoaderConfig(batch_size=50, drop_last=True, shuffle=False))
    ] == [50] * 6


def test_exactly_once_across_two_workers_and_two_ranks(folder):
    seen = Counter()
    per_rank = []
    for rank in range(2):
        loader = PackedLoader(
            folder,
            LoaderConfig(
                batch_size=16,
                rank=rank,
                world_size=2,
                num_workers=2,
                equalize=False,
                seed=5,
                shuffle_buffer=64,
            ),
            epoch=3,
        )
        ids = _ids(loader)
        per_rank.append(ids)
        seen.update(ids)
    assert sorted(seen) == list(range(N_EVENTS)) and set(seen.values()) == {1}
    # each (rank, worker) shard reads whole files: 8 files over 4 shards -> 2 files each
    assert [len(ids) for ids in per_rank] == [2 * 2 * EVENTS_PER_FILE] * 2


def test_seeded_reproducible_and_epoch_dependent(folder):
    def run(seed, epoch):
        loader = PackedLoader(folder, LoaderConfig(batch_size=32, seed=seed, shuffle_buffer=100))
        loader.set_epoch(epoch)
        return _ids(loader)

    a, b = run(1, 0), run(1, 0)
    assert a == b and sorted(a) == list(range(N_EVENTS))
    assert run(1, 1) != a and run(2, 0) != a
    # the shuffle mixes files: the first batch draws from more than one file
    assert len({i // EVENTS_PER_FILE for i in a[:32]}) > 1


def test_max_doms_per_batch(folder, direct):
    cap = 300
    batches = list(
        PackedLoader(folder, LoaderConfig(batch_size=64, max_doms_per_batch=cap, seed=0))
    )
    assert sorted(_ids(batches)) == list(range(N_EVENTS))
    for b in batches:
        assert int(b.seqlens.sum()) <= cap or b.batch_size == 1
    assert max(b.batch_size for b in batches) < 64


def test_equalize_gives_equal_steps_per_rank(folder):
    # 8 files over 3 ranks: 3, 3, 2 files -> every rank is capped at 2 files' events
    steps, ids = [], []
    for rank in range(3):
        loader = PackedLoader(folder, LoaderConfig(batch_size=16, rank=rank, world_size=3, seed=9))
        assert loader.equalize
        got = list(loader)
        steps.append(len(got))
        assert len(got) == len(loader)
        ids += _ids(got)
    assert steps == [-(-2 * EVENTS_PER_FILE // 16)] * 3
    assert len(ids) == len(set(ids)) == 3 * 2 * EVENTS_PER_FILE
    free = [
        len(
            list(
                PackedLoader(
                    folder,
                    LoaderConfig(batch_size=16, rank=r, world_size=3, seed=9, equalize=False),
                )
            )
        )
        for r in range(3)
    ]
    assert sorted(free) == [5, 8, 8]


def test_split_files_deterministic_disjoint(folder):
    train, val = split_files(folder, 0.25, seed=1)
    assert len(val) == 2 and len(train) == 6 and not set(train) & set(val)
    assert split_files(folder, 0.25, seed=1) == (train, val)
    assert split_files(folder, 0.25, seed=2) != (train, val)
    n = sum(b.batch_size for b in PackedLoader(val, LoaderConfig(batch_size=25)))
    assert n == 2 * EVENTS_PER_FILE
    assert split_files(folder, 0.0)[1] == []


def test_background_folder_has_no_targets(tmp_path):
    out = str(tmp_path / "bkg")
    write_simulated_folder(out, 30, seed=2, events_per_file=10, kind="background", progress=False)
    batches = list(PackedLoader(out, LoaderConfig(batch_size=8)))
    assert all(b.targets is None for b in batches)
    assert sorted(_ids(batches)) == list(range(30))
    with pytest.raises(DatasetFormatError, match="missing column.*unlabeled"):
        list(PackedLoader(out, LoaderConfig(batch_size=8), targets=True))


@pytest.mark.cuda
def test_batches_on_cuda_equal_cpu(folder):
    cpu = list(PackedLoader(folder, LoaderConfig(batch_size=40, seed=1)))
    gpu = list(
        PackedLoader(
            folder,
            LoaderConfig(batch_size=40, seed=1, device="cuda", pin_memory=True, num_workers=1),
        )
    )
    assert len(cpu) == len(gpu)
    for a, b in zip(cpu, gpu):
        assert b.x.is_cuda and b.seqlens.is_cuda and b.targets.is_cuda
        assert torch.equal(a.x, b.x.cpu()) and torch.equal(a.event_id, b.event_id.cpu())
