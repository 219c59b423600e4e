"""EuroSAT-layout data sources: a zip or a folder with ``<Class>/<image>`` members.

Pure Python + numpy + PIL (no torch), so the engine and UI may import it cheaply.

A *source* is either a ``.zip`` file (read in place with :mod:`zipfile`, never unpacked)
or a folder.  Members are located by the name of their parent directory, so
``EuroSAT_RGB/Forest/Forest_1.jpg``, ``Forest/Forest_1.jpg`` and
``anything/deeper/Forest/x.png`` all count as ``Forest``.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Optional

import numpy as np

from ..errors import ReadableError

EUROSAT_CLASSES: tuple[str, ...] = (
    "AnnualCrop",
    "Forest",
    "HerbaceousVegetation",
    "Highway",
    "Industrial",
    "Pasture",
    "PermanentCrop",
    "Residential",
    "River",
    "SeaLake",
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
SPLITS = ("train", "val", "test")

# Where the shared data lives relative to the repository root (the package folder).
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATASET = REPO_ROOT.parent / "shared" / "datasets" / "eurosat-rgb" / "EuroSAT_RGB.zip"


class DatasetError(ReadableError, ValueError):  # ValueError: callers of the earlier releases
    """A data source is missing, empty or not in the EuroSAT layout."""


def _iter_members(source: str | os.PathLike) -> Iterable[str]:
    path = Path(source)
    if not path.exists():
        raise DatasetError(f"data source not found: {path}")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise DatasetError(f"{path} is neither a folder nor a zip file")
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    yield info.filename
        return
    for dirpath, _dirnames, filenames in os.walk(path):
        for fname in filenames:
            yield Path(dirpath, fname).relative_to(path).as_posix()


def _images(source: str | os.PathLike) -> Iterable[tuple[str, str]]:
    """``(class folder, member)`` of every image of ``source`` (not hidden, not ``__MACOSX``)."""
    for member in _iter_members(source):
        p = PurePosixPath(member)
        if p.suffix.lower() not in IMAGE_SUFFIXES or p.name.startswith("."):
            continue
        if any(part.startswith("__MACOSX") for part in p.parts):
            continue
        if len(p.parts) >= 2:
            yield p.parts[-2], member


def training_classes(source: str | os.PathLike, classes: Optional[Sequence[str]] = None) -> list[str]:
    """The classes a training on ``source`` learns, in the order of the model's outputs: ``classes``
    when given (``train --classes``); else the ten EuroSAT classes when every class folder of
    ``source`` is a EuroSAT class (a subset too); else the class folders' names, sorted."""
    if classes:
        if len(set(classes)) != len(classes):
            raise DatasetError(f"--classes names a class twice: {', '.join(classes)}; give each name once")
        return list(classes)
    folders = sorted({cls for cls, _ in _images(source)})
    if not folders:
        raise DatasetError(f"no images in the EuroSAT layout (<Class>/<image>) found in {source}")
    return list(EUROSAT_CLASSES) if set(folders) <= set(EUROSAT_CLASSES) else folders


def list_eurosat(source: str | os.PathLike, classes: Sequence[str] = EUROSAT_CLASSES) -> dict[str, list[str]]:
    """Members of ``source`` per class, ``{class: sorted member list}``, classes in ``classes`` order.

    Only classes that have at least one image are returned.  Images in folders whose name
    is not a class are ignored (``__MACOSX`` and hidden files too).
    """
    wanted = {c: [] for c in classes}
    for cls, member in _images(source):
        if cls in wanted:
            wanted[cls].append(member)
    found = {c: sorted(m) for c, m in wanted.items() if m}
    if not found:
        raise DatasetError(
            f"no images in the EuroSAT layout (<Class>/<image>) found in {source}; "
            f"expected class folders among: {', '.join(classes)}"
        )
    return found


def _order_key(seed: int, member: str) -> str:
    # Independent of platform, Python hash seed and of the other members: adding a file
    # to a class never reshuffles the others.
    return hashlib.sha256(f"{seed}:{member}".encode()).hexdigest()


