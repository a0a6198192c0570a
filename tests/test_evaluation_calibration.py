"""The base temperature: densities under ``N(0, T^2 I)``, the fit that recovers a known width,
and the trainer storing the fitted value in the bundle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _flow_helpers import encodings, initialised_flow
from _training_helpers import make_folder, tiny_config
from llp_gap_reco.bundle import load_bundle
from llp_gap_reco.evaluation.calibration import fit_temperature
from llp_gap_reco.evaluation.truth_ranks import RankTable, hdr_ranks
from llp_gap_reco.flow import ConditionalFlow
from llp_gap_reco.training import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")


def test_log_prob_with_temperature_is_the_scaled_base_density():
    """log p_T(x) = log N(z; 0, T^2 I) + log|dz/dx| - sum(log scale), in float64 by hand."""
    flow = initialised_flow(seed=2).eval()
    enc = encodings(32)
    x = flow.sample(enc, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        layers = flow.layer_parameters(flow.flow_parameters(enc))
        z, logdet = flow.to_base(flow._standardize(x), layers)
        for t in (0.7, 1.0, 1.4):
            flow.base_temperature = t
            expected = (
                -0.5 * (z**2).sum(-1) / t**2
                - 6 * math.log(t * math.sqrt(2 * math.pi))
                + logdet
                - flow.label_scale.log().sum()
            )
            torch.testing.assert_close(flow.log_prob(x, enc), expected, rtol=1e-12, atol=1e-10)
            # samples come back with their own density
            zs = torch.randn(
                32, 16, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
            )
            xs, lp = flow.sample_base(zs, enc)
            torch.testing.assert_close(flow.log_prob(xs, enc), lp, rtol=1e-7, atol=1e-6)
            # the spread of samples grows with T (same base points)
            if t == 1.4:
                flow.base_temperature = 1.0
                x1, _ = flow.sample_base(zs, enc)
                assert float(xs.std(1).mean()) > 1.2 * float(x1.std(1).mean())
    assert ConditionalFlow(**flow.config).base_temperature == flow.base_temperature
    with pytest.raises(ValueError, match="base_temperature"):
        ConditionalFlow(base_temperature=0.0)


@pytest.mark.slow
@pytest.mark.parametrize("true_t", [0.8, 1.25])
def test_fit_recovers_the_width_of_the_truth_distribution(true_t):
    """Truths drawn from the flow at width ``true_t``: the fit finds it within 0.05, and the
    fitted coverage at 68% nominal is within 4 points (binomial error 1.0 point). A ``gt`` flow:
    its HDRs grow with ``T`` at every level (for strongly skewed ``gggggt`` flows they need not,
    which is why the fit searches a grid rather than solving for one level)."""
    flow = initialised_flow("gt", seed=3).eval()
    enc = encodings(2000, seed=4)
    with torch.no_grad():
        flow.base_temperature = true_t
        truth = flow.sample(enc, 1, generator=torch.Generator().manual_seed(5))[:, 0]
        flow.base_temperature = 1.0
    cal = fit_temperature(flow, enc, truth, n_samples=256, seed=6)
    assert flow.base_temperature == 1.0  # left unchanged
    assert abs(cal.temperature - true_t) < 0.05, cal.temperature
    i68 = cal.levels.index(0.68)
    assert abs(cal.coverage_after[i68] - 0.68) < 0.04
    assert abs(cal.coverage_before[i68] - 0.68) > 0.08  # the miscalibration was visible
    # the HDR ranks at the fitted width are close to uniform
    ranks = hdr_ranks(flow, enc, truth, 256, [cal.temperature], seed=7)[0]
    assert abs(float(np.mean(ranks)) - 0.5) < 0.04


def test_rank_table_equals_the_chunked_ranks():
    """The search's cached ranks equal :func:`hdr_ranks` at every temperature (the same base
    points, chunk by chunk), for an event-dependent width too."""
    flow = initialised_flow(seed=3).eval()
    enc = encodings(300, seed=4)
    with torch.no_grad():
        truth = flow.sample(enc, 1, generator=torch.Generator().manual_seed(5))[:, 0]
    flow.set_temperature_weights([0.1] + [0.02] * (enc.shape[1]))
    temps = [0.7, 1.0, 1.3]
    chunked = hdr_ranks(flow, enc, truth, 64, temps, seed=2, chunk_size=128)
    table = RankTable(flow, enc, truth, 64, seed=2, chunk_size=128)
    for t, expected in zip(temps, chunked):
        np.testing.assert_array_equal(table(t), expected)
    assert not np.array_equal(chunked[0], chunked[2])  # the width matters


def test_fit_refuses_too_few_events():
    flow = initialised_flow(seed=3).eval()
    with pytest.raises(ValueError, match="at least 100 events"):
        fit_temperature(flow, encodings(20), torch.zeros(20, 6, dtype=torch.float64))


@pytest.mark.slow
def test_trainer_stores_the_fitted_temperature_in_the_bundle(tmp_path):
    folder = make_folder(tmp_path / "sim", n_events=600, events_per_file=60)
    result = Trainer(folder, tmp_path / "run", tiny_config(epochs=1)).run()
    bundle = load_bundle(result.bundle_path)
    cal = bundle.training["calibration"]
    assert cal["n_events"] == 120  # the two validation files
    assert bundle.flow.base_temperature == pytest.approx(cal["temperature"])
    assert 0.5 <= cal["temperature"] <= 2.0 and cal["levels"] == [0.68, 0.9]
    assert len(cal["coverage_after"]) == 2

    off = Trainer(folder, tmp_path / "run_off", tiny_config(epochs=1, calibrate=False)).run()
    bundle_off = load_bundle(off.bundle_path)
    assert bundle_off.flow.base_temperature == 1.0
    assert bundle_off.training["calibration"] is None


@pytest.mark.slow
def test_calibrate_command_writes_a_calibrated_copy(tmp_path, capsys):
    from _training_helpers import make_bundle
    from llp_gap_reco.bundle import save_bundle
    from llp_gap_reco.cli.main import main

    folder = make_folder(tmp_path / "sim", n_events=600, events_per_file=200, seed=8)
    src = save_bundle(make_bundle(folder), tmp_path / "untrained.pt")
    out = tmp_path / "calibrated.pt"
    assert (
        main(
            [
                "calibrate",
                "--model",
                str(src),
                "--data",
                folder,
                "--out",
                str(out),
                "--samples",
                "128",
            ]
        )
        == 0
    )
    cal = load_bundle(out)
    rec = cal.training["calibration"]
    assert rec["n_events"] == 600 and rec["data"] == folder
    assert cal.flow.base_temperature == pytest.approx(rec["temperature"])
    assert cal.flow.temperature_weights is not None  # 600 events: the width per event too
    assert rec["event_temperature"]["n_events"] == 600
    assert cal.flow.level_map is not None and rec["level_map"] == cal.flow.level_map.config()
    assert load_bundle(src).flow.base_temperature == 1.0  # input untouched
    assert load_bundle(src).flow.temperature_weights is None
    lv = np.asarray(rec["levels"])
    err = lambda c: float(np.mean((np.asarray(c) - lv) ** 2))  # noqa: E731
    printed = capsys.readouterr().out
    assert "base temperature" in printed and "region tilt h" in printed
    # 600 events: a gap-length tilt of the regions, recorded with its validation coverage; its
    # loss (squared deviations per true gap-length quintile, plus 5x overall) is not above none's
    assert cal.flow.region_tilt is not None
    tilt = rec["region_tilt"]
    assert tilt["values"] == cal.flow.region_tilt.config()["values"]
    assert tilt["temperature"] == pytest.approx(rec["temperature"], abs=1e-12)

    def tilt_loss(per_bin: list, overall: list) -> float:
        return sum(float(np.sum((np.asarray(b) - a) ** 2)) + 5 * (o - a) ** 2
                   for b, o, a in zip(per_bin, overall, lv))  # fmt: skip

    before = tilt_loss(tilt["coverage_before"], tilt["overall_before"])
    assert tilt_loss(tilt["coverage_after"], tilt["overall_after"]) <= before + 1e-9
    # and a term of the event width in the encoded hit-DOM count, recorded with its coverage
    bw = rec["brightness_width"]
    assert cal.flow.brightness_width is not None
    assert bw["values"] == cal.flow.brightness_width.config()["values"]
    assert np.asarray(bw["coverage_after"]).shape == (2, 5) and "brightness width g" in printed
    # --no-region-tilt: the regions of the posterior itself
    untilted = tmp_path / "untilted.pt"
    argv = ["calibrate", "--model", str(src), "--data", folder, "--samples", "128"]
    assert main([*argv, "--out", str(untilted), "--no-region-tilt"]) == 0
    untilted_cal = load_bundle(untilted)
    assert untilted_cal.flow.region_tilt is None
    untilted_rec = untilted_cal.training["calibration"]
    assert not untilted_rec["region_tilt"]
    # the fitted width brings the coverage curve closer to nominal on these events
    assert err(untilted_rec["coverage_after"]) <= err(untilted_rec["coverage_before"])
    assert untilted_cal.flow.level_map is not None
    assert "region tilt h" not in capsys.readouterr().out
    # --no-level-map --no-brightness-width: the same base width, the flow's own HDR levels
    plain = tmp_path / "plain.pt"
    assert main([*argv, "--out", str(plain), "--no-level-map", "--no-brightness-width"]) == 0
    plain_cal = load_bundle(plain)
    assert plain_cal.flow.level_map is None and not plain_cal.training["calibration"]["level_map"]
    assert plain_cal.flow.brightness_width is None
    assert not plain_cal.training["calibration"]["brightness_width"]
    assert plain_cal.flow.base_temperature == pytest.approx(cal.flow.base_temperature, abs=1e-12)
    assert "mapped" not in capsys.readouterr().out
    assert main(["calibrate", "--model", str(src), "--data", folder, "--out", str(src)]) == 2
    assert "llp-gap-reco calibrate: error: --out must differ" in capsys.readouterr().err
