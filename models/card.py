"""Model card: everything needed to use a checkpoint, stored as JSON next to the weights.

No torch import here, so the UI can read cards (class names, colours, bands) cheaply.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ReadableError

CARD_FORMAT_VERSION = 1
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")

# Colours chosen to read as land cover (water blue, vegetation green, crops yellow/orange,
# built-up red/grey).
EUROSAT_COLORS: dict[str, str] = {
    "AnnualCrop": "#e6d93b",  # yellow
    "Forest": "#1b5e20",  # dark green
    "HerbaceousVegetation": "#8bc34a",  # light green
    "Highway": "#424242",  # dark grey
    "Industrial": "#8e7f96",  # purple-grey
    "Pasture": "#c5e17a",  # pale yellow-green
    "PermanentCrop": "#f39c12",  # orange
    "Residential": "#d32f2f",  # red
    "River": "#4fa3e0",  # lighter blue
    "SeaLake": "#0d3b8c",  # deep blue
}
# Colours for the classes of a class set of one's own (names that are not EuroSAT's), in turn.
OTHER_COLORS: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip

EUROSAT_CITATION = (
    "Helber, P., Bischke, B., Dengel, A., Borth, D. (2019). EuroSAT: A Novel Dataset and Deep "
    "Learning Benchmark for Land Use and Land Cover Classification. IEEE Journal of Selected "
    "Topics in Applied Earth Observations and Remote Sensing, 12(7), 2217-2226."
)

REQUIRED_KEYS = ("name", "architecture", "weights", "weights_sha256", "classes", "bands", "mean", "std")


MIN_GSD_M, MAX_GSD_M = 0.01, 10000.0  # 1 cm (drones) to 10 km per pixel


class ModelCardError(ReadableError, ValueError):  # ValueError: callers of the earlier releases
    """The card is missing, not JSON, or fails validation."""


@dataclass
class ClassInfo:
    name: str
    color: str  # "#rrggbb"


@dataclass
class ModelCard:
    name: str
    title: str
    architecture: str
    weights: str  # file name relative to the card
    weights_sha256: str
    classes: list[ClassInfo]
    bands: list[str]  # Sentinel-2 band names in model input order
    band_roles: list[str]
    mean: list[float]  # 0-255 input scale, per band
    std: list[float]
    patch_size: int = 64
    gsd_m: float = 10.0
    sentinel2_dn_divisor: float = 2750.0  # DN / divisor * 255, clipped 0..255 -> input scale
    # the analyst's imagery -> the network's look, before the normalisation (models/input_calibration.py); {}: none
    input_calibration: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    description: str = ""
    license: str = ""
    citation: str = EUROSAT_CITATION
    format_version: int = CARD_FORMAT_VERSION
    path: Path | None = field(default=None, compare=False)

    # ------------------------------------------------------------------ properties
    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def class_colors(self) -> list[str]:
        return [c.color for c in self.classes]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def weights_path(self) -> Path:
        base = self.path.parent if self.path is not None else Path.cwd()
        return base / self.weights

    # ------------------------------------------------------------------ validation
    def validate(self) -> ModelCard:
        where = f" in {self.path}" if self.path else ""

        def fail(msg: str):
            raise ModelCardError(f"invalid model card{where}: {msg}")

        for key in ("name", "architecture", "weights"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key).strip():
                fail(f"{key!r} must be a non-empty string")
        if Path(self.weights).name != self.weights:
            fail(f"'weights' must be a file name next to the card, got {self.weights!r}")
        if self.weights_sha256 and not re.fullmatch(r"[0-9a-f]{64}", str(self.weights_sha256)):
            fail("'weights_sha256' must be 64 lower-case hex digits")
        if not self.classes:
            fail("'classes' is empty")
        seen = set()
        for i, c in enumerate(self.classes):
            if not isinstance(c, ClassInfo):
                fail(f"class #{i} is not a ClassInfo")
            if not isinstance(c.name, str) or not c.name.strip():
                fail(f"class #{i} has no name")
            if c.name in seen:
                fail(f"class name {c.name!r} appears twice")
            seen.add(c.name)
            if not isinstance(c.color, str) or not _COLOR_RE.match(c.color):
                fail(f"class {c.name!r} colour must be '#rrggbb', got {c.color!r}")
        if not isinstance(self.bands, list) or not self.bands or not all(isinstance(b, str) and b for b in self.bands):
            fail("'bands' must be a non-empty list of band names")
        nb = len(self.bands)
        if len(set(self.bands)) != nb:
            fail(f"'bands' names a band twice: {self.bands!r}")
        for key in ("title", "description", "license", "citation"):
            if getattr(self, key, None) is not None and not isinstance(getattr(self, key), str):
                fail(f"{key!r} must be text, got {type(getattr(self, key)).__name__}")
        roles = self.band_roles
        if roles is not None and not (isinstance(roles, list) and all(isinstance(r, str) and r for r in roles)):
            fail(f'\'band_roles\' must be a list of role names (e.g. ["red", "green", "blue"]), got {roles!r}')
        if self.band_roles and len(self.band_roles) != nb:
            fail(f"'band_roles' has {len(self.band_roles)} entries for {nb} bands")
        for key in ("mean", "std"):
            vals = getattr(self, key)
            if not isinstance(vals, (list, tuple)) or len(vals) != nb:
                fail(f"'{key}' must have one value per band ({nb}), got {vals!r}")
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals):
                fail(f"'{key}' must hold finite numbers, got {vals!r}")
        if any(v <= 0 for v in self.std):
            fail(f"'std' values must be > 0, got {self.std!r}")
        if (
            not isinstance(self.patch_size, int)
            or isinstance(self.patch_size, bool)
            or not (8 <= self.patch_size <= 4096)
        ):
            fail(f"'patch_size' must be an integer between 8 and 4096, got {self.patch_size!r}")
        for key in ("gsd_m", "sentinel2_dn_divisor"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
                fail(f"'{key}' must be a positive number, got {v!r}")
        if not MIN_GSD_M <= self.gsd_m <= MAX_GSD_M:
            fail(f"'gsd_m' must be from {MIN_GSD_M:g} to {MAX_GSD_M:g} m per pixel, got {self.gsd_m!r}")
        if not isinstance(self.metrics, dict) or not isinstance(self.training, dict):
            fail("'metrics' and 'training' must be JSON objects")
        if not isinstance(self.input_calibration, dict):
            fail("'input_calibration' must be a JSON object")
        problem = calibration_problem(self.input_calibration, nb)
        if problem:
            fail(problem)
        return self

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("path", None)
        if not d.get("input_calibration"):
            d.pop("input_calibration", None)  # a card without one reads and writes as before
        d["classes"] = [{"name": c.name, "color": c.color} for c in self.classes]
        return d

    @classmethod
    def from_dict(cls, data: dict, path: Path | None = None) -> ModelCard:
        where = f" in {path}" if path else ""
        if not isinstance(data, dict):
            raise ModelCardError(f"invalid model card{where}: top level must be a JSON object")
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing:
            raise ModelCardError(f"invalid model card{where}: missing key(s) {', '.join(missing)}")
        classes = []
        raw_classes = data["classes"]
        if not isinstance(raw_classes, list):
            raise ModelCardError(f"invalid model card{where}: 'classes' must be a list")
        for i, c in enumerate(raw_classes):
            if not isinstance(c, dict) or "name" not in c or "color" not in c:
                raise ModelCardError(f"invalid model card{where}: class #{i} needs 'name' and 'color', got {c!r}")
            classes.append(ClassInfo(name=c["name"], color=c["color"]))
        known = {f.name for f in fields(cls)} - {"path", "classes"}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs.setdefault("title", data["name"])
        kwargs.setdefault("band_roles", [])
        try:
            card = cls(classes=classes, path=path, **kwargs)
        except TypeError as exc:
            raise ModelCardError(f"invalid model card{where}: {exc}") from exc
        card.mean = list(card.mean) if isinstance(card.mean, (list, tuple)) else card.mean
        card.std = list(card.std) if isinstance(card.std, (list, tuple)) else card.std
        return card.validate()

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        path = Path(path)
        if not path.is_file():
            raise ModelCardError(f"model card not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelCardError(f"model card {path} is not valid JSON: {exc}") from exc
        except RecursionError:
            raise ModelCardError(f"model card {path} is not a model card: its JSON is nested too deeply") from None
        return cls.from_dict(data, path=path.resolve())

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        self.validate()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        self.path = path.resolve()
        return path


CALIBRATION_KEYS = ("matrix", "gamma", "offset")
CALIBRATION_OPTIONAL = ("pre_gain", "pre_offset")
CALIBRATION_GAMMA_RANGE = (0.25, 4.0)  # a card's per-band gamma must lie in this range
CALIBRATION_LIMIT = 4.0  # and every matrix entry and offset within +- this (a colour transform, not a network)


def calibration_problem(d: dict, bands: int) -> str:
    """What is wrong with an ``input_calibration`` (models/input_calibration.py) for ``bands`` bands, or "":
    {matrix, gamma, offset} of finite numbers within the ranges above ({}: none, fine)."""
    if not d:
        return ""
    if set(d) - {*CALIBRATION_KEYS, *CALIBRATION_OPTIONAL} or any(k not in d for k in CALIBRATION_KEYS):
        keys, optional = ", ".join(CALIBRATION_KEYS), ", ".join(CALIBRATION_OPTIONAL)
        return f"'input_calibration' must hold {keys} (optionally {optional})"
    shapes = {"matrix": (bands, bands), "gamma": (bands,), "offset": (bands,)}
    shapes.update({k: (bands,) for k in CALIBRATION_OPTIONAL if k in d})
    flat = {}
    for key, shape in shapes.items():
        v = d[key]
        rows = v if len(shape) == 2 and isinstance(v, list) else [v]
        if not isinstance(v, list) or len(v) != shape[0] or not all(isinstance(r, list) for r in rows):
            return f"'input_calibration' needs a {bands} x {bands} matrix and {bands} gammas and offsets"
        vals = [x for r in rows for x in r]
        if len(vals) != math.prod(shape):
            return f"'input_calibration' needs a {bands} x {bands} matrix and {bands} gammas and offsets"
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in vals):
            return "'input_calibration' must hold finite numbers"
        flat[key] = vals
    lo, hi = CALIBRATION_GAMMA_RANGE
    if not all(lo <= g <= hi for g in flat["gamma"]):
        return f"'input_calibration' gammas must lie in {lo:g}..{hi:g}"
    if any(abs(x) > CALIBRATION_LIMIT for k in flat if k != "gamma" for x in flat[k]):
        return f"'input_calibration' matrix entries, gains and offsets must lie within +-{CALIBRATION_LIMIT:g}"
    return ""


def eurosat_classes() -> list[ClassInfo]:
    """The ten EuroSAT classes in the dataset's (alphabetical) order, with map colours."""
    from .dataset import EUROSAT_CLASSES

    return class_infos(EUROSAT_CLASSES)


