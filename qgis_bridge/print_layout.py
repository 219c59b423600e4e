"""A print-ready land-cover map through a QGIS print layout (no widgets): PDF and PNG.

The layout holds the styled class map, a legend, a scale bar, a north arrow, the title, the table of
areas per class (with colour swatches) and a credits line (model and its measured accuracy,
provenance, CRS). Page size (any name of QGIS's page-size registry: A4, A3, Letter...) and
orientation are chosen by the caller. It is built in a project of its own, so the user's project
gains no layer and no layout; files are staged and renamed like every other export
(:class:`core.export.common.Staging`). Main thread only (QGIS renders layouts there).
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from qgis.core import (
    QgsApplication,
    QgsLayoutExporter,
    QgsLayoutFrame,
    QgsLayoutItemLabel,
    QgsLayoutItemLegend,
    QgsLayoutItemManualTable,
    QgsLayoutItemMap,
    QgsLayoutItemPage,
    QgsLayoutItemPicture,
    QgsLayoutItemScaleBar,
    QgsLayoutMeasurement,
    QgsLayoutPoint,
    QgsLayoutSize,
    QgsLayoutTableColumn,
    QgsLegendStyle,
    QgsMapLayerLegendUtils,
    QgsPrintLayout,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsScaleBarSettings,
    QgsTableCell,
    QgsTextFormat,
    QgsUnitTypes,
)
from qgis.PyQt.QtCore import QRectF, QSize, Qt
from qgis.PyQt.QtGui import QColor, QFont
from qgis.PyQt.QtXml import QDomDocument

from ..core.export.common import ExportError, ProgressSpan, Staging
from ..core.export.formats import ORIENTATION_IDS, format_ids, one_of
from ..core.export.report import class_areas
from ..core.export.run import RunInfo
from ..core.export.styles import qml_classes
from ..core.progress import ProgressFn

ORIENTATIONS = ORIENTATION_IDS
MAP_FORMATS = format_ids("map")
MM = QgsUnitTypes.LayoutUnit.LayoutMillimeters


@dataclass
class MapOptions:
    title: Optional[str] = None  # default "Land cover — <run name>"
    page_size: str = "A4"
    orientation: str = "landscape"
    dpi: int = 200  # PNG resolution
    formats: tuple = MAP_FORMATS
    credits: Optional[str] = None  # extra credits line (e.g. the analyst, the agency)
    overwrite: bool = False


def map_names(run: RunInfo, formats=MAP_FORMATS) -> dict[str, str]:
    return {fmt: f"{run.name}_landcover_map.{fmt}" for fmt in formats}


def page_sizes() -> list[str]:
    return [s.name for s in QgsApplication.pageSizeRegistry().entries()]


def validate_options(options: MapOptions) -> None:
    """Refuse an unknown page size or orientation before any work is done."""
    if (options.orientation or "").lower() not in ORIENTATIONS:
        raise ExportError(f"orientation must be {one_of(ORIENTATIONS)}, got {options.orientation!r}")
    if QgsApplication.pageSizeRegistry().find(options.page_size) == []:
        raise ExportError(f"unknown page size {options.page_size!r}: use one of {', '.join(page_sizes()[:16])}...")
    bad = [f for f in options.formats if f not in MAP_FORMATS]
    if bad or not options.formats:
        raise ExportError(f"map formats are {' and '.join(MAP_FORMATS)}, got {', '.join(options.formats) or 'none'}")


def classes_layer(run: RunInfo, name: str = "Land cover") -> QgsRasterLayer:
    """The exported class map as a raster layer, styled from its own class names and colours."""
    layer = QgsRasterLayer(str(run.classes_path), name, "gdal")
    if not layer.isValid():
        raise ExportError(f"QGIS cannot open {run.classes_path}")
    doc = QDomDocument()
    doc.setContent(qml_classes(run.classes))
    ok, err = layer.importNamedStyle(doc)
    if not ok:
        raise ExportError(f"cannot style {run.classes_path.name}: {err}")
    return layer


def _fmt(size_pt: float, bold: bool = False, color: str = "#222222") -> QgsTextFormat:
    f = QgsTextFormat()
    font = QFont("DejaVu Sans")
    font.setBold(bold)
    f.setFont(font)
    f.setSize(size_pt)
    f.setSizeUnit(QgsUnitTypes.RenderUnit.RenderPoints)
    f.setColor(QColor(color))
    return f


def _label(layout, text: str, rect: tuple, size: float, bold=False, color="#222222") -> QgsLayoutItemLabel:
    item = QgsLayoutItemLabel(layout)
    item.setText(text)
    font = QFont("DejaVu Sans")
    font.setPointSizeF(size)
    font.setBold(bold)
    item.setFont(font)
    item.setFontColor(QColor(color))
    layout.addLayoutItem(item)
    item.attemptMove(QgsLayoutPoint(rect[0], rect[1], MM))
    item.attemptResize(QgsLayoutSize(rect[2], rect[3], MM))
    return item


def _accuracy_text(run: RunInfo) -> str:
    """This map's assessed accuracy (or that it has none) and the model's on EuroSAT test patches."""
    from ..core.export.accuracy_note import accuracy_line

    return accuracy_line(run.summary, run.assessment, run.classes_path.name)


def credits_text(run: RunInfo, crs_label: str, extra: Optional[str] = None) -> str:
    from ..__about__ import __version__

    s = run.summary
    model = run.model_title() or "a EuroSAT classifier"
    acc = _accuracy_text(run)
    when = str(s.get("created_utc", ""))[:16].replace("T", " ")
    src = Path(str((s.get("input") or {}).get("path", ""))).name
    lines = [f"Classified with {model}" + (f" ({acc})" if acc else "") + f" · EuroSAT Land Cover {__version__}"]
    prov = []
    if src:
        prov.append(f"source: {src}")
    if when:
        prov.append(f"classified {when} UTC")
    prov.append(f"map made {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    prov.append(f"CRS {crs_label}")
    lines.append(" · ".join(prov))
    if run.corrected:
        lines.append(f"Corrected map ({run.classes_path.name}); areas are counted on the corrected map.")
    lines.append(
        "Areas are mapped areas (cells × cell area), not adjusted for classification error"
        + ("; adjusted areas with confidence intervals are in the area report." if run.assessment else ".")
    )
    if extra:
        lines.append(extra)
    return "\n".join(lines)


def nice_step(x: float) -> float:
    """The 1-2-5 number nearest below ``x`` (scale-bar segments of 0.5, 1, 2, 5 km...)."""
    import math

    if x <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(x))
    return max(m * e for m in (1, 2, 5) if m * e <= x)


def _fit(ext: QgsRectangle, w_mm: float, h_mm: float, margin: float = 0.03) -> QgsRectangle:
    """``ext`` grown by ``margin`` and widened or heightened to the item's aspect ratio, same centre."""
    w, h = ext.width() * (1 + margin), ext.height() * (1 + margin)
    aspect = w_mm / h_mm
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    c = ext.center()
    return QgsRectangle(c.x() - w / 2, c.y() - h / 2, c.x() + w / 2, c.y() + h / 2)


