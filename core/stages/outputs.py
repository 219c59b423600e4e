"""The run's files: the rasters opened under temporary names before the windows run, and
everything (rasters, QML styles, JSON summary) renamed to its final name at the end."""

from __future__ import annotations

import json

from .. import writers
from ..atomic_files import _json_default
from .summary import cell_geotransform, summary_path


def raster_metadata(req, prepared, card) -> dict:
    """GDAL metadata items written into every output raster."""
    grid, wr = prepared.grid, prepared.working
    return {
        "MODEL": card.name,
        "MODEL_ARCHITECTURE": card.architecture,
        "MODE": req.mode,
        "SOURCE": str(req.input_path),
        "BANDS": " ".join(map(str, prepared.mapping.bands)),
        "BAND_NAMES": " ".join(card.bands),
        "STRIDE_PX": grid.stride,
        "CELL_SIZE_M": f"{abs(cell_geotransform(prepared)[1]):g}",
        "PATCH_PX": grid.patch,
        "WORKING_CRS": wr.crs_label,
        "RESAMPLED": "yes" if wr.resampled else "no",
        **prepared.radiometry.metadata_items(),
    }


def open_outputs(req, prepared, card) -> writers.OutputSet:
    """The classes, confidence and (unless switched off) probability rasters, under temporary names."""
    return writers.OutputSet(
        prepared.out_dir,
        prepared.prefix,
        prepared.grid,
        cell_geotransform(prepared),
        prepared.working.srs.ExportToWkt(),
        card,
        req.probabilities_dtype,
        req.write_probabilities,
        raster_metadata(req, prepared, card),
        overwrite=req.overwrite,
        deflate_level=writers.MAP_DEFLATE_LEVEL if req.mode == "map" else None,
        release_blocks=req.mode == "map",
        write_behind=req.mode == "map",
    )


def style_texts(outputs: writers.OutputSet, card) -> dict:
    """{path of the QML beside each raster: its text}: classes paletted, the others viridis 0-1."""
    styles = {name: p.with_suffix(".qml") for name, p in outputs.final.items()}
    texts = {styles["classes"]: writers.qml_paletted(card), styles["confidence"]: writers.qml_pseudocolor()}
    if "probabilities" in styles:
        texts[styles["probabilities"]] = writers.qml_pseudocolor(1)
    return texts


def commit_outputs(outputs: writers.OutputSet, prepared, card, summary: dict) -> None:
    """Styles and summary written under temporary names, then every file renamed to its final name."""
    texts = style_texts(outputs, card)
    texts[summary_path(prepared)] = json.dumps(summary, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    outputs.commit(texts)
