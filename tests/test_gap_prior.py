"""The flat gap-length prior: weights that flatten a falling gap distribution, looked up per
label, and used by the training step and the validation loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _flow_helpers import encodings, initialised_flow
from _training_helpers import TINY_ENCODER, make_folder, tiny_config
from llp_gap_reco.flow import ConditionalFlow
from llp_gap_reco.model.flow.gap_prior import GapPriorTable, gap_lengths
from llp_gap_reco.model.flow.summary import sobol_normal, tabulated_samples
from llp_gap_reco.training import Trainer
from llp_gap_reco.training.gap_prior import (
    MIN_BINS,
    MIN_EVENTS_PER_BIN,
    N_BINS,
    flat_gap_prior,
    flat_gap_prior_of_files,
)


def _exponential_gaps(n: int, rng: np.random.Generator, lo=50.0, hi=600.0, decay=300.0):
    """Truncated exponential gap lengths (m) by inverse CDF."""
    u = rng.uniform(size=n)
    return lo - decay * np.log1p(-u * (1.0 - np.exp(-(hi - lo) / decay)))


def _labels(gaps: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    """Labels [N, 6] (m) with the given gap lengths in random directions."""
    prod = rng.uniform(-400, 400, size=(gaps.size, 3))
    d = rng.normal(size=(gaps.size, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return torch.from_numpy(np.concatenate([prod, prod + gaps[:, None] * d], axis=1))


def test_weights_flatten_a_falling_gap_distribution():
    rng = np.random.default_rng(3)
    gaps = _exponential_gaps(40_000, rng)
    w = flat_gap_prior(gaps).weights(_labels(gaps, rng)).numpy()
    assert w.mean() == pytest.approx(1.0, abs=1e-9)
    bins = np.linspace(80.0, 570.0, 8)  # away from the edge bins
    plain = np.histogram(gaps, bins)[0] / gaps.size
    weighted = np.histogram(gaps, bins, weights=w)[0] / gaps.size
    assert plain[0] / plain[-1] > 3.0  # the sample falls ...
    flat = weighted / np.diff(bins) / (1.0 / (600.0 - 50.0))
    np.testing.assert_allclose(flat, 1.0, atol=0.12)  # ... and the weighted one is flat


def test_weight_lookup_matches_the_bins_by_hand():
    rng = np.random.default_rng(4)
    gw = flat_gap_prior(_exponential_gaps(2_000, rng))
    edges, table = gw.edges.numpy(), gw.weight.numpy()
    probe = np.concatenate([[0.0, 10.0, 5_000.0], edges, rng.uniform(40.0, 700.0, 200)])
    labels = _labels(probe, rng)
    np.testing.assert_allclose(gap_lengths(labels).numpy(), probe, rtol=1e-12, atol=1e-9)
    expected = []
    for g in gap_lengths(labels).numpy():  # last edge at or below g; outside: the edge bins
        i = max(k for k in range(len(edges) - 1) if k == 0 or edges[k] <= g)
        expected.append(table[i])
    np.testing.assert_array_equal(gw.weights(labels).numpy(), expected)
    assert gw.weights(labels.float()).dtype == torch.float32


def test_too_few_labels_is_an_error():
    with pytest.raises(ValueError, match=f"at least {MIN_BINS * MIN_EVENTS_PER_BIN}"):
        flat_gap_prior(np.linspace(50, 500, MIN_BINS * MIN_EVENTS_PER_BIN - 1))
    small = flat_gap_prior(np.linspace(50, 500, 10 * MIN_EVENTS_PER_BIN))  # fewer bins
    assert small.weight.numel() == 10 and N_BINS > 10


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("gap_prior") / "sim", n_events=320)


def test_training_step_and_validation_use_the_weights(folder, tmp_path):
    enc = dict(TINY_ENCODER, attn_dropout=0.0)  # deterministic losses
    cfg = tiny_config(epochs=1, gap_prior="flat", calibrate=False, encoder=enc)
    trainer = Trainer(folder, tmp_path / "run", cfg)
    weights = flat_gap_prior_of_files(trainer.train_files)
    model = trainer.model
    assert model.head.gap_prior.config() == weights.config()  # the flow keeps the table

    batch = next(iter(trainer.train_loader))
    with torch.no_grad():
        per_event = model(batch.x, batch.seqlens, batch.targets)
    w = weights.weights(batch.targets).to(per_event.dtype)
    _, step_loss, _ = trainer.train_step(batch)
    assert step_loss == pytest.approx(float((w * per_event).sum() / w.sum()), rel=1e-9)
    assert step_loss != pytest.approx(float(per_event.mean()), rel=1e-3)

    val_loss, n = trainer.validate()
    num = den = 0.0
    model.eval()
    with torch.no_grad():
        for b in trainer.val_loader:
            loss = model(b.x, b.seqlens, b.targets)
            wb = weights.weights(b.targets).to(loss.dtype)
            num, den = num + float((wb * loss).sum()), den + float(wb.sum())
    assert n == len(trainer.val_files) * 40
    assert val_loss == pytest.approx(num / den, rel=1e-9)


def test_flow_moments_are_weighted_back_with_the_gap_prior():
    flow, enc, n = initialised_flow(), encodings(3), 1024
    plain = flow.summarize(enc, n_samples=n, seed=9, dtype=torch.float64)
    with torch.no_grad():
        x, _ = tabulated_samples(flow, enc, sobol_normal(n, flow.dim, 9), torch.float64)
    gaps = gap_lengths(x).numpy()
    edges = np.quantile(gaps, np.linspace(0, 1, 6))
    table = GapPriorTable(edges, [0.2, 0.5, 1.0, 2.0, 5.0])  # long gaps weigh more in training
    flow.set_gap_prior(table)
    weighted = flow.summarize(enc, n_samples=n, seed=9, dtype=torch.float64)

    for b in range(enc.shape[0]):  # float64 reference: numpy's weighted moments of 1 / w
        xb = x[b].numpy()
        i = np.clip(np.searchsorted(edges[1:-1], gaps[b], side="right"), 0, 4)
        v = 1.0 / np.array([0.2, 0.5, 1.0, 2.0, 5.0])[i]
        np.testing.assert_allclose(weighted.mean[b], np.average(xb, axis=1, weights=v), rtol=1e-10)
        np.testing.assert_allclose(weighted.cov[b], np.cov(xb, aweights=v), rtol=1e-9, atol=1e-9)
        g_mean = np.average(gaps[b], weights=v)
        np.testing.assert_allclose(weighted.gap_length_mean[b], g_mean, rtol=1e-10)
        assert float(weighted.gap_length_mean[b]) < float(plain.gap_length_mean[b]) - 1.0
    # the density (and so the HDR levels) is the flow's own
    assert torch.equal(weighted.logp_threshold_68, plain.logp_threshold_68)
    rebuilt = ConditionalFlow(**flow.config)
    assert rebuilt.gap_prior.config() == table.config()


def test_weights_warm_up_from_equal_to_full(folder, tmp_path):
    """``gap_prior_warmup_steps``: the weights enter as ``w^a``, ``a = step / warmup``."""
    enc = dict(TINY_ENCODER, attn_dropout=0.0)
    cfg = tiny_config(epochs=1, gap_prior="flat", gap_prior_warmup_steps=4, calibrate=False,
                      encoder=enc)  # fmt: skip
    trainer = Trainer(folder, tmp_path / "run", cfg)
    weights = trainer.model.head.gap_prior
    batch = next(iter(trainer.train_loader))
    for step, power in ((0, 0.0), (2, 0.5), (6, 1.0)):
        trainer.state.global_step = step
        with torch.no_grad():
            per_event = trainer.model(batch.x, batch.seqlens, batch.targets)
        w = weights.weights(batch.targets).to(per_event.dtype) ** power
        _, step_loss, _ = trainer.train_step(batch)
        assert step_loss == pytest.approx(float((w * per_event).sum() / w.sum()), rel=1e-9)
