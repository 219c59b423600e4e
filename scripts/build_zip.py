"""Build the installable plugin zip: dist/eurosat_landcover-<version>.zip.

Holds the plugin folder as `eurosat_landcover/` with its code, icons, metadata and the bundled
model; no tests, caches, virtual environment, sample data or developer files.

    .venv/bin/python scripts/build_zip.py [--output DIR]
"""

import argparse
import configparser
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "eurosat_landcover"
EXCLUDED_DIRS = {"tests", "scripts", "docs", "benchmarks", "sample_data", "runs", "dist", "__pycache__"}
EXCLUDED_FILES = {"pyproject.toml", "requirements.txt", "constraints.txt"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo", ".log", ".aux.xml"}


def plugin_files(root: Path = ROOT):
    """Relative paths of the files that belong in the zip, sorted."""
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or any(p.startswith(".") or p in EXCLUDED_DIRS for p in rel.parts):
            continue
        if rel.name in EXCLUDED_FILES or any(rel.name.endswith(s) for s in EXCLUDED_SUFFIXES):
            continue
        yield rel


def version(root: Path = ROOT) -> str:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(root / "metadata.txt", encoding="utf-8")
    return parser["general"]["version"]


def build(output_dir: Path) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{PACKAGE}-{version()}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel in plugin_files():
            archive.write(ROOT / rel, f"{PACKAGE}/{rel.as_posix()}")
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "dist", help="folder for the zip (default: dist/)")
    target = build(parser.parse_args(argv).output)
    print(f"{target} ({target.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
