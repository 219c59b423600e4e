"""Issue 25 item 13: the README's main command run twice skips, as the README says (no exit 2)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_second_run_skips_and_prints_the_summary(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "run_main.sh", tmp_path / "scripts" / "run_main.sh")
    out = tmp_path / "runs" / "sample"
    out.mkdir(parents=True)
    (out / "eurosat_mosaic_rgb_summary.json").write_text('{"windows": 1305}\n')
    # no scripts/setup.sh and no .venv here: a run that tried to classify again would fail
    res = subprocess.run(["bash", str(tmp_path / "scripts" / "run_main.sh")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout == '{"windows": 1305}\n'
    assert "skipped; add --overwrite to classify again" in res.stderr
    res = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "run_main.sh"), "--overwrite"], capture_output=True, text=True
    )
    assert res.returncode != 0 and "setup.sh" in res.stderr, "--overwrite classifies again (set-up first)"