def _split_counts(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    _, f_val, f_test = fractions
    n_test = int(round(n * f_test))
    n_val = int(round(n * f_val))
    if n >= 3:  # every split gets at least one image of each class when possible
        n_test = max(n_test, 1 if f_test > 0 else 0)
        n_val = max(n_val, 1 if f_val > 0 else 0)
    n_test = min(n_test, n)
    n_val = min(n_val, n - n_test)
    return n - n_val - n_test, n_val, n_test


def stratified_split(
    source: str | os.PathLike | dict,
    seed: int = 42,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    classes: Sequence[str] = EUROSAT_CLASSES,
) -> dict[str, list[tuple[str, int]]]:
    """Deterministic stratified split ``{"train"|"val"|"test": [(member, class_index), ...]}``.

    Within each class the members are ordered by ``sha256(f"{seed}:{member}")`` and cut
    according to ``fractions`` (train, val, test).  Same seed and members -> same split on
    any machine.  ``class_index`` is the position in ``classes``.  ``source`` may also be
    the dict returned by :func:`list_eurosat`.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    listing = source if isinstance(source, dict) else list_eurosat(source, classes)
    index = {c: i for i, c in enumerate(classes)}
    out: dict[str, list[tuple[str, int]]] = {s: [] for s in SPLITS}
    for cls, members in listing.items():
        ordered = sorted(members, key=lambda m: _order_key(seed, m))
        n_train, n_val, _ = _split_counts(len(ordered), fractions)
        ci = index[cls]
        out["train"] += [(m, ci) for m in ordered[:n_train]]
        out["val"] += [(m, ci) for m in ordered[n_train : n_train + n_val]]
        out["test"] += [(m, ci) for m in ordered[n_train + n_val :]]
    for s in SPLITS:
        out[s].sort()
    return out


def split_fingerprint(split: dict[str, list[tuple[str, int]]], classes: Sequence[str] = EUROSAT_CLASSES) -> dict:
    """Counts per split and class, plus a sha256 of each split's sorted member list."""
    info = {}
    for name, items in split.items():
        members = sorted(m for m, _ in items)
        per_class = {c: 0 for c in classes}
        for _, ci in items:
            per_class[classes[ci]] += 1
        info[name] = {
            "count": len(items),
            "per_class": {c: n for c, n in per_class.items() if n},
            "members_sha256": hashlib.sha256("\n".join(members).encode()).hexdigest(),
        }
    return info


# --------------------------------------------------------------------------- reading images
_local = threading.local()


def _zip_handle(path: str) -> zipfile.ZipFile:
    """One open ZipFile per thread and process (ZipFile objects are not thread safe)."""
    cache = getattr(_local, "zips", None)
    if cache is None or getattr(_local, "pid", None) != os.getpid():
        cache = _local.zips = {}
        _local.pid = os.getpid()
    zf = cache.get(path)
    if zf is None:
        zf = cache[path] = zipfile.ZipFile(path)
    return zf


def read_bytes(source: str | os.PathLike, member: str) -> bytes:
    path = Path(source)
    if path.is_file():
        return _zip_handle(str(path.resolve())).read(member)
    return (path / member).read_bytes()


def read_rgb(source: str | os.PathLike, member: str, size: int | None = None) -> np.ndarray:
    """Decode one member as ``uint8`` array H x W x 3 (RGB).  ``size`` resizes if needed."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(read_bytes(source, member))) as im:
            im = im.convert("RGB")
            if size is not None and im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8).copy()
    except (OSError, KeyError) as exc:
        raise DatasetError(f"cannot read image {member!r} from {source}: {exc}") from exc


def load_arrays(
    source: str | os.PathLike,
    items: Sequence[tuple[str, int]],
    size: int = 64,
    threads: int | None = None,
    progress=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``items`` up front: images ``uint8`` N x 3 x size x size and labels ``int64`` N."""
    from concurrent.futures import ThreadPoolExecutor

    n = len(items)
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    labels = np.fromiter((ci for _, ci in items), dtype=np.int64, count=n)

    def work(i: int) -> None:
        images[i] = read_rgb(source, items[i][0], size).transpose(2, 0, 1)

    threads = threads or min(4, os.cpu_count() or 1)
    chunk = 2048
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for start in range(0, n, chunk):
            list(pool.map(work, range(start, min(n, start + chunk))))
            if progress is not None:
                progress(min(n, start + chunk), n)
    return images, labels
