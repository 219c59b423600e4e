"""Work out an install plan from the package index's JSON API, downloading no package (no Qt, no torch).

pip's resolver (``pip install --dry-run``) reads every candidate's metadata; where the index does not serve the
metadata on its own (PEP 658) and pip is older than 23.3 (Debian 12 has 23.0.1), pip downloads the packages
themselves to read it: 906.5 MB for torch 2.5.1 alone. The JSON API (``<index root>/pypi/<name>/json``, PyPI's and
its mirrors') gives each project's releases with their files (URL, size, sha256) and its newest release's
``requires_dist``; ``<root>/pypi/<name>/<version>/json`` gives an older release's, where the index serves it.

:func:`plan_from_json` picks, for every requirement, the newest release that fits every specifier met so far, the
versions QGIS pins and this Python, with a wheel for this platform, and follows its dependencies (markers and
extras evaluated for this Python). It never backtracks: it raises :class:`JsonPlanUnavailable` (why, in a few
words) as soon as it is unsure (no JSON API, a release whose dependencies the API does not give, a conflict,
no wheel, pip configured with other sources), and ``make_plan`` falls back to pip's dry run and says so.
"""

from __future__ import annotations

import email.parser
import io
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable, Optional

from .package_index import _file_path, _open, pip_config

try:  # Debian's python3-packaging; else the copy pip carries (pip is needed to install anyway)
    from packaging.markers import default_environment
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.tags import sys_tags
    from packaging.utils import canonicalize_name, parse_wheel_filename
    from packaging.version import InvalidVersion, Version
except ImportError:  # pragma: no cover (depends on the Python running QGIS)
    from pip._vendor.packaging.markers import default_environment
    from pip._vendor.packaging.requirements import InvalidRequirement, Requirement
    from pip._vendor.packaging.specifiers import InvalidSpecifier, SpecifierSet
    from pip._vendor.packaging.tags import sys_tags
    from pip._vendor.packaging.utils import canonicalize_name, parse_wheel_filename
    from pip._vendor.packaging.version import InvalidVersion, Version

MAX_OLDER = 40  # older releases looked at for one that accepts QGIS's pinned versions
OTHER_SOURCES = ("find-links", "extra-index-url")  # pip settings that add files the JSON API does not list


class JsonPlanUnavailable(Exception):
    """The JSON API cannot give a sure plan; the message says why in a few words."""


