"""What the product itself says about its radiometry: Sentinel-2 metadata, GDAL scale/offset, STAC.

Looked at in this order, the first that speaks wins (:func:`product_metadata`):

1. a SAFE product's ``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml`` (the file opened, or one in a folder above
   it): ``PROCESSING_LEVEL``, ``PROCESSING_BASELINE``, ``QUANTIFICATION_VALUE`` /
   ``BOA_QUANTIFICATION_VALUE`` and ``RADIO_ADD_OFFSET`` / ``BOA_ADD_OFFSET`` per band;
2. GDAL metadata of the dataset and its bands (what GDAL's SENTINEL2 driver reports, or what an export
   kept): the same keys, and a band's own scale/offset (``value = DN * scale + offset``);
3. a STAC item JSON beside the file (``<file>.json``, ``<stem>.json`` or any item whose asset points to
   the file): ``raster:bands`` scale/offset, ``processing:level``, ``s2:processing_baseline``.

The result says how to turn digital numbers into reflectance x 10000 (``subtract``, ``quantification``)
and which level the product is, with one line of evidence. No Qt, no QGIS.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

MTD_NAMES = ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml")
STAC_MAX_BYTES = 2_000_000
# the Sentinel-2 band_id of the SAFE metadata (0-based) -> band name
S2_BAND_IDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
_S2_RE = re.compile(r"(?<![A-Za-z0-9])B0?(1[0-2]|[1-9]|8A)(?![0-9A-Za-z])", re.IGNORECASE)


def s2_band_name(description: str) -> Optional[str]:
    """'B4', 'b04', 'B04 (red)', 'S2 B8A' -> 'B04' / 'B8A'; None when no Sentinel-2 band is named."""
    if not description:
        return None
    m = _S2_RE.search(description.strip())
    if not m:
        return None
    tok = m.group(1).upper()
    return "B8A" if tok == "8A" else f"B{int(tok):02d}"


@dataclass
class ProductFacts:
    """Radiometric facts found in the product's metadata; None where it says nothing."""

    source: str = ""  # where the facts come from, e.g. "MTD_MSIL2A.xml of the SAFE product"
    level: Optional[str] = None  # "L1C", "L2A"
    baseline: Optional[str] = None  # "04.00"
    subtract: Optional[float] = None  # DN offset to remove (1000 for baseline >= 04.00), 0 when none
    quantification: Optional[float] = None  # DN per unit reflectance (10000)
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.source) and (
            self.subtract is not None or self.quantification is not None or self.level is not None
        )

    def describe(self) -> str:
        parts = []
        if self.level:
            parts.append(f"level {self.level}")
        if self.baseline:
            parts.append(f"processing baseline {self.baseline}")
        if self.quantification:
            parts.append(f"quantification {self.quantification:g}")
        if self.subtract is not None:
            parts.append(f"offset {-self.subtract:g}" if self.subtract else "no offset")
        return f"{self.source}: " + ", ".join(parts + self.notes)


def _level(text: str) -> Optional[str]:
    t = (text or "").upper()
    if "2A" in t:
        return "L2A"
    if "1C" in t:
        return "L1C"
    return None


def _baseline_offset(baseline: Optional[str]) -> Optional[float]:
    """The DN offset implied by a processing baseline alone (1000 from 04.00, 0 before)."""
    try:
        return 1000.0 if float(baseline) >= 4.0 else 0.0
    except (TypeError, ValueError):
        return None


def _offset_for(offsets: dict, wanted: list[str]) -> Optional[float]:
    """One subtractable offset from ``{band name: ADD_OFFSET}`` (ADD_OFFSET is negative: -1000)."""
    vals = [offsets[b] for b in wanted if b in offsets] or list(offsets.values())
    return -float(vals[0]) if vals else None


# ------------------------------------------------------------------------------------------ SAFE
def find_safe_metadata(paths: list[str], levels_up: int = 6) -> Optional[Path]:
    """The product's MTD_MSIL1C/2A.xml: one of ``paths`` itself, or in a folder above the first path."""
    for p in paths:
        if Path(p).name in MTD_NAMES and Path(p).is_file():
            return Path(p)
    if not paths or str(paths[0]).startswith("/vsi"):
        return None
    folder = Path(paths[0]).resolve().parent
    for _ in range(levels_up):
        for name in MTD_NAMES:
            if (folder / name).is_file():
                return folder / name
        if folder.suffix.upper() == ".SAFE" or folder.parent == folder:
            break
        folder = folder.parent
    return None


def read_safe_metadata(path: Path, wanted: list[str]) -> ProductFacts:
    """Facts from a SAFE ``MTD_MSIL*.xml`` (tags matched by local name, any namespace)."""
    facts = ProductFacts(source=f"{path.name} of the SAFE product")
    offsets: dict[str, float] = {}
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        facts.notes.append(f"unreadable ({exc})")
        return facts
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        text = (el.text or "").strip()
        if tag == "PROCESSING_LEVEL":
            facts.level = _level(text)
        elif tag == "PROCESSING_BASELINE":
            facts.baseline = text
        elif tag in ("QUANTIFICATION_VALUE", "BOA_QUANTIFICATION_VALUE") and text:
            facts.quantification = float(text)
        elif tag in ("RADIO_ADD_OFFSET", "BOA_ADD_OFFSET") and text:
            i = int(el.get("band_id", "-1"))
            if 0 <= i < len(S2_BAND_IDS):
                offsets[S2_BAND_IDS[i]] = float(text)
    facts.subtract = _offset_for(offsets, wanted) if offsets else _baseline_offset(facts.baseline)
    if not offsets and facts.subtract is not None:
        facts.notes.append("offset implied by the baseline (no ADD_OFFSET elements)")
    return facts