def build_layout(project: QgsProject, layer: QgsRasterLayer, run: RunInfo, areas: dict, options: MapOptions):
    """The print layout (not added to any layout manager)."""
    orientation = (options.orientation or "landscape").lower()
    if orientation not in ORIENTATIONS:
        raise ExportError(f"orientation must be {one_of(ORIENTATIONS)}, got {options.orientation!r}")
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    layout.setName(options.title or f"Land cover — {run.name}")
    page = layout.pageCollection().page(0)
    ori = (
        QgsLayoutItemPage.Orientation.Landscape
        if orientation == "landscape"
        else QgsLayoutItemPage.Orientation.Portrait
    )
    if not page.setPageSize(options.page_size, ori):
        raise ExportError(f"unknown page size {options.page_size!r}: use one of {', '.join(page_sizes()[:16])}...")
    W, H = page.pageSize().width(), page.pageSize().height()
    m = 10.0
    title = options.title or f"Land cover — {run.name}"
    _label(layout, title, (m, m - 2, W - 2 * m, 12), 18 if W < 350 else 26, bold=True)
    top = m + 12
    credits_h = 16 if W < 350 else 20
    n_rows = len(areas["rows"])
    row_h = 5.2
    table_h = (n_rows + 2) * row_h
    if orientation == "landscape":
        panel_w = max(72.0, 0.3 * W)
        map_rect = (m, top, W - 2 * m - panel_w - 6, H - top - m - credits_h - 12)
        panel_x, panel_y = m + map_rect[2] + 6, top
        legend_rect = (panel_x, panel_y, panel_w, H - panel_y - table_h - credits_h - m - 8)
        table_rect = (panel_x, H - m - credits_h - table_h - 4, panel_w, table_h)
    else:
        map_h = H - top - m - credits_h - max(table_h, 70) - 20
        map_rect = (m, top, W - 2 * m, map_h)
        below = top + map_h + 14
        half = (W - 2 * m - 6) / 2
        legend_rect = (m, below, half, max(table_h, 70))
        table_rect = (m + half + 6, below, half, table_h)

    # the map frame takes the data's shape (no wide empty bands), the rest follows it
    ext = layer.extent()
    if ext.width() > 0 and ext.height() > 0:
        want_h = map_rect[2] * ext.height() / ext.width()
        if want_h < map_rect[3]:
            map_rect = (map_rect[0], map_rect[1], map_rect[2], max(want_h * 1.04, 40.0))
        else:
            map_rect = (
                map_rect[0],
                map_rect[1],
                max(map_rect[3] * ext.width() / ext.height() * 1.04, 40.0),
                map_rect[3],
            )

    if orientation == "portrait":  # legend and table right under the (possibly shorter) map
        below = map_rect[1] + map_rect[3] + 14
        legend_rect = (legend_rect[0], below, legend_rect[2], legend_rect[3])
        table_rect = (table_rect[0], below, table_rect[2], table_rect[3])

    # map
    mp = QgsLayoutItemMap(layout)
    mp.setId("map")
    mp.setCrs(layer.crs())  # before moving/resizing: a map without a CRS measures its scale in "" (proj_create errors)
    layout.addLayoutItem(mp)
    mp.attemptMove(QgsLayoutPoint(map_rect[0], map_rect[1], MM))
    mp.attemptResize(QgsLayoutSize(map_rect[2], map_rect[3], MM))
    mp.setLayers([layer])
    mp.setKeepLayerSet(True)
    mp.setExtent(_fit(layer.extent(), map_rect[2], map_rect[3]))
    mp.setFrameEnabled(True)
    mp.setFrameStrokeWidth(QgsLayoutMeasurement(0.3, MM))
    mp.setBackgroundColor(QColor("#ffffff"))

    # north arrow under the map's right corner, beside the scale bar: it never covers the map
    arrow_rect = (map_rect[0] + map_rect[2] - 9, map_rect[1] + map_rect[3] + 1.5, 9, 10.5)
    svg = next(
        (
            str(Path(p) / "arrows" / "NorthArrow_02.svg")
            for p in QgsApplication.svgPaths()
            if (Path(p) / "arrows" / "NorthArrow_02.svg").is_file()
        ),
        None,
    )
    if svg:
        arrow = QgsLayoutItemPicture(layout)
        arrow.setPicturePath(svg)
        arrow.setLinkedMap(mp)
        arrow.setNorthMode(QgsLayoutItemPicture.NorthMode.GridNorth)
        layout.addLayoutItem(arrow)
        arrow.attemptMove(QgsLayoutPoint(arrow_rect[0], arrow_rect[1], MM))
        arrow.attemptResize(QgsLayoutSize(arrow_rect[2], arrow_rect[3], MM))
    else:  # a plain "N" arrow when QGIS's SVG library is not installed
        arrow = _label(layout, "▲\nN", arrow_rect, 10, bold=True)
    arrow.setId("north arrow")

    # scale bar under the map
    sb = QgsLayoutItemScaleBar(layout)
    sb.setStyle("Single Box")
    sb.setLinkedMap(mp)
    layout.addLayoutItem(sb)
    sb.applyDefaultSize(QgsUnitTypes.DistanceUnit.DistanceKilometers)
    sb.setUnits(QgsUnitTypes.DistanceUnit.DistanceKilometers)
    sb.setUnitLabel("km")
    sb.setTextFormat(_fmt(8))
    sb.setNumberOfSegmentsLeft(0)
    sb.setNumberOfSegments(4)
    if layer.crs().mapUnits() == QgsUnitTypes.DistanceUnit.DistanceMeters:
        sb.setSegmentSizeMode(QgsScaleBarSettings.SegmentSizeMode.SegmentSizeFixed)
        sb.setUnitsPerSegment(nice_step(mp.extent().width() / 1000.0 * 0.4 / 4))
    sb.update()
    sb.attemptMove(QgsLayoutPoint(map_rect[0], map_rect[1] + map_rect[3] + 2, MM))

    # legend
    legend = QgsLayoutItemLegend(layout)
    legend.setTitle("Land cover")
    legend.setLinkedMap(mp)
    legend.setAutoUpdateModel(False)
    root = legend.model().rootGroup()
    root.clear()
    node = root.addLayer(layer)
    from qgis.core import QgsLegendRenderer

    QgsLegendRenderer.setNodeLegendStyle(node, QgsLegendStyle.Style.Hidden)
    # keep the class entries only (QGIS puts a "Band 1: class (Palette)" line first for a raster)
    nodes = legend.model().layerLegendNodes(node)
    keep = [i for i, n in enumerate(nodes) if n.data(Qt.ItemDataRole.DisplayRole) in {c.name for c in run.classes}]
    if keep and len(keep) < len(nodes):
        QgsMapLayerLegendUtils.setLegendNodeOrder(node, keep)
        legend.model().refreshLayerLegend(node)
    legend.setStyleFont(QgsLegendStyle.Style.Title, QFont("DejaVu Sans", 12, QFont.Weight.Bold))
    legend.setStyleFont(QgsLegendStyle.Style.SymbolLabel, QFont("DejaVu Sans", 9))
    legend.setSymbolHeight(4.5)
    legend.setSymbolWidth(7)
    legend.setResizeToContents(True)
    layout.addLayoutItem(legend)
    legend.attemptMove(QgsLayoutPoint(legend_rect[0], legend_rect[1], MM))
    legend.adjustBoxSize()
    if orientation == "landscape":  # the table right under the legend
        # (the legend's own size is known only once rendered: 9 pt entries 4.5 mm high take ~7 mm each)
        legend_h = max(legend.sizeWithUnits().height(), 12.0 + 7.0 * len(keep or nodes))
        top_of_table = legend_rect[1] + legend_h + 6
        if top_of_table + table_rect[3] < table_rect[1] + table_rect[3]:
            table_rect = (table_rect[0], top_of_table, table_rect[2], table_rect[3])

    # area table with colour swatches
    table = QgsLayoutItemManualTable.create(layout)
    layout.addMultiFrame(table)
    rows = []
    for r in areas["rows"]:
        sw = QgsTableCell("")
        sw.setBackgroundColor(QColor(r["color"]))
        rows.append(
            [
                sw,
                QgsTableCell(r["class_name"]),
                QgsTableCell(f"{r['area_km2']:,.2f}"),
                QgsTableCell(f"{r['percent']:.1f}"),
            ]
        )
    tot = QgsTableCell("total")
    rows.append([QgsTableCell(""), tot, QgsTableCell(f"{areas['total_km2']:,.2f}"), QgsTableCell("100.0")])
    table.setTableContents(rows)
    headers = []
    for text in ("", "Class", "km²", "%"):
        c = QgsLayoutTableColumn(text)
        headers.append(c)
    table.setHeaders(headers)
    table.setIncludeTableHeader(True)
    w = table_rect[2]
    table.setColumnWidths([5.0, w - 5.0 - 22 - 14 - 8 * 1.2, 22.0, 14.0])
    table.setContentTextFormat(_fmt(7.5))
    table.setHeaderTextFormat(_fmt(8, bold=True))
    table.setCellMargin(1.0)
    table.setGridStrokeWidth(0.15)
    table.setGridColor(QColor("#999999"))
    frame = QgsLayoutFrame(layout, table)
    frame.attemptSetSceneRect(QRectF(*table_rect))
    table.addFrame(frame)
    table.refresh()

    # credits
    crs = layer.crs().authid() or layer.crs().description()
    text = credits_text(run, crs, options.credits)
    credits_y = H - m - credits_h + 2
    if orientation == "landscape":  # right under the scale bar when the map frame got shorter
        credits_y = min(credits_y, max(map_rect[1] + map_rect[3] + 14, table_rect[1] + table_rect[3] + 4))
    else:  # under the legend and the table
        credits_y = min(credits_y, max(legend_rect[1] + 12 + 7.0 * n_rows, table_rect[1] + table_rect[3]) + 4)
    _label(layout, text, (m, credits_y, W - 2 * m, credits_h), 7 if W < 350 else 9, color="#444444")
    return layout


