"""The CUDA path against the CPU path: flow densities and summaries, reconstruction of a bundle,
and training with bf16 / fp16 autocast. Every test here skips where CUDA is unavailable."""

from __future__ import annotations

import pytest
import torch
from _training_helpers import make_bundle, make_folder, mean_loss, tiny_config
from llp_gap_reco.bundle import load_bundle
from llp_gap_reco.dataset import LoaderConfig, PackedLoader
from llp_gap_reco.flow import ConditionalFlow
from llp_gap_reco.training import Trainer

pytestmark = pytest.mark.cuda


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("cuda_data") / "sim", n_events=320)


def _flow(seed: int = 0) -> tuple[ConditionalFlow, torch.Tensor]:
    torch.manual_seed(seed)
    flow = ConditionalFlow(conditional_input_dim=16, mlp_hidden_dims=[32])
    labels = torch.randn(500, 6, dtype=torch.float64) * 200.0 + 50.0
    flow.init_from_labels(labels, seed=seed)
    with torch.no_grad():  # move away from the initialisation so every layer matters
        for p in flow.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return flow.eval(), labels


def test_flow_log_prob_and_samples_on_cuda_equal_cpu():
    """float64 flow: log p and pushed-forward base points agree to 1e-9 (relative)."""
    flow, labels = _flow()
    enc = torch.randn(64, 16, dtype=torch.float64)
    x = labels[:64]
    z = torch.randn(64, 8, 6, dtype=torch.float64)
    with torch.no_grad():
        lp_cpu = flow.log_prob(x, enc)
        xs_cpu, lps_cpu = flow.sample_base(z, enc)
        gpu = flow.to("cuda")
        lp_gpu = gpu.log_prob(x.cuda(), enc.cuda()).cpu()
        xs_gpu, lps_gpu = (t.cpu() for t in gpu.sample_base(z.cuda(), enc.cuda()))
    torch.testing.assert_close(lp_gpu, lp_cpu, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(xs_gpu, xs_cpu, rtol=1e-7, atol=1e-6)
    torch.testing.assert_close(lps_gpu, lps_cpu, rtol=1e-7, atol=1e-7)


def test_flow_summary_on_cuda_equals_cpu():
    """The float32 summary on CUDA vs CPU: means within 1e-3 sigma, sigmas within 1e-3."""
    flow, _ = _flow(1)
    enc = torch.randn(200, 16, dtype=torch.float64)
    with torch.no_grad():
        cpu = flow.summarize(enc, n_samples=512, seed=3)
        gpu = flow.to("cuda").summarize(enc.cuda(), n_samples=512, seed=3)
    sigma = cpu.sigma.double()
    assert float(((gpu.mean.double().cpu() - cpu.mean.double()) / sigma).abs().max()) < 1e-3
    assert float((gpu.sigma.double().cpu() / sigma - 1).abs().max()) < 1e-3
    assert torch.equal(gpu.status.cpu(), cpu.status)


def test_bundle_reconstruction_on_cuda_equals_cpu(folder):
    bundle = make_bundle(folder)
    batch = next(
        iter(
            PackedLoader(
                folder,
                LoaderConfig(batch_size=128, shuffle=False, world_size=1, rank=0),
                bundle.normalization,
                feature_indices=bundle.feature_indices,
            )
        )
    )
    cpu = bundle.reconstruct(batch, n_samples=256)
    gpu = bundle.to("cuda").reconstruct(batch, n_samples=256)
    sigma = cpu.sigma.double()
    assert float(((gpu.mean.double().cpu() - cpu.mean.double()) / sigma).abs().max()) < 1e-3
    assert float((gpu.sigma.double().cpu() / sigma - 1).abs().max()) < 1e-3


@pytest.mark.parametrize("amp", ["bf16", "fp16", "none"])
def test_training_on_cuda_lowers_the_loss_and_loads_on_cpu(folder, tmp_path, amp):
    trainer = Trainer(folder, tmp_path / "run", tiny_config(epochs=3, device="cuda", amp=amp))
    assert (
        trainer.model.amp_dtype
        == {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}[amp]
    )
    before = mean_loss(trainer.model, trainer.train_loader)
    result = trainer.run()
    after = mean_loss(trainer.model, trainer.train_loader)
    assert after < before - 0.1, (before, after)
    assert result.skipped_batches == 0

    # The bundle written on the GPU loads on the CPU and gives the GPU's encodings.
    bundle = load_bundle(result.bundle_path, device="cpu")
    batch = next(
        iter(
            PackedLoader(
                folder,
                LoaderConfig(batch_size=64, shuffle=False, world_size=1, rank=0),
                bundle.normalization,
                feature_indices=bundle.feature_indices,
            )
        )
    )
    enc_cpu = bundle.encode(batch.x, batch.seqlens)
    enc_gpu = bundle.to("cuda").encode(batch.x, batch.seqlens).cpu()
    torch.testing.assert_close(enc_gpu, enc_cpu, rtol=1e-4, atol=1e-4)
