"""``train --config`` takes the original research code's model YAMLs as they are."""

from __future__ import annotations

import pytest
import yaml
from _seed_reference import load_reference
from _training_helpers import make_folder
from llp_gap_reco.bundle import load_bundle
from llp_gap_reco.cli.main import main
from llp_gap_reco.training import load_train_config

_, META = load_reference()


def _write(path, doc):
    path.write_text(yaml.safe_dump(doc))
    return path


def test_original_model_yaml_maps_to_encoder_and_flow(tmp_path):
    p = _write(
        tmp_path / "model.yaml", {"settings": META["encoder_settings"], "flow": {"flow_str": "ggt"}}
    )
    cfg = load_train_config(p)
    assert cfg.encoder == META["encoder_settings"]
    assert cfg.flow == {"flow_defs": "ggt"} and cfg.loss == "flow"
    no_cnf = _write(tmp_path / "no_cnf.yaml", {"settings": META["no_cnf_settings"]})
    assert load_train_config(no_cnf).loss == "mse"  # the original trained it as a point estimate
    assert load_train_config(no_cnf, loss="flow").loss == "flow"


@pytest.mark.parametrize(
    "doc,message",
    [
        (
            {"flow": {"flow_str": "gggggt", "n_kernels": 5}},
            r"\['n_kernels'\] in the 'flow' section",
        ),
        ({"optimizer_settings": {"lr": 1}}, r"unknown training key\(s\) \['optimizer_settings'\]"),
        ({"encoder": {"output_dim": 8}}, "either as 'settings'"),
    ],
)
def test_other_original_keys_are_refused_by_name(tmp_path, doc, message):
    p = _write(tmp_path / "model.yaml", dict({"settings": META["encoder_settings"]}, **doc))
    with pytest.raises(ValueError, match=message):
        load_train_config(p)


def test_train_cli_takes_an_original_model_yaml(tmp_path):
    folder = make_folder(tmp_path / "folder", n_events=80, events_per_file=20)
    p = _write(
        tmp_path / "model.yaml",
        {"settings": META["encoder_settings"], "flow": {"flow_str": "gggggt"}},
    )
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                folder,
                "--out",
                str(run),
                "--config",
                str(p),
                "--epochs",
                "1",
                "--no-progress",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    bundle = load_bundle(run / "model.pt")
    assert bundle.encoder.config == dict(META["encoder_settings"])
    assert bundle.flow.flow_defs == "gggggt" and bundle.convention == "package"


def test_training_on_the_original_converters_folder_gives_an_original_convention_model(tmp_path):
    from _dataset_helpers import write_original_folder

    folder = tmp_path / "orig"
    write_original_folder(str(folder), n_files=3, per_file=20, seed=2)
    p = _write(
        tmp_path / "model.yaml",
        {"settings": META["encoder_settings"], "flow": {"flow_str": "gggggt"}},
    )
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--data",
                str(folder),
                "--out",
                str(run),
                "--config",
                str(p),
                "--epochs",
                "1",
                "--no-progress",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    bundle = load_bundle(run / "model.pt")
    assert bundle.convention == "original"
    assert bundle.feature_extractor.feature_indices == {
        "abs_times": [9, 10],
        "log_charges": [3, 4, 5, 6],
        "log_total_charge": [3],
        "position": [0, 1, 2],
        "time_widths": [7, 8],
    }


def test_a_model_trained_here_exports_to_the_original_file_set(tmp_path, capsys):
    """Trained on the original converter's folder, labels in metres, uncalibrated: the original
    code's files come out; with the default label standardisation export-seed says why not."""
    from _dataset_helpers import write_original_folder

    folder = tmp_path / "orig"
    write_original_folder(str(folder), n_files=3, per_file=20, seed=2)
    base = {"encoder": META["encoder_settings"], "calibrate": False}
    for name, flow in (
        ("std", {"flow_defs": "gggggt"}),
        ("metres", {"flow_defs": "gggggt", "label_standardization": False}),
    ):
        p = _write(tmp_path / f"{name}.yaml", dict(base, flow=flow))
        assert (
            main(
                [
                    "train",
                    "--data",
                    str(folder),
                    "--out",
                    str(tmp_path / name),
                    "--config",
                    str(p),
                    "--epochs",
                    "1",
                    "--no-progress",
                    "--device",
                    "cpu",
                ]
            )
            == 0
        )
    out = tmp_path / "exported"
    assert (
        main(["export-seed", "--model", str(tmp_path / "std" / "model.pt"), "--out", str(out)]) == 2
    )
    assert "standardised per coordinate" in capsys.readouterr().err
    assert (
        main(["export-seed", "--model", str(tmp_path / "metres" / "model.pt"), "--out", str(out)])
        == 0
    )
    assert yaml.safe_load((out / "feature_indices.yaml").read_text()) == yaml.safe_load(
        (folder / "feature_indices.yaml").read_text()
    )
    assert yaml.safe_load((out / "model_settings.yaml").read_text())["flow"] == {
        "flow_str": "gggggt"
    }
