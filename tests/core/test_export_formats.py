"""The export registry (core/export/formats.py) is the one list of kinds and formats: core and the
CLI read it, and every format id keeps its released name, extension and position."""

from __future__ import annotations

import pytest
from eurosat_landcover.cli.app import build_parser, load_commands
from eurosat_landcover.core.export import CORE_WHAT, WHAT, ExportError, ExportOptions, formats, parse_what, polygons
from eurosat_landcover.core.export import raster as raster_export


def _export_options() -> dict:
    parser = build_parser(load_commands([".export"]))
    sub = next(a for a in parser._actions if a.dest == "command")
    return {a.dest: a for a in sub.choices["export"]._actions}


def test_released_ids_stay():
    # Processing models store the FORMAT enum's index: ids never move
    assert WHAT == ("raster", "polygons", "report", "map") and CORE_WHAT == ("raster", "polygons", "report")
    assert formats.format_ids("raster") == ("gtiff", "cog")
    assert formats.format_ids("polygons") == ("gpkg", "geojson", "shp")
    assert formats.format_ids("map") == ("pdf", "png") and formats.format_ids("report") == ()
    assert formats.ORIENTATION_IDS == ("landscape", "portrait")
    ext = {f.id: f.extension for k in formats.KINDS for f in k.formats}
    assert ext == {"gtiff": ".tif", "cog": ".tif", "gpkg": ".gpkg", "geojson": ".geojson", "shp": ".shp"} | {
        "pdf": ".pdf",
        "png": ".png",
    }


def test_cli_choices_are_the_registry():
    opts = _export_options()
    assert tuple(opts["raster_format"].choices) == formats.format_ids("raster")
    assert opts["raster_format"].default == formats.kind("raster").default_format
    assert tuple(opts["vector_format"].choices) == formats.format_ids("polygons")
    assert opts["vector_format"].default == formats.kind("polygons").default_format
    assert tuple(opts["orientation"].choices) == formats.ORIENTATION_IDS
    assert opts["what"].default == ",".join(CORE_WHAT)
    assert all(k in opts["what"].help for k in WHAT)


def test_core_reads_the_registry():
    assert formats.format_ids("raster") == raster_export.FORMATS
    assert formats.format_ids("polygons") == polygons.VECTOR_FORMATS
    o = ExportOptions()
    assert (o.what, o.raster_format, o.vector_format) == (CORE_WHAT, "gtiff", "gpkg")
    assert parse_what("map,raster") == ("map", "raster")
    with pytest.raises(ExportError, match="raster, polygons, report, map"):
        parse_what("pdf")


def test_polygon_file_names_follow_the_extension(tmp_path):
    class Run:  # only the name is read
        name = "demo"

    for f in formats.kind("polygons").formats:
        assert polygons.polygon_file_name(Run, f.id) == f"demo_landcover_polygons{f.extension}"
    with pytest.raises(KeyError):
        formats.kind("polygons").format("kml")
    assert formats.one_of(("gpkg", "geojson", "shp")) == "gpkg, geojson or shp"
