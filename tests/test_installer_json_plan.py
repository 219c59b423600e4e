"""The Setup page's plan from the index's JSON API, downloading no package (toolbelt/index_plan.py).

A fake index in a temporary folder (no network): ``pypi/<name>/json`` as PyPI's JSON API writes it (releases with
files, sizes, sha256; the newest release's requires_dist), real wheels beside it, and ``simple/`` pages for pip.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest
from eurosat_landcover.toolbelt import index_plan, installer
from eurosat_landcover.toolbelt.index_plan import JsonPlanUnavailable, plan_from_json, wheel_requires

TAGS = None  # this Python's


def _wheel(folder: Path, name: str, version: str, requires=(), padding: int = 0) -> dict:
    """A real (installable) pure-Python wheel; returns its JSON API file entry."""
    dist = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{dist}-py3-none-any.whl"
    meta = "".join(
        [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"] + [f"Requires-Dist: {r}\n" for r in requires]
    )
    files = {
        f"{name.replace('-', '_')}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}.dist-info/METADATA": meta,
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    if padding:
        files[f"{name.replace('-', '_')}/blob.bin"] = os.urandom(padding)
    records = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in files.items():
            raw = data.encode() if isinstance(data, str) else data
            z.writestr(arc, raw)
            records.append(f"{arc},,")
        z.writestr(f"{dist}.dist-info/RECORD", "\n".join([*records, f"{dist}.dist-info/RECORD,,"]) + "\n")
    data = path.read_bytes()
    return {
        "filename": path.name,
        "url": path.as_uri(),
        "size": len(data),
        "digests": {"sha256": hashlib.sha256(data).hexdigest()},
        "requires_python": ">=3.8",
        "yanked": False,
    }


def _index(root: Path, projects: dict) -> str:
    """projects: {name: {version: requires}}; the newest version's requires go to info.requires_dist."""
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    for name, releases in projects.items():
        entries = {v: [_wheel(files, name, v, req)] for v, req in releases.items()}
        newest = max(releases, key=lambda v: tuple(int(x) for x in v.split(".")))
        api = root / "pypi" / name / "json"
        api.parent.mkdir(parents=True, exist_ok=True)
        info = {"name": name, "version": newest, "requires_dist": releases[newest] or None}
        api.write_text(json.dumps({"info": info, "releases": entries}), encoding="utf-8")
        simple = root / "simple" / name
        simple.mkdir(parents=True, exist_ok=True)
        links = "".join(
            f'<a href="{f["url"]}#sha256={f["digests"]["sha256"]}">{f["filename"]}</a>\n'
            for fs in entries.values()
            for f in fs
        )
        (simple / "index.html").write_text(f"<html><body>\n{links}</body></html>\n", encoding="utf-8")
    return (root / "simple").as_uri()


PROJECTS = {
    "demo-app": {"1.0.0": ["demo-lib>=1.0"], "2.0.0": ["demo-lib>=2.0", "demo-extra; extra == 'more'"]},
    "demo-lib": {"1.5.0": [], "2.1.0": ["demo-win; sys_platform == 'win32'"], "3.0.0": []},
    "demo-extra": {"0.1.0": []},
    "demo-win": {"1.0.0": []},
}


def _fetch(tmp_path):
    index_url = _index(tmp_path / "index", PROJECTS)
    return index_plan.fetcher(index_plan.json_root(index_url)), index_url


def test_newest_fitting_releases_and_their_dependencies_nothing_downloaded(tmp_path):
    fetch, _ = _fetch(tmp_path)
    found = plan_from_json(["demo-app[more]", "demo-lib<3"], {}, {}, fetch)
    by_name = {name: (version, url, size, requested) for name, version, url, size, requested in found}
    assert set(by_name) == {"demo-app", "demo-lib", "demo-extra"}  # demo-win only on Windows
    assert by_name["demo-app"][0] == "2.0.0" and by_name["demo-lib"][0] == "2.1.0"  # <3 from the line
    for _v, url, size, _r in by_name.values():
        path = Path(url.split("#")[0].removeprefix("file://"))
        assert size == path.stat().st_size and url.endswith(hashlib.sha256(path.read_bytes()).hexdigest())
    assert by_name["demo-app"][3] and not by_name["demo-extra"][3]  # requested vs pulled in


