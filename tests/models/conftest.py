"""Fixtures for the models tests: tiny EuroSAT-layout folders/zips cut from the shared zip."""

import os
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# EUROSAT_DATASETS as in tests/conftest.py (a worktree has no ../shared)
SHARED_ZIP = (
    Path(os.environ.get("EUROSAT_DATASETS", REPO_ROOT.parent / "shared" / "datasets"))
    / "eurosat-rgb"
    / "EuroSAT_RGB.zip"
)


def _require_zip() -> Path:
    if not SHARED_ZIP.is_file():
        pytest.skip(f"shared EuroSAT RGB zip not found at {SHARED_ZIP} (../shared/datasets from the repo root)")
    return SHARED_ZIP


def _members(per_class: int) -> dict:
    with zipfile.ZipFile(_require_zip()) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".jpg"))
    out = {}
    for n in names:
        cls = n.split("/")[-2]
        if len(out.setdefault(cls, [])) < per_class:
            out[cls].append(n)
    return out


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory) -> Path:
    """EuroSAT layout folder with 6 real images per class."""
    root = tmp_path_factory.mktemp("tiny") / "EuroSAT_RGB"
    with zipfile.ZipFile(_require_zip()) as zf:
        for cls, names in _members(6).items():
            (root / cls).mkdir(parents=True)
            for n in names:
                (root / cls / Path(n).name).write_bytes(zf.read(n))
    return root


@pytest.fixture(scope="session")
def tiny_zip(tmp_path_factory, tiny_folder) -> Path:
    """The same images as ``tiny_folder`` in a zip (stored, EuroSAT_RGB/<Class>/<file>)."""
    path = tmp_path_factory.mktemp("tinyzip") / "tiny.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(tiny_folder.rglob("*.jpg")):
            zf.write(f, f"EuroSAT_RGB/{f.parent.name}/{f.name}")
    return path
