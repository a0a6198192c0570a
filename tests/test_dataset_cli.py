"""``llp-gap-reco simulate --out DIR``: writes a loadable folder; a rerun refuses or resumes."""

from __future__ import annotations

from llp_gap_reco.cli.main import main
from llp_gap_reco.dataset import LoaderConfig, PackedLoader


def test_simulate_out_writes_folder_and_refuses_rerun(tmp_path, capsys):
    out = str(tmp_path / "sim")
    argv = ["simulate", "--events", "30", "--events-per-file", "10", "--seed", "4", "--out", out]
    assert main(argv) == 0
    assert "events written         30 of 30" in capsys.readouterr().out
    ids = sorted(
        i for b in PackedLoader(out, LoaderConfig(batch_size=8, shuffle=False)) for i in b.event_id
    )
    assert ids == list(range(30))
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0
    assert main([*argv[:-2], "--out", out, "--resume", "--kind", "background"]) == 2
    assert "different ['prefix', 'source']" in capsys.readouterr().err