def export_map(
    run: RunInfo,
    outdir,
    options: Optional[MapOptions] = None,
    progress: Optional[ProgressFn] = None,
    is_cancelled: Optional[Callable[[], bool]] = None,
) -> list[Path]:
    """Lay out and write the map (PDF and/or PNG) into ``outdir``; returns the files written.
    ``progress(Progress)`` as every export (core/progress.py)."""
    options = options or MapOptions()
    validate_options(options)
    prog = ProgressSpan(progress, is_cancelled)
    names = map_names(run, options.formats)
    with Staging(outdir, overwrite=options.overwrite) as staging:
        staging.check_free(names.values())
        prog(0.05, "counting areas")
        areas = class_areas(run, prog.span(0.05, 0.3))
        project = QgsProject()
        layer = classes_layer(run)
        project.addMapLayer(layer)
        project.setCrs(layer.crs())  # the layout's project: its CRS is the map's (a fresh project has none)
        prog(0.35, "laying out the map")
        layout = build_layout(project, layer, run, areas, options)
        exporter = QgsLayoutExporter(layout)
        if "pdf" in names:
            prog(0.45, "writing the PDF")
            st = QgsLayoutExporter.PdfExportSettings()
            st.rasterizeWholeImage = False
            st.forceVectorOutput = False
            st.dpi = max(150, options.dpi)
            res = exporter.exportToPdf(str(staging.path(names["pdf"])), st)
            if res != QgsLayoutExporter.ExportResult.Success:
                raise ExportError(f"cannot write {names['pdf']}: {exporter.errorMessage() or 'QGIS layout error'}")
        prog.check()
        if "png" in names:
            prog(0.75, "writing the PNG")
            _write_png(exporter, staging.path(names["png"]), options.dpi)
        prog.check()
        layout = None
        project.removeAllMapLayers()
        files = staging.commit()
    prog(1.0, "map written")
    return files


