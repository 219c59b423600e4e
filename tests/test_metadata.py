"""metadata.txt is valid for plugins.qgis.org and the version lives only there."""

import configparser
import re

REQUIRED = [
    "name",
    "qgisMinimumVersion",
    "description",
    "about",
    "version",
    "author",
    "email",
    "tags",
    "homepage",
    "tracker",
    "repository",
    "category",
    "icon",
    "experimental",
    "hasProcessingProvider",
]


def _metadata(repo_root):
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive for the plugin repository
    assert parser.read(repo_root / "metadata.txt", encoding="utf-8")
    return parser["general"]


def test_required_keys_present_and_non_empty(repo_root):
    meta = _metadata(repo_root)
    for key in REQUIRED:
        assert meta.get(key, "").strip(), f"metadata.txt lacks {key}"


def test_values_are_well_formed(repo_root):
    meta = _metadata(repo_root)
    assert meta["qgisMinimumVersion"] == "3.22"
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["version"])
    assert meta["category"] == "Raster"
    assert meta["experimental"] in {"True", "False"}
    assert meta["hasProcessingProvider"] in {"yes", "no"}
    assert (repo_root / meta["icon"]).is_file()
    assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", meta["email"])


def test_version_has_one_source(repo_root):
    from eurosat_landcover.__about__ import __version__

    assert __version__ == _metadata(repo_root)["version"]


def test_resources_qrc_lists_existing_files(repo_root):
    text = (repo_root / "resources.qrc").read_text(encoding="utf-8")
    files = re.findall(r"<file>([^<]+)</file>", text)
    assert files and all((repo_root / f).is_file() for f in files)
