"""The console script: a user's mistake is one line on stderr and exit status 2, an unexpected
failure keeps its traceback; ``--help`` and ``predict`` load no training code."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
from _cli_helpers import cli
from _training_helpers import make_bundle, make_folder
from llp_gap_reco.bundle import save_bundle
from llp_gap_reco.cli import parsers, quickstart
from llp_gap_reco.cli.main import main
from llp_gap_reco.data.features.convention import CONVENTIONS, ORIGINAL
from llp_gap_reco.data.parquet.format import DEFAULT_EVENTS_PER_FILE
from llp_gap_reco.data.simulation import KINDS
from llp_gap_reco.i3.engine import ON_ERROR


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    folder = make_folder(root / "sim", n_events=60, events_per_file=30)
    save_bundle(make_bundle(folder), root / "flow.pt")
    save_bundle(make_bundle(folder, kind="point"), root / "point.pt")
    (root / "not_a_bundle.pt").write_text("hello\n")
    (root / "a_file").write_text("x\n")
    (root / "bogus.yaml").write_text("bogus_key: 1\n")
    return root


# (arguments, what the one-line message must contain); one or more per subcommand
USER_MISTAKES = [
    (["simulate", "--events", "-5"], "argument --events: must be an integer >= 0, got -5"),
    (["simulate", "--events", "10", "--out", "a_file"], "--out a_file: exists and is not a folder"),
    (["features", "--config", "nope.yaml"], "--config nope.yaml: no such file"),
    (["features", "--config", "bogus.yaml"], "bogus.yaml: unknown top-level key(s) ['bogus_key']"),
    (["convert", "-i", "nope.i3", "-o", "out"], "-i/--input nope.i3: no such file"),
    (["train", "--data", "nothere", "--out", "run"], "--data nothere: no such folder"),
    (
        ["train", "--data", "sim", "--out", "run", "--config", "bogus.yaml"],
        "error: bogus.yaml: unknown training key(s) ['bogus_key']",
    ),
    (
        ["train", "--data", "sim", "--out", "run", "--val-fraction", "1.5"],
        "argument --val-fraction: must be a fraction in [0, 1), got 1.5",
    ),
    (
        ["predict", "--model", "nope.pt", "--data", "sim", "--out", "p.parquet"],
        "--model nope.pt: no such file",
    ),
    (
        ["predict", "--model", "not_a_bundle.pt", "--data", "sim", "--out", "p.parquet"],
        "not_a_bundle.pt: not a model bundle",
    ),
    (
        ["evaluate", "--model", "nope.pt", "--data", "sim", "--out", "rep"],
        "--model nope.pt: no such file",
    ),
    (
        ["evaluate", "--model", "point.pt", "--data", "sim", "--out", "rep"],
        "evaluate needs a flow model, got a 'point' one",
    ),
    (
        ["export-seed", "--model", "not_a_bundle.pt", "--out", "exported"],
        "not_a_bundle.pt: not a model bundle",
    ),
    (
        [
            "import-seed",
            "--settings",
            "nope.yaml",
            "--encoder-state",
            "e.pth",
            "--flow-state",
            "f.pth",
            "--normalization",
            "n.yaml",
            "--feature-indices",
            "fi.yaml",
            "--out",
            "m.pt",
        ],
        "--settings nope.yaml: no such file",
    ),
    (
        ["calibrate", "--model", "flow.pt", "--data", "sim", "--out", "flow.pt"],
        "--out must differ from --model",
    ),
    (
        ["calibrate", "--model", "flow.pt", "--data", "sim", "--out", "cal.pt"],
        "calibration needs at least 100 events, got 60",
    ),
    (["quickstart", "--out", "a_file"], "--out a_file: exists and is not a folder"),
    (
        ["quickstart", "--max-minutes", "0"],
        "argument --max-minutes: must be a number of minutes > 0",
    ),
    (["bench", "--fast"], "unrecognized arguments: --fast"),
]


@pytest.mark.parametrize(
    "args,expected", USER_MISTAKES, ids=[" ".join(a[:2]) + "..." for a, _ in USER_MISTAKES]
)
def test_user_mistake_is_one_line_and_exit_2(work, args, expected):
    proc = cli(*args, cwd=work)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [
        line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("WARNING")
    ]
    assert lines == [lines[0]] and lines[0].startswith(f"llp-gap-reco {args[0]}: error: ")
    assert expected in lines[0]


def test_every_subcommand_has_a_user_mistake_case():
    assert {a[0] for a, _ in USER_MISTAKES} == set(parsers.SUBCOMMANDS)


def test_debug_shows_the_traceback_of_a_user_mistake(work):
    for args in (["--debug", "predict"], ["predict", "--debug"]):
        proc = cli(*args, "--model", "nope.pt", "--data", "sim", "--out", "p.pq", cwd=work)
        assert proc.returncode == 2
        assert "Traceback" in proc.stderr and "UserError: --model nope.pt" in proc.stderr
        assert proc.stderr.strip().endswith(
            "llp-gap-reco predict: error: --model nope.pt: no such file"
        )


def test_unexpected_failure_keeps_its_traceback(work, monkeypatch):
    """Anything else than a user error (here: a RuntimeError inside predict) propagates."""
    import llp_gap_reco.cli.predict as predict

    def broken(*args, **kwargs):
        raise RuntimeError("an internal failure")

    monkeypatch.setattr(predict, "predict_folder", broken)
    with pytest.raises(RuntimeError, match="an internal failure"):
        main(
            [
                "predict",
                "--model",
                str(work / "flow.pt"),
                "--data",
                str(work / "sim"),
                "--out",
                str(work / "p.parquet"),
            ]
        )


def test_parser_constants_agree_with_the_package():
    assert parsers.SIMULATION_KINDS == tuple(KINDS)
    assert parsers.DEFAULT_EVENTS_PER_FILE == DEFAULT_EVENTS_PER_FILE
    assert parsers.CONVENTIONS == tuple(CONVENTIONS) and parsers.ORIGINAL_CONVENTION == ORIGINAL
    assert parsers.QUICKSTART_STEPS == quickstart.DEFAULT_STEPS
    assert parsers.ON_ERROR == ON_ERROR


MODULES = """
import json, sys
from llp_gap_reco.cli.main import main
code = None
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "torch": "torch" in sys.modules,
                  "modules": sorted(m for m in sys.modules if m.startswith("llp_gap_reco"))}))
"""


def _modules(*argv: str, cwd: pathlib.Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", MODULES, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_help_imports_no_implementation(work):
    for argv in (["--help"], *([name, "--help"] for name in parsers.SUBCOMMANDS)):
        got = _modules(*argv, cwd=work)
        assert got["code"] == 0 and not got["torch"], argv
        assert not [m for m in got["modules"] if m.startswith("llp_gap_reco.training")]
        assert not [
            m
            for m in got["modules"]
            if m.startswith("llp_gap_reco.cli.")
            and m.rsplit(".", 1)[1]
            not in ("main", "parsers", "parsers_model", "arguments", "errors")
        ], argv


def test_predict_through_the_cli_loads_no_training_code(work):
    got = _modules(
        "predict",
        "--model",
        "flow.pt",
        "--data",
        "sim",
        "--out",
        "pred.parquet",
        "--samples",
        "16",
        "--no-progress",
        cwd=work,
    )
    assert got["code"] == 0 and (work / "pred.parquet").exists()
    assert "llp_gap_reco.cli.predict" in got["modules"]
    assert [m for m in got["modules"] if m.startswith("llp_gap_reco.training")] == []
    assert "llp_gap_reco.cli.train" not in got["modules"]
