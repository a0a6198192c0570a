"""Model bundle: round trip through the file, and a clear error for every kind of bad file."""

from __future__ import annotations

import pathlib

import pytest
import torch
from _training_helpers import make_bundle, make_folder
from llp_gap_reco.bundle import FORMAT_VERSION, BundleError, load_bundle, save_bundle
from llp_gap_reco.dataset import LoaderConfig, PackedLoader


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(
        tmp_path_factory.mktemp("bundle_data") / "sim", n_events=60, events_per_file=30
    )


@pytest.fixture(scope="module")
def saved(folder, tmp_path_factory):
    bundle = make_bundle(folder)
    path = save_bundle(bundle, tmp_path_factory.mktemp("bundle") / "model.pt")
    return bundle, path


def _batch(bundle, folder, n=12):
    return next(
        iter(PackedLoader(folder, LoaderConfig(batch_size=n, shuffle=False), bundle.normalization))
    )


def test_round_trip_reproduces_the_model(saved, folder):
    bundle, path = saved
    raw = torch.load(path, weights_only=True)  # the contract: plain data only
    assert raw["format_version"] == FORMAT_VERSION and raw["kind"] == "flow"
    loaded = load_bundle(path)
    assert loaded.encoder.config == bundle.encoder.config
    assert loaded.flow.config == bundle.flow.config
    assert loaded.normalization.to_dict() == bundle.normalization.to_dict()
    assert loaded.feature_indices == bundle.feature_indices
    assert loaded.feature_extractor.config == bundle.feature_extractor.config
    assert loaded.label_standardization == bundle.label_standardization
    torch.testing.assert_close(loaded.flow.label_offset, bundle.flow.label_offset, rtol=0, atol=0)

    b = _batch(bundle, folder)
    enc = bundle.encode(b.x, b.seqlens)
    assert torch.equal(loaded.encode(b.x, b.seqlens), enc)
    lp = bundle.flow.log_prob(b.targets, enc.double())
    assert torch.equal(loaded.flow.log_prob(b.targets, enc.double()), lp)
    s1 = loaded.reconstruct(b, n_samples=64, seed=3)
    s2 = bundle.reconstruct(b, n_samples=64, seed=3, chunk_events=5)  # chunking is invisible
    # (up to float32 rounding of the summary's fast path: metres, log densities)
    for name in ("mean", "cov", "gap_length_mean", "logp_threshold_68", "status"):
        torch.testing.assert_close(getattr(s1, name), getattr(s2, name), rtol=1e-5, atol=1e-3)


def test_reconstruct_features_normalises_raw_rows(saved, folder):
    bundle, _ = saved
    raw = PackedLoader(folder, LoaderConfig(batch_size=5, shuffle=False))  # unnormalised
    b = next(iter(raw))
    feats = [t.numpy() for t in torch.split(b.x, b.seqlens.tolist())]
    direct = bundle.reconstruct(_batch(bundle, folder, 5), n_samples=64)
    via_raw = bundle.reconstruct_features(feats, n_samples=64)
    torch.testing.assert_close(via_raw.mean, direct.mean, rtol=1e-5, atol=1e-4)


def test_truncated_file(saved, tmp_path):
    data = saved[1].read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="truncated"):
        load_bundle(bad)


def _resave(saved, tmp_path, edit) -> pathlib.Path:
    obj = torch.load(saved[1], weights_only=True)
    edit(obj)
    path = tmp_path / "edited.pt"
    torch.save(obj, path)
    return path


@pytest.mark.parametrize("field", ["normalization", "features", "flow", "training"])
def test_missing_field(saved, tmp_path, field):
    path = _resave(saved, tmp_path, lambda o: o.pop(field))
    with pytest.raises(BundleError, match=f"missing field '{field}'"):
        load_bundle(path)


def test_missing_state_dict(saved, tmp_path):
    path = _resave(saved, tmp_path, lambda o: o["flow"].pop("state_dict"))
    with pytest.raises(BundleError, match="'flow.state_dict'"):
        load_bundle(path)


def test_newer_format_version(saved, tmp_path):
    path = _resave(saved, tmp_path, lambda o: o.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(BundleError, match="newer than this package reads"):
        load_bundle(path)


def test_wrong_weights_are_reported(saved, tmp_path):
    def edit(o):
        o["encoder"]["state_dict"].pop(next(iter(o["encoder"]["state_dict"])))

    with pytest.raises(BundleError, match="inconsistent model bundle"):
        load_bundle(_resave(saved, tmp_path, edit))


class _Payload:
    """Unpickling this would create a marker file: a bundle loader must never do it."""

    marker: pathlib.Path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_pickled_code_is_refused_and_never_executed(saved, tmp_path):
    payload = _Payload()
    payload.marker = tmp_path / "executed"
    obj = torch.load(saved[1], weights_only=True)
    obj["training"] = {"hook": payload}
    path = tmp_path / "evil.pt"
    torch.save(obj, path)
    with pytest.raises(BundleError, match="pickled Python code"):
        load_bundle(path)
    assert not payload.marker.exists()


def test_not_a_bundle(tmp_path):
    p = tmp_path / "notes.pt"
    torch.save({"weights": torch.zeros(3)}, p)
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(p)
    with pytest.raises(FileNotFoundError):
        load_bundle(tmp_path / "absent.pt")
