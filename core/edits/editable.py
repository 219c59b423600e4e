"""Which rasters are the plugin's land-cover runs, and the run files around an edit session (folder, style, palette)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Optional

from .. import writers
from ..errors import ClassificationError
from ..run_names import RunFiles, run_files
from ..run_summary import read_run_summary
from .errors import EditError
from .model import RasterGrid
from .raster import FROM_KEY, open_raster


def is_landcover_raster(path) -> Optional[str]:
    """None when ``path`` is a land-cover raster made by the plugin, else the reason it is not.

    Recognised by the run's ``<run>_summary.json`` naming this file as its classes output, or by
    the metadata the engine writes into the GeoTIFF (MODEL + CONTENT "land-cover class index").
    """
    path = Path(str(path).split("|")[0])
    files = run_files(path)
    if files is None or path != files.classes:
        if files is not None and path == files.corrected:
            return None if files.classes.exists() else f"the model output {files.classes.name} is missing"
        return f"{path.name} is not a land-cover map made by this plugin (no *_classes.tif name)"
    if not path.exists():
        return f"{path.name} does not exist"
    if files.summary.exists():
        try:
            summary = read_run_summary(files.summary)  # checked at the door (core/run_summary.py)
        except ClassificationError as exc:
            return str(exc)
        if Path((summary.get("outputs") or {}).get("classes") or "").name == path.name:
            return None
    try:
        ds = open_raster(path)
    except EditError as exc:
        return str(exc)
    md = ds.GetMetadata() or {}
    if md.get("MODEL") and md.get("CONTENT", "").startswith("land-cover class index"):
        return None
    return f"{path.name} is not a land-cover map made by this plugin (no run summary, no engine metadata)"


def _check_writable(folder: Path) -> None:
    probe = folder / f".eurosat-edit-probe-{secrets.token_hex(4)}"
    try:
        with open(probe, "wb"):
            pass
        probe.unlink()
    except OSError:
        raise EditError(
            f"the folder {folder} is read-only: corrections are written beside the run; "
            "copy the run's files to a folder you can write to"
        ) from None


def _same_grid(path: Path, grid: RasterGrid) -> bool:
    try:
        ds = open_raster(path)
    except EditError:
        return False
    return RasterGrid.of(ds).same_as(grid) and ds.GetMetadataItem(FROM_KEY) is not None


def copy_style(files: RunFiles) -> None:
    """``<run>_corrected.qml`` = the model output's style (QGIS applies it when it opens the raster)."""
    src, dst = files.classes_style, files.corrected_style
    if src.exists() and not dst.exists():
        tmp = dst.with_name(f"{dst.name}.{writers.new_token()}.partial")
        tmp.write_bytes(src.read_bytes())
        os.replace(tmp, dst)


def run_palette(files: RunFiles) -> list[tuple[str, str]]:
    """[(class name, "#rrggbb")] by class index: the run's model card (from its summary) when it can be
    read, else the names and colours the engine embedded in the classes raster."""
    try:
        summary = read_run_summary(files.summary)
        card_path = (summary.get("model") or {}).get("card")
        if card_path and Path(card_path).is_file():
            from ...models.card import ModelCard

            card = ModelCard.load(card_path)
            return [(c.name, c.color) for c in card.classes]
    except (OSError, ValueError, ClassificationError):
        pass
    ds = open_raster(files.classes)  # kept alive while its band is used
    ds.GetMetadata()  # loads the .aux.xml, where GTiff keeps category names (read lazily)
    band = ds.GetRasterBand(1)
    names = band.GetCategoryNames() or []
    ct = band.GetColorTable()
    out = []
    for i, name in enumerate(names):
        if not name:
            break
        r, g, b = ct.GetColorEntry(i)[:3] if ct is not None and i < ct.GetCount() else (128, 128, 128)
        out.append((name, f"#{r:02x}{g:02x}{b:02x}"))
    return out
