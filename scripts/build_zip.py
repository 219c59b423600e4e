"""Build the installable plugin zip, dist/eurosat_landcover.<version>.zip, and a plugins.xml beside it.

The zip holds the plugin folder as `eurosat_landcover/` with its code, icons, metadata and the bundled
model; no tests, caches, virtual environment, sample data or developer files. plugins.xml makes the
output folder a custom QGIS plugin repository (Plugins > Manage and Install Plugins > Settings > Add):
serve the folder and pass its address as --repository-url (default: the folder's file:// URL).
The zip is named `<plugin>.<version>.zip` because QGIS takes a repository plugin's id from the zip's
name up to the first dot. (Why this script and not qgis-plugin-ci: docs/notes/install.md.)

    .venv/bin/python scripts/build_zip.py [--output DIR] [--repository-url URL]
"""

import argparse
import configparser
import datetime
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "eurosat_landcover"
EXCLUDED_DIRS = {"tests", "scripts", "docs", "benchmarks", "sample_data", "runs", "dist", "__pycache__", "shared"}
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


def metadata(root: Path = ROOT) -> dict:
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=(";", "#"), inline_comment_prefixes=None)
    parser.read(root / "metadata.txt", encoding="utf-8")
    return dict(parser["general"])


def version(root: Path = ROOT) -> str:
    return metadata(root)["version"]


def build(output_dir: Path) -> Path:
    """Write the zip under a temporary name, then rename it into place."""
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{PACKAGE}.{version()}.zip"
    with (
        tempfile.NamedTemporaryFile(dir=output_dir, prefix=".zip-", suffix=".tmp", delete=False) as tmp,
        zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for rel in plugin_files():
            archive.write(ROOT / rel, f"{PACKAGE}/{rel.as_posix()}")
    Path(tmp.name).replace(target)
    return target


def plugins_xml(zip_path: Path, repository_url: str) -> Path:
    """plugins.xml for a custom QGIS plugin repository that serves `zip_path` from `repository_url`."""
    meta = metadata()
    today = datetime.date.today().isoformat()
    root = ET.Element("plugins")
    plugin = ET.SubElement(root, "pyqgis_plugin", name=meta["name"], version=meta["version"])
    fields = {
        "description": meta["description"],
        "about": meta["about"],
        "version": meta["version"],
        "qgis_minimum_version": meta["qgisminimumversion"],
        "qgis_maximum_version": meta.get("qgismaximumversion", "3.99"),
        "homepage": meta["homepage"],
        "file_name": zip_path.name,
        "icon": meta["icon"],
        "author_name": meta["author"],
        "download_url": f"{repository_url.rstrip('/')}/{zip_path.name}",
        "uploaded_by": meta["author"],
        "create_date": today,
        "update_date": today,
        "experimental": meta.get("experimental", "False"),
        "deprecated": meta.get("deprecated", "False"),
        "tracker": meta["tracker"],
        "repository": meta["repository"],
        "tags": meta["tags"],
        "server": "False",
    }
    for key, value in fields.items():
        ET.SubElement(plugin, key).text = value
    ET.indent(root)
    target = zip_path.parent / "plugins.xml"
    tmp = target.with_suffix(".xml.tmp")
    ET.ElementTree(root).write(tmp, encoding="UTF-8", xml_declaration=True)
    tmp.replace(target)
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "dist", help="folder for the zip (default: dist/)")
    parser.add_argument("--repository-url", help="address the output folder is served from (default: its file:// URL)")
    args = parser.parse_args(argv)
    target = build(args.output)
    xml = plugins_xml(target, args.repository_url or args.output.resolve().as_uri())
    print(f"{target} ({target.stat().st_size / 1e6:.1f} MB)")
    print(xml)
    return 0


if __name__ == "__main__":
    sys.exit(main())