def class_infos(names: Sequence[str]) -> list[ClassInfo]:
    """``names`` (a training's classes, in the model's output order) with map colours: EuroSAT's own
    for EuroSAT names, the others from :data:`OTHER_COLORS` in turn."""
    others = iter(OTHER_COLORS * (1 + len(names) // len(OTHER_COLORS)))
    return [ClassInfo(name, EUROSAT_COLORS.get(name) or next(others)) for name in names]


def recipe_of(args, leave_out: Iterable[str] = ()) -> dict:
    """The options a card records as its training's recipe: ``vars(args)`` without ``leave_out`` and
    the command line's own entries (:data:`NOT_RECIPE`), keeping only values JSON represents as they
    are (``None``, bool, int, float, str, a path as its text, a list or tuple of these as a list).
    A callback or other object put on ``args`` is left out, so every writer's card stays JSON."""
    skip = set(leave_out) | set(NOT_RECIPE)
    recipe = {}
    for key, value in vars(args).items():
        value = _plain(value)
        if key not in skip and value is not _NOT_PLAIN:
            recipe[key] = value
    return recipe


# what the main command line (cli/app.py) puts on ``args`` beside a training's options
NOT_RECIPE = ("command", "debug", "stop_requested", "outputs_kept")
_NOT_PLAIN = object()


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return _NOT_PLAIN if any(v is _NOT_PLAIN for v in items) else items
    return _NOT_PLAIN
