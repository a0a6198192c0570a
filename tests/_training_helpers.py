"""Shared pieces of the training, bundle and evaluation tests: a tiny model and data folder."""

from __future__ import annotations

import pathlib

import torch
from llp_gap_reco.dataset import write_simulated_folder
from llp_gap_reco.training import TrainConfig

#: a model small enough to train in seconds on 2 CPU cores
TINY_ENCODER = {
    "output_dim": 16,
    "io_mlp_hidden_dims": "16",
    "attn_computational_dim": 16,
    "attn_num_layers": 1,
    "attn_num_heads_per_layer": 1,
    "attn_internal_mlp_dim": 32,
    "attn_dropout": 0.1,
}


def tiny_config(**changes) -> TrainConfig:
    base = dict(
        epochs=2,
        batch_size=16,
        lr=3e-3,
        checkpoint_every=4,
        init_labels=200,
        progress=False,
        val_fraction=0.2,
        shuffle_buffer=64,
        scheduler="plateau",
        encoder=dict(TINY_ENCODER),
        flow={"flow_defs": "gggggt", "mlp_hidden_dims": [32]},
    )
    base.update(changes)
    return TrainConfig(**base)


def make_folder(
    path: pathlib.Path, n_events: int = 240, events_per_file: int = 40, seed: int = 5
) -> str:
    write_simulated_folder(
        str(path), n_events, seed=seed, events_per_file=events_per_file, progress=False
    )
    return str(path)


@torch.no_grad()
def mean_loss(model, loader) -> float:
    """Per-event mean loss of ``model`` over a loader (eval mode)."""
    was = model.training
    model.eval()
    s, n = 0.0, 0
    for b in loader:
        loss = model(b.x, b.seqlens, b.targets)
        s, n = s + float(loss.sum()), n + loss.shape[0]
    model.train(was)
    return s / n


def make_bundle(folder: str, kind: str = "flow", seed: int = 0):
    """An untrained bundle for ``folder``: tiny encoder, head initialised from its labels."""
    from llp_gap_reco.data.parquet.reader import ConvertedFolder
    from llp_gap_reco.dataset import compute_normalization, read_data_file
    from llp_gap_reco.encoder import LLPTransformerModel
    from llp_gap_reco.model.bundle import ModelBundle, build_head

    torch.manual_seed(seed)
    cf = ConvertedFolder(folder)
    encoder = LLPTransformerModel(**dict(TINY_ENCODER, input_dim=cf.dim)).eval()
    cfg = {"conditional_input_dim": encoder.encoding_dim}
    if kind == "flow":
        cfg.update(flow_defs="gggggt", mlp_hidden_dims=[32])
    head = build_head(kind, cfg)
    labels = torch.from_numpy(read_data_file(cf.files[0], targets=True).targets)
    head.init_from_labels(labels, seed=seed)
    return ModelBundle(
        encoder=encoder,
        head=head.eval(),
        kind=kind,
        feature_config=cf.manifest["feature_config"],
        feature_indices=dict(cf.feature_indices),
        normalization=compute_normalization(folder),
        training={"note": "untrained"},
    )
