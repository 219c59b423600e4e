"""The one table of export kinds and their formats, read by core, the CLI, Processing and the Export page.

A **kind** is a thing to export (``raster``, ``polygons``, ``report``, ``map``); a **format** is how
one kind is written (``gtiff``/``cog`` rasters, ``gpkg``/``geojson``/``shp`` polygons, ``pdf``/``png``
maps). The ids are the public names: ``--what``, ``--format``, ``--vector-format``, the Processing
FORMAT enums (by position in :attr:`Kind.formats`), the Export page's combos and the settings it keeps.
Never rename or reorder a released id: Processing models store the enum's index.

Plain data, no GDAL, no Qt: importing this costs nothing (the CLI builds its parser from it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportFormat:
    """One way of writing a kind.

    Attributes:
        id: the public id (``--format``/``--vector-format`` value, settings value).
        label: the Export page's combo text (short: it fits a 300 px dock).
        description: the Processing enum's text (says what comes with the file).
        extension: the main file's extension, dot included.
        driver: the GDAL/OGR driver that writes it ("" when QGIS writes it: the map).
        creation_options: the driver's creation options (layer creation options for vectors).
    """

    id: str
    label: str
    description: str
    extension: str
    driver: str = ""
    creation_options: tuple = ()


@dataclass(frozen=True)
class ExportKind:
    """One thing to export.

    Attributes:
        id: the public id (a ``--what`` part, the Export page's check box).
        label: the Export page's check box text.
        tooltip: the check box's tooltip.
        formats: the formats it accepts, the default first (empty: fixed files, e.g. CSV + HTML).
        needs_qgis: written by ``qgis_bridge`` (the print layout), not by ``core.export.export_run``.
    """

    id: str
    label: str
    tooltip: str
    formats: tuple = ()
    needs_qgis: bool = False

    @property
    def format_ids(self) -> tuple:
        return tuple(f.id for f in self.formats)

    @property
    def default_format(self) -> str:
        return self.formats[0].id if self.formats else ""

    def format(self, format_id: str) -> ExportFormat:
        """The format ``format_id`` of this kind (KeyError when it has none of that id)."""
        for f in self.formats:
            if f.id == format_id:
                return f
        raise KeyError(f"{self.id} has no format {format_id!r}")


RASTER_FORMATS = (
    ExportFormat(
        "gtiff",
        "GeoTIFF",
        "GeoTIFF",
        ".tif",
        "GTiff",
        ("TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=2", "COPY_SRC_OVERVIEWS=YES", "BIGTIFF=IF_SAFER"),
    ),
    ExportFormat(
        "cog",
        "Cloud-Optimized GeoTIFF",
        "Cloud-Optimized GeoTIFF (COG)",
        ".tif",
        "COG",
        ("COMPRESS=DEFLATE", "PREDICTOR=YES", "BIGTIFF=IF_SAFER", "OVERVIEWS=AUTO"),
    ),
)
VECTOR_FORMATS = (
    ExportFormat(
        "gpkg",
        "GeoPackage (styled)",
        "GeoPackage (style stored as the layer's default)",
        ".gpkg",
        "GPKG",
        ("GEOMETRY_NAME=geom", "FID=fid"),
    ),
    ExportFormat("geojson", "GeoJSON", "GeoJSON (+ .qml, .sld)", ".geojson", "GeoJSON"),
    ExportFormat("shp", "Shapefile", "Shapefile (+ .qml, .sld)", ".shp", "ESRI Shapefile", ("ENCODING=UTF-8",)),
)
MAP_FORMATS = (
    ExportFormat("pdf", "PDF", "PDF", ".pdf"),
    ExportFormat("png", "PNG", "PNG", ".png"),
)

KINDS = (
    ExportKind(
        "raster",
        "Styled raster + QML/SLD",
        "Land cover, confidence, probabilities: GeoTIFF or COG with colours and class names",
        RASTER_FORMATS,
    ),
    ExportKind(
        "polygons",
        "Polygons (class, area, confidence)",
        "GDAL polygonize: neighbouring polygons share their edges, no gaps",
        VECTOR_FORMATS,
    ),
    ExportKind(
        "report",
        "Area report (CSV + HTML)",
        "km² and % per class; adjusted areas when an accuracy assessment exists",
    ),
    ExportKind(
        "map",
        "Print-ready map (PDF + PNG)",
        "A print layout: map, legend, scale bar, north arrow, area table, credits",
        MAP_FORMATS,
        needs_qgis=True,
    ),
)
BY_ID = {k.id: k for k in KINDS}

WHAT = tuple(k.id for k in KINDS)  # every kind, in the order the CLI, Processing and the page list them
CORE_WHAT = tuple(k.id for k in KINDS if not k.needs_qgis)  # what core.export.export_run writes

# the print layout's orientations: (id, the Export page's label)
ORIENTATIONS = (("landscape", "Landscape"), ("portrait", "Portrait"))
ORIENTATION_IDS = tuple(o for o, _label in ORIENTATIONS)


def kind(kind_id: str) -> ExportKind:
    """The kind ``kind_id`` (KeyError for an unknown id)."""
    return BY_ID[kind_id]


def format_ids(kind_id: str) -> tuple:
    """The format ids ``kind_id`` accepts, the default first: ``format_ids("polygons")`` -> gpkg, geojson, shp."""
    return BY_ID[kind_id].format_ids


def one_of(ids) -> str:
    """``("gpkg", "geojson", "shp")`` -> "gpkg, geojson or shp" (for messages)."""
    ids = list(ids)
    return ids[0] if len(ids) == 1 else f"{', '.join(ids[:-1])} or {ids[-1]}"
