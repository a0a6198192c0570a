"""Training on a generated folder: the loss goes down, the run folder is complete, bad batches
are skipped and counted, the MSE baseline trains, configs mirror the package defaults."""

from __future__ import annotations

import copy
import csv
import dataclasses
import pathlib

import pytest
import torch
import yaml
from _training_helpers import make_folder, mean_loss, tiny_config
from llp_gap_reco.bundle import load_bundle
from llp_gap_reco.training import TrainConfig, Trainer
from llp_gap_reco.training.checkpoint import load_checkpoint
from llp_gap_reco.training.config import QUICK

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("train_data") / "sim")


@pytest.mark.slow
def test_short_training_lowers_the_loss_and_leaves_a_complete_run(folder, tmp_path):
    trainer = Trainer(folder, tmp_path / "run", tiny_config(epochs=2))
    before = mean_loss(trainer.model, trainer.train_loader)
    result = trainer.run()
    after = mean_loss(trainer.model, trainer.train_loader)
    assert after < before - 0.1, (before, after)
    assert result.best_val_loss < float("inf") and result.initial_val_loss < float("inf")
    assert result.skipped_batches == 0 and result.stopped == "epochs"

    run = tmp_path / "run"
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert all(int(r["train_events"]) == len(trainer.train_files) * 40 for r in rows)
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 2
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    assert last["epoch"] == 2 and last["global_step"] == result.global_step
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    assert best["best_val_loss"] == pytest.approx(result.best_val_loss)

    # The bundle holds the best-validation weights and reproduces the trained model's loss.
    bundle = load_bundle(run / "model.pt")
    assert bundle.training["best_val_loss"] == pytest.approx(result.best_val_loss)
    for k, v in best["model"].items():
        part, name = k.split(".", 1)
        ref = (bundle.encoder if part == "encoder" else bundle.head).state_dict()[name]
        assert torch.equal(ref, v), k


def test_nonfinite_batch_is_skipped_and_counted(folder, tmp_path):
    trainer = Trainer(folder, tmp_path / "run", tiny_config(epochs=1))
    inner = trainer.ddp_model
    calls = {"n": 0}

    class PoisonSecondBatch(torch.nn.Module):
        def forward(self, x, seqlens, targets):
            calls["n"] += 1
            loss = inner(x, seqlens, targets)
            return loss * float("nan") if calls["n"] == 2 else loss

    trainer.ddp_model = PoisonSecondBatch()
    result = trainer.run()
    assert result.skipped_batches == 1
    assert result.history[0]["batches_applied"] == result.global_step - 1
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_mse_baseline_trains_a_point_bundle(folder, tmp_path):
    from llp_gap_reco.dataset import LoaderConfig, PackedLoader

    trainer = Trainer(folder, tmp_path / "mse", tiny_config(epochs=2, loss="mse"))
    untrained = copy.deepcopy(trainer.model).eval()
    before = mean_loss(trainer.model, trainer.train_loader)
    result = trainer.run()
    after = mean_loss(trainer.model, trainer.train_loader)
    assert after < before, (before, after)  # training improved the point predictions

    bundle = load_bundle(result.bundle_path)
    assert bundle.kind == "point" and bundle.flow is None
    batch = next(
        iter(PackedLoader(folder, LoaderConfig(batch_size=8, shuffle=False), bundle.normalization))
    )
    pred = bundle.predict_point(batch)
    assert pred.shape == (8, 6) and torch.isfinite(pred).all()
    # the bundle holds the trained weights: its squared error (standardised targets) is the
    # trained model's, below the untrained model's on the same events
    with torch.no_grad():
        trained_loss = float(trainer.model.eval()(batch.x, batch.seqlens, batch.targets).mean())
        untrained_loss = float(untrained(batch.x, batch.seqlens, batch.targets).mean())
    assert trained_loss < untrained_loss, (trained_loss, untrained_loss)
    assert not torch.allclose(pred, pred.mean(0, keepdim=True))  # per-event output


def test_existing_run_is_not_overwritten_without_resume(folder, tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "last.pt").write_bytes(b"")
    with pytest.raises(FileExistsError, match="resume"):
        Trainer(folder, tmp_path / "run", tiny_config())


def test_config_files_mirror_package_defaults():
    default = yaml.safe_load((ROOT / "configs" / "train_default.yaml").read_text())
    assert default == TrainConfig().to_dict()
    quick = yaml.safe_load((ROOT / "configs" / "train_quick.yaml").read_text())
    assert quick == QUICK
    assert dataclasses.asdict(TrainConfig.from_dict(quick)) == TrainConfig(**QUICK).to_dict()
    with pytest.raises(ValueError, match="unknown training key"):
        TrainConfig.from_dict({"epochz": 3})
    with pytest.raises(ValueError, match="scheduler"):
        TrainConfig(scheduler="linear")