def pip_sources(python: str) -> list:
    """pip's find-links / extra-index-url settings (environment or configuration files), as ``key=value``."""
    found = [f"{k}={v}" for k, v in os.environ.items() if k in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL") and v]
    for key, value in pip_config(python):
        if key.rsplit(".", 1)[-1] in OTHER_SOURCES and not key.startswith(":env:"):
            found.append(f"{key}={value}")
    return found


def json_root(index_url: str) -> str:
    """``https://pypi.org/simple`` -> ``https://pypi.org/pypi`` (the JSON API beside a simple index)."""
    root = index_url.rstrip("/")
    if root.endswith("/simple"):
        root = root[: -len("/simple")]
    return root + "/pypi"


def fetcher(root: str, proxy: Optional[str] = None, timeout: float = 20.0) -> Callable:
    """``fetch(name, version=None) -> dict`` reading ``root/<name>[/<version>]/json`` (http(s) or file)."""

    def wheel_metadata(url: str, size: Optional[int]) -> list:
        if url.startswith("file:"):
            path = _file_path(url.split("#", 1)[0])
            return wheel_requires(lambda a, b: _read_file(path, a, b), path.stat().st_size)

        def read_range(start: int, end: int) -> bytes:
            request = urllib.request.Request(url.split("#", 1)[0], headers={"Range": f"bytes={start}-{end}"})
            with _open(request, timeout, proxy) as r:
                if r.status != 206:
                    raise OSError(f"the server does not answer range requests (HTTP {r.status})")
                return r.read()

        if not size:
            raise OSError("the index gives no file size")
        return wheel_requires(read_range, size)

    def fetch(name: str, version: Optional[str] = None) -> dict:
        url = f"{root}/{name}/{version + '/' if version else ''}json"
        try:
            if url.startswith("file:"):
                data = json.loads(_file_path(url).read_text(encoding="utf-8"))
            else:
                with _open(urllib.request.Request(url, headers={"Accept": "application/json"}), timeout, proxy) as r:
                    data = json.loads(r.read().decode("utf-8"))
            return {**data, "_url": url}  # file URLs may be relative to it (mirrors)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise JsonPlanUnavailable(f"{url} did not answer with JSON ({getattr(exc, 'reason', exc)})") from None

    fetch.wheel_metadata = wheel_metadata
    return fetch


def _read_file(path: Path, start: int, end: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(end - start + 1)


def plan_from_json(
    lines: list,
    pinned: dict,
    installed: dict,
    fetch: Callable,
    options: list = (),
    other_sources: list = (),
    tags=None,
    env=None,
) -> list:
    """The files to download for ``lines``, as ``(name, version, url#sha256=…, size, requested)`` tuples.

    Args:
        lines: pip requirement lines.
        pinned: {name: version} QGIS provides and pip must keep (a requirement on one is met by it or refused).
        installed: {normalized name: (name, version)} already importable (a requirement they meet is skipped,
            as pip's ``--upgrade-strategy only-if-needed``).
        fetch: ``fetch(name, version=None) -> dict`` (:func:`fetcher`).
        options: pip's index options for this install (an extra index, PyTorch's, makes the plan pip's).
        other_sources: pip's other configured sources (:func:`pip_sources`), which make the plan pip's too.
        tags, env: the platform's wheel tags (best first) and marker environment (default: this Python's).
    Raises:
        JsonPlanUnavailable: the JSON API cannot give a sure plan.
    """
    extra = [options[i + 1] for i, o in enumerate(options[:-1]) if o == "--extra-index-url"]
    if extra:
        raise JsonPlanUnavailable(f"pip is given another index ({' '.join(extra)}), which has no JSON API")
    if other_sources:
        raise JsonPlanUnavailable(f"pip is configured with more sources ({', '.join(other_sources)})")
    tags = list(tags if tags is not None else sys_tags())
    env = dict(env if env is not None else default_environment())
    pins = {canonicalize_name(n): v for n, v in pinned.items()}
    chosen: dict = {}  # key -> {"version", "deps", "extras", "entry"}
    specs: dict = {}
    queue = [(_requirement(line), True) for line in lines]
    while queue:
        req, requested = queue.pop(0)
        key = canonicalize_name(req.name)
        specs[key] = specs[key] & req.specifier if key in specs else req.specifier
        have = pins.get(key) or (installed.get(key, (None, None))[1] if key not in chosen else None)
        if have is not None and _fits(have, specs[key]):
            continue
        if key in pins:
            raise JsonPlanUnavailable(f"{req} needs another version of {req.name} than QGIS's {pins[key]}")
        if key in chosen:
            pick = chosen[key]
            if not _fits(pick["version"], specs[key]):
                raise JsonPlanUnavailable(f"{req} conflicts with {req.name} {pick['version']} chosen before")
            new = set(req.extras) - pick["extras"]
            pick["extras"] |= new
            queue += [(d, False) for d in _deps(pick["deps"], env, new, base=False)]
            pick["entry"][4] = pick["entry"][4] or requested
            continue
        version, entry, deps = _choose(req.name, specs[key], fetch, tags, env, pins, set(req.extras))
        entry = [entry[0], version, entry[1], entry[2], requested]
        chosen[key] = {"version": version, "deps": deps, "extras": set(req.extras), "entry": entry}
        queue += [(d, False) for d in _deps(deps, env, set(req.extras), base=True)]
    return [tuple(c["entry"]) for c in chosen.values()]


def _requirement(line: str) -> Requirement:
    try:
        return Requirement(line)
    except InvalidRequirement as exc:
        raise JsonPlanUnavailable(f"cannot read the requirement {line!r} ({exc})") from None


def _fits(version: str, spec) -> bool:
    try:
        return spec.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def _deps(requires: list, env: dict, extras: set, base: bool) -> list:
    """The requirements of ``requires`` that apply here: without an extra (when ``base``) or for ``extras``."""
    out = []
    for line in requires or []:
        req = _requirement(line)
        if req.marker is None:
            applies = base
        else:
            applies = (base and req.marker.evaluate({**env, "extra": ""})) or any(
                req.marker.evaluate({**env, "extra": e}) for e in extras
            )
        if applies:
            out.append(Requirement(str(req).split(";")[0]))
    return out


def _choose(name: str, spec, fetch: Callable, tags: list, env: dict, pins: dict, extras: set):
    """(version, (name, url#sha256, size), requires_dist) of the newest fitting release with a wheel here whose
    requirements accept the versions QGIS pins (an older release where the newest asks for a newer pinned
    package, as pip's backtracking would find; at most ``MAX_OLDER`` releases are looked at that way)."""
    data = fetch(name)
    info = data.get("info") or {}
    rank = {t: i for i, t in enumerate(tags)}
    python = Version(env["python_full_version"].rstrip("+"))
    candidates = []
    for text, files in (data.get("releases") or {}).items():
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        if spec.contains(version):  # pre-releases only where a specifier names one, as pip
            candidates.append((version, text, files))
    clashes = []
    for _version, text, files in sorted(candidates, key=lambda c: c[0], reverse=True):
        best = _best_wheel(files, rank, python)
        if best is None:
            continue
        if len(clashes) > MAX_OLDER:
            break
        f = {**best, "url": urllib.parse.urljoin(data.get("_url", ""), best["url"])}
        latest = text == info.get("version")
        requires = info.get("requires_dist") if latest else _older_requires(fetch, name, text, f)
        clash = _pin_clash(requires or [], env, extras, pins)
        if clash:
            clashes.append(f"{name} {text}: {clash}")
            continue
        digest = (f.get("digests") or {}).get("sha256")
        if not digest:
            raise JsonPlanUnavailable(f"the index gives no sha256 for {f['filename']}")
        return text, (info.get("name") or name, f"{f['url']}#sha256={digest}", f.get("size")), requires or []
    if clashes:
        raise JsonPlanUnavailable(f"no release of {name} accepts QGIS's versions ({clashes[0]}, ...)")
    raise JsonPlanUnavailable(f"no release of {name} matching {spec or 'any'} has a wheel for this Python")


def _pin_clash(requires: list, env: dict, extras: set, pins: dict) -> str:
    """The first of ``requires`` (applying here) that a version QGIS pins does not meet, as text; "" if none."""
    for dep in _deps(requires, env, set(extras), base=True):
        have = pins.get(canonicalize_name(dep.name))
        if have is not None and not _fits(have, dep.specifier):
            return f"needs {dep}, QGIS has {have}"
    return ""


def _older_requires(fetch: Callable, name: str, version: str, wheel: dict) -> list:
    """An older release's requires_dist: from ``<root>/<name>/<version>/json``, else read from the wheel's METADATA
    with HTTP range requests (its zip directory and that one member: kB, not the wheel)."""
    try:
        return (fetch(name, version).get("info") or {}).get("requires_dist") or []
    except JsonPlanUnavailable as exc:
        reader = getattr(fetch, "wheel_metadata", None)
        if reader is None:
            raise
        try:
            return reader(wheel["url"], wheel.get("size"))
        except (OSError, ValueError, zipfile.BadZipFile, KeyError) as why:
            raise JsonPlanUnavailable(f"{exc}; reading {wheel['filename']}'s metadata failed ({why})") from None


def wheel_requires(read_range: Callable, size: int) -> list:
    """Requires-Dist of a wheel of ``size`` bytes, read through ``read_range(start, end) -> bytes`` (end
    inclusive): zipfile seeks to the directory at the end and to the METADATA member only."""
    with zipfile.ZipFile(_RangeFile(read_range, size)) as wheel:
        name = next(n for n in wheel.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        text = wheel.read(name).decode("utf-8")
    return [v for k, v in email.parser.Parser().parsestr(text, headersonly=True).items() if k == "Requires-Dist"]


class _RangeFile(io.RawIOBase):
    """A read-only, seekable file over ``read_range`` (reads in blocks of at least 64 kB, kept)."""

    def __init__(self, read_range: Callable, size: int, block: int = 65536):
        self.read_range, self.size, self.block, self.pos, self.cache = read_range, int(size), block, 0, {}

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = [offset, self.pos + offset, self.size + offset][whence]
        return self.pos

    def readinto(self, buffer) -> int:
        end = min(self.pos + len(buffer), self.size)
        if end <= self.pos:
            return 0
        data = b"".join(self._block(b) for b in range(self.pos // self.block, (end - 1) // self.block + 1))
        start = self.pos - (self.pos // self.block) * self.block
        chunk = data[start : start + end - self.pos]
        buffer[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)

    def _block(self, index: int) -> bytes:
        if index not in self.cache:
            start = index * self.block
            self.cache[index] = self.read_range(start, min(start + self.block, self.size) - 1)
        return self.cache[index]


def _best_wheel(files: list, rank: dict, python: Version):
    best, best_rank = None, None
    for f in files or []:
        if f.get("yanked") or not f.get("filename", "").endswith(".whl"):
            continue
        needs = f.get("requires_python")
        try:
            if needs and not SpecifierSet(needs).contains(python, prereleases=True):
                continue
        except InvalidSpecifier:
            continue
        try:
            wheel_tags = parse_wheel_filename(f["filename"])[3]
        except Exception:  # an odd file name: not a candidate
            continue
        ranks = [rank[t] for t in wheel_tags if t in rank]
        if ranks and (best_rank is None or min(ranks) < best_rank):
            best, best_rank = f, min(ranks)
    return best


def installed_in(folder: Path) -> dict:
    """{normalized name: (name, version)} of the distributions in ``folder`` (the plugin's own)."""
    from importlib import metadata

    found = {}
    if Path(folder).is_dir():
        for dist in metadata.distributions(path=[str(folder)]):
            name = dist.metadata["Name"]
            if name:
                found.setdefault(canonicalize_name(name), (name, dist.version))
    return found