# ------------------------------------------------------------------------------------------ GDAL
_OFFSET_KEY = re.compile(r"(BOA|RADIO)_ADD_OFFSET(?:_(B\d{1,2}A?))?$", re.IGNORECASE)


def read_gdal_metadata(ds, model_bands: list[int], wanted: list[str]) -> ProductFacts:
    """Facts from the dataset's and the model bands' GDAL metadata and band scale/offset."""

    facts = ProductFacts(source="GDAL metadata")
    md: dict[str, str] = {}
    for obj in [ds] + [ds.GetRasterBand(b) for b in model_bands]:
        md.update(obj.GetMetadata() or {})
    offsets: dict[str, float] = {}
    for key, val in md.items():
        k = key.upper()
        m = _OFFSET_KEY.search(k)
        try:
            if m:
                offsets[s2_band_name(m.group(2) or "") or "any"] = float(val)
                facts.level = facts.level or ("L2A" if m.group(1).upper() == "BOA" else "L1C")
            elif k.endswith("QUANTIFICATION_VALUE"):
                facts.quantification = float(val)
            elif k in ("PROCESSING_BASELINE", "S2_PROCESSING_BASELINE"):
                facts.baseline = str(val)
            elif k in ("PROCESSING_LEVEL", "PRODUCT_TYPE", "PRODUCT_LEVEL"):
                facts.level = facts.level or _level(val)
        except ValueError:
            continue
    if offsets:
        facts.subtract = _offset_for(offsets, wanted)
    elif facts.baseline is not None:
        facts.subtract = _baseline_offset(facts.baseline)
    band = ds.GetRasterBand(model_bands[0])
    scale, offset = band.GetScale(), band.GetOffset()
    if (scale not in (None, 0.0, 1.0)) or offset not in (None, 0.0):
        scale = scale if scale not in (None, 0.0) else 1.0
        facts.quantification = 1.0 / scale
        facts.subtract = -(offset or 0.0) / scale
        facts.notes.append(f"band scale {scale:g} and offset {offset or 0.0:g}")
    return facts


# ------------------------------------------------------------------------------------------ STAC
def _stac_candidates(path: Path) -> list[Path]:
    firsts = [path.with_name(path.name + ".json"), path.with_suffix(".json"), path.with_name(path.stem + "_stac.json")]
    others = sorted(p for p in path.parent.glob("*.json") if p not in firsts)[:20]
    return [p for p in firsts if p.is_file()] + others


def _stac_asset(item: dict, name: str) -> Optional[dict]:
    assets = item.get("assets") or {}
    for asset in assets.values():
        href = str(asset.get("href", "")) if isinstance(asset, dict) else ""
        if href.split("?")[0].rstrip("/").endswith("/" + name) or href == name:
            return asset
    return None


def read_stac_item(path: Path) -> Optional[ProductFacts]:
    """Facts from a STAC item beside ``path`` whose asset is ``path``; None when there is none."""
    for cand in _stac_candidates(path):
        try:
            if cand.stat().st_size > STAC_MAX_BYTES:
                continue
            item = json.loads(cand.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if not isinstance(item, dict) or "stac_version" not in item:
            continue
        asset = _stac_asset(item, path.name)
        if asset is None:
            continue
        props = item.get("properties") or {}
        facts = ProductFacts(source=f"STAC item {cand.name}")
        facts.level = _level(str(props.get("processing:level") or props.get("s2:product_type") or ""))
        baseline = props.get("s2:processing_baseline") or props.get("processing:version")
        facts.baseline = str(baseline) if baseline is not None else None
        rb = asset.get("raster:bands") or []
        if rb and isinstance(rb[0], dict) and ("scale" in rb[0] or "offset" in rb[0]):
            scale = float(rb[0].get("scale", 1.0)) or 1.0
            facts.quantification = 1.0 / scale
            facts.subtract = -float(rb[0].get("offset", 0.0)) / scale
            facts.notes.append(f"raster:bands scale {scale:g} offset {float(rb[0].get('offset', 0.0)):g}")
        elif facts.baseline is not None:
            facts.subtract = _baseline_offset(facts.baseline)
        return facts
    return None


def product_metadata(ds, model_bands: list[int], band_names: list[str]) -> ProductFacts:
    """The first source that says something (SAFE metadata, GDAL metadata, STAC item); empty if none."""
    files = [str(f) for f in (ds.GetFileList() or [])] or [ds.GetDescription()]
    wanted = [n.upper() for n in band_names]
    mtd = find_safe_metadata(files)
    if mtd is not None:
        facts = read_safe_metadata(mtd, wanted)
        if facts.found:
            return facts
    facts = read_gdal_metadata(ds, model_bands, wanted)
    if facts.found:
        return facts
    first = files[0]
    if first and not first.startswith("/vsi") and Path(first).is_file():
        stac = read_stac_item(Path(first))
        if stac is not None and stac.found:
            return stac
    return ProductFacts()
