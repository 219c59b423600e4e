"""The command line: JSON summary on stdout, progress on stderr, readable errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from engine_testlib import write_geotiff
from eurosat_landcover import cli

ROOT = Path(__file__).resolve().parents[2]


def test_classify_in_process(tmp_path, random_card, capsys):
    img = np.random.default_rng(0).integers(0, 255, (3, 128, 128), np.uint8)
    src = write_geotiff(tmp_path / "in.tif", img)
    rc = cli.main(
        [
            "classify",
            str(src),
            str(tmp_path / "out"),
            "--mode",
            "windows",
            "--model",
            str(random_card),
            "--stride",
            "64",
            "--batch-size",
            "4",
            "--device",
            "cpu",
            "--float-probabilities",
            "--bands",
            "1",
            "2",
            "3",
            "--fast-path",
            "on",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0
    summary = json.loads(out)
    assert summary["request"]["fast_path"] == "on" and summary["fast_path"]["path"] == "torchscript+onednn"
    assert summary["windows"]["classified"] == 4
    assert summary["request"]["probabilities_dtype"] == "float32"
    assert summary["band_mapping"]["bands"] == [1, 2, 3]
    assert "100.0%" in err and "[" in err
    assert (tmp_path / "out" / "in_summary.json").exists()


def test_error_is_one_line_exit_2(tmp_path, random_card, capsys):
    src = write_geotiff(tmp_path / "plain.tif", np.zeros((3, 128, 128), np.uint8), epsg=None)
    rc = cli.main(
        ["classify", str(src), str(tmp_path / "out"), "--mode", "windows", "--model", str(random_card), "--quiet"]
    )
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "no georeference" in lines[0]
    assert "Traceback" not in err


def test_bad_arguments_exit_2(capsys):
    try:
        cli.main(["classify", "a.tif"])
    except SystemExit as exc:  # argparse
        assert exc.code == 2
    assert "usage" in capsys.readouterr().err


def test_python_dash_m_entry_point(tmp_path, random_card):
    src = write_geotiff(tmp_path / "in.tif", np.full((3, 64, 64), 90, np.uint8))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "eurosat_landcover",
            "classify",
            str(src),
            str(tmp_path / "o"),
            "--mode",
            "windows",
            "--model",
            str(random_card),
            "--stride",
            "64",
            "--device",
            "cuda",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["windows"]["classified"] == 1
    import torch

    if not torch.cuda.is_available():
        assert "warning: CUDA is not available" in p.stderr
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "eurosat_landcover",
            "classify",
            str(tmp_path / "missing.tif"),
            str(tmp_path / "o2"),
            "--mode",
            "windows",
            "--model",
            str(random_card),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines()[-1] == f"error: the input raster {tmp_path / 'missing.tif'} does not exist"


EVERY_COMMAND = {"classify", "classify-many", "export", "predict", "train", "evaluate", "compare", "finetune"}


def test_every_subcommand_module_is_registered_and_listed_by_help(tmp_path):
    from eurosat_landcover.cli import app

    assert set(app.load_commands()) == EVERY_COMMAND
    p = subprocess.run(
        [sys.executable, "-m", "eurosat_landcover", "--help"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert p.returncode == 0, p.stderr
    assert all(name in p.stdout for name in EVERY_COMMAND)


def test_a_broken_subcommand_module_stops_the_cli_loudly(tmp_path, monkeypatch):
    """A subcommand module that cannot be imported raises its error: the CLI does not start without it."""
    from eurosat_landcover.cli import app

    (tmp_path / "broken_subcommand.py").write_text("import no_such_package_xyz\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(app, "COMMAND_MODULES", (*app.COMMAND_MODULES, "broken_subcommand"))
    with pytest.raises(ModuleNotFoundError, match="no_such_package_xyz"):
        cli.main(["classify", "--help"])


def test_a_subcommand_module_without_commands_or_with_a_taken_name_is_refused(tmp_path, monkeypatch):
    from eurosat_landcover.cli import app

    (tmp_path / "empty_subcommand.py").write_text("COMMANDS = ()\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RuntimeError, match="lists no COMMANDS"):
        app.load_commands((".classify", "empty_subcommand"))
    with pytest.raises(RuntimeError, match="'classify' is defined twice"):
        app.load_commands((".classify", ".classify"))


def test_any_readable_error_is_its_one_line_exit_2(tmp_path, capsys):
    """A ReadableError that is not the engine's (here the model loader's) prints as it is: no type name."""
    missing = tmp_path / "missing_card.json"
    assert cli.main(["evaluate", str(tmp_path), "--model", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == f"error: model card not found: {missing}"