def test_what_is_there_or_pinned_is_kept(tmp_path):
    fetch, _ = _fetch(tmp_path)
    found = plan_from_json(["demo-app"], {}, {"demo-lib": ("demo-lib", "2.5")}, fetch)
    assert [f[0] for f in found] == ["demo-app"]  # demo-lib 2.5 meets >=2.0: only-if-needed
    # QGIS pins demo-lib 1.5.0 and demo-app 2.0.0 needs demo-lib>=2.0: the older demo-app 1.0.0 (needs >=1.0), as
    # pip's backtracking finds it (Debian's QGIS pins idna 3.3, which the newest httpx2 does not accept)
    found = plan_from_json(["demo-app"], {"demo-lib": "1.5.0"}, {}, fetch)
    assert [(f[0], f[1]) for f in found] == [("demo-app", "1.0.0")]
    with pytest.raises(JsonPlanUnavailable, match=r"no release of demo-app accepts QGIS's versions"):
        plan_from_json(["demo-app>=2"], {"demo-lib": "1.5.0"}, {}, fetch)


def test_an_older_release_reads_its_dependencies_from_the_wheel(tmp_path):
    """The index serves no <name>/<version>/json (this machine's PyPI mirror): demo-app 1.0.0's requirements come
    from its wheel's METADATA."""
    fetch, _ = _fetch(tmp_path)
    found = plan_from_json(["demo-app<2"], {}, {}, fetch)
    assert {f[0]: f[1] for f in found} == {"demo-app": "1.0.0", "demo-lib": "3.0.0"}


def test_the_wheel_metadata_is_read_with_a_few_ranges(tmp_path):
    entry = _wheel(tmp_path, "big-one", "1.0", ["torchish>=2"], padding=3_000_000)
    data = Path(entry["url"].removeprefix("file://")).read_bytes()
    read = []

    def read_range(start, end):
        read.append(end - start + 1)
        return data[start : end + 1]

    assert wheel_requires(read_range, len(data)) == ["torchish>=2"]
    assert sum(read) < len(data) / 20, (sum(read), len(data))


@pytest.mark.parametrize(
    "kwargs, why",
    [
        ({"options": ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]}, "another index"),
        ({"other_sources": ["global.find-links=/opt/wheels"]}, "more sources"),
    ],
)
def test_unsure_plans_are_left_to_pip(tmp_path, kwargs, why):
    fetch, _ = _fetch(tmp_path)
    with pytest.raises(JsonPlanUnavailable, match=why):
        plan_from_json(["demo-app"], {}, {}, fetch, **kwargs)
    with pytest.raises(JsonPlanUnavailable, match="conflicts"):
        plan_from_json(["demo-app", "demo-lib==2.1.0", "demo-lib<2"], {}, {}, fetch)
    with pytest.raises(JsonPlanUnavailable, match="did not answer"):
        plan_from_json(["no-such-project"], {}, {}, fetch)


@pytest.fixture
def no_pip_config(monkeypatch):
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_CONSTRAINT"):
        monkeypatch.delenv(name, raising=False)


def test_make_plan_uses_the_json_api_and_says_so(tmp_path, no_pip_config):
    index_url = _fetch(tmp_path)[1]
    lines = []
    plan = installer.make_plan(["demo-app"], target=tmp_path / "deps", index_url=index_url, on_line=lines.append)
    assert {p.name: p.version for p in plan.packages} == {"demo-app": "2.0.0", "demo-lib": "3.0.0"}
    assert all(p.size and "#sha256=" in p.url for p in plan.packages)
    assert "JSON API: nothing has been downloaded yet" in plan.describe()
    assert not any("pip" in line and "--dry-run" in line for line in lines), lines  # pip's resolver never ran
    assert installer.install(plan) == ["demo-app 2.0.0", "demo-lib 3.0.0"]  # the plan's files install as they are
    assert (tmp_path / "deps" / "demo_app" / "__init__.py").read_text() == "VERSION = '2.0.0'\n"


def test_make_plan_falls_back_to_pip_with_a_note(tmp_path, no_pip_config):
    """No JSON API beside the simple index (a plain folder index): pip's dry run plans, and the plan says why."""
    index_url = _fetch(tmp_path)[1]
    for api in (tmp_path / "index" / "pypi").glob("*/json"):
        api.unlink()
    plan = installer.make_plan(["demo-app"], target=tmp_path / "deps", index_url=index_url)
    assert {p.name: p.version for p in plan.packages} == {"demo-app": "2.0.0", "demo-lib": "3.0.0"}
    assert "Worked out by pip's resolver, because the index's JSON API could not be used" in plan.describe()
    assert "did not answer with JSON" in plan.describe()