def _write_png(exporter: QgsLayoutExporter, path: Path, dpi: int) -> None:
    """The page as a PNG picture. Not ``exportToImage``: QGIS 3.22 then georeferences the file by opening it with
    GDAL for update, which the PNG driver refuses ("ERROR 6: The PNG driver does not support update access"); a
    picture of a page with margins has no meaningful georeference anyway."""
    image = exporter.renderPageToImage(0, QSize(), dpi)
    dpm = int(round(dpi / 0.0254))
    image.setDotsPerMeterX(dpm)
    image.setDotsPerMeterY(dpm)
    if image.isNull() or not image.save(str(path), "PNG"):
        raise ExportError(f"cannot write {path.name}: QGIS rendered no image (out of memory at {dpi} dpi?)")


_HEADLESS: list = []


def start_headless_qgis() -> None:
    """A headless QgsApplication for a plain Python process (the CLI), unless one runs already."""
    if QgsApplication.instance() is not None:
        return
    if not os.environ.get("DISPLAY") and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    QgsApplication.setPrefixPath(os.environ.get("QGIS_PREFIX_PATH", "/usr"), True)
    app = QgsApplication([], False)
    app.initQgis()
    _HEADLESS.append(app)  # kept alive for the rest of the process


def export_map_headless(run: RunInfo, outdir, options: Optional[MapOptions] = None, progress=None) -> list[Path]:
    """:func:`export_map` from a plain Python process (the CLI)."""
    start_headless_qgis()
    return export_map(run, outdir, options, progress)
