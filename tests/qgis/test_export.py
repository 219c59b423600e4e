"""Exports opened in a real QgsProject: styled rasters (QML sidecars), the GeoPackage's default style,
SLDs, Shapefile/GeoJSON sidecars, and the print layout rendered to PDF (pdftoppm) and PNG."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtGui import QColor, QImage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from eurosat_landcover.core.export import ExportCancelled, ExportOptions, export_run, load_run
from eurosat_landcover.qgis_bridge.print_layout import MapOptions, export_map
from export_testlib import CLASSES, write_run


@pytest.fixture
def run(tmp_path):
    return write_run(tmp_path / "run")


def _palette(layer):
    return [(c.label, c.color.name()) for c in layer.renderer().classes()]


def _categories(layer):
    return [(c.label(), c.symbol().color().name()) for c in layer.renderer().categories()]


@pytest.mark.parametrize("fmt", ["gtiff", "cog"])
def test_styled_rasters_open_styled(qgis_new_project, run, tmp_path, fmt):
    out = tmp_path / "out"
    export_run(run, out, ExportOptions(what=("raster",), raster_format=fmt))
    layer = QgsRasterLayer(str(out / "demo_landcover.tif"), "lc")  # the .qml beside it is its default style
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    assert layer.renderer().type() == "paletted"
    assert _palette(layer) == CLASSES
    conf = QgsRasterLayer(str(out / "demo_landcover_confidence.tif"), "conf")
    assert conf.isValid() and conf.renderer().type() == "singlebandpseudocolor"
    assert conf.renderer().classificationMax() == pytest.approx(1.0)


def test_polygons_open_styled_in_qgis(qgis_new_project, run, tmp_path):
    out = tmp_path / "out"
    res = export_run(run, out, ExportOptions(what=("polygons",), mmu_ha=2, dissolve=True))
    layer = QgsVectorLayer(f"{out / 'demo_landcover_polygons.gpkg'}|layername=demo_landcover", "poly", "ogr")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    # the GeoPackage's default style (layer_styles) was loaded with the layer
    assert layer.renderer().type() == "categorizedSymbol"
    assert layer.renderer().classAttribute() == "class_code"
    present = set(res.polygons["area_ha"])
    assert [c for c in _categories(layer)] == CLASSES
    names = {f["class_name"] for f in layer.getFeatures()}
    assert names == present
    for f in layer.getFeatures():
        assert f["color"] == dict(CLASSES)[f["class_name"]]
    count, _ids, names_db, _descs, _err = layer.listStylesInDatabase()
    assert count == 1 and names_db == ["demo_landcover"]
    # the SLD parses in QGIS too
    sld_layer = QgsVectorLayer(f"{out / 'demo_landcover_polygons.gpkg'}|layername=demo_landcover", "sld", "ogr")
    (tmp_path / "p.sld").write_text(
        __import__("sqlite3")
        .connect(out / "demo_landcover_polygons.gpkg")
        .execute("select styleSLD from layer_styles")
        .fetchone()[0],
        encoding="utf-8",
    )
    msg, ok = sld_layer.loadSldStyle(str(tmp_path / "p.sld"))
    assert ok, msg
    assert sld_layer.renderer().type() == "RuleRenderer"
    rules = sld_layer.renderer().rootRule().children()
    assert [(r.label(), r.symbol().color().name()) for r in rules] == CLASSES


@pytest.mark.parametrize("fmt,ext", [("shp", ".shp"), ("geojson", ".geojson")])
def test_sidecar_styles_load(qgis_new_project, run, tmp_path, fmt, ext):
    out = tmp_path / "out"
    export_run(run, out, ExportOptions(what=("polygons",), vector_format=fmt))
    layer = QgsVectorLayer(str(out / f"demo_landcover_polygons{ext}"), "p", "ogr")
    assert layer.isValid()
    assert layer.renderer().type() == "categorizedSymbol" and _categories(layer) == CLASSES


def _class_colours_in(img: QImage, step: int = 3) -> set:
    found = set()
    want = {QColor(c).rgb() & 0xFFFFFF: n for n, c in CLASSES}
    for y in range(0, img.height(), step):
        for x in range(0, img.width(), step):
            rgb = img.pixel(x, y) & 0xFFFFFF
            if rgb in want:
                found.add(want[rgb])
    return found


@pytest.mark.parametrize("orientation,page", [("landscape", "A4"), ("portrait", "A3")])
def test_print_layout_pdf_and_png(qgis_new_project, run, tmp_path, orientation, page):
    out = tmp_path / "out"
    before = list(QgsProject.instance().mapLayers())
    files = export_map(
        load_run(run), out, MapOptions(title="Test map", page_size=page, orientation=orientation, dpi=60)
    )
    assert sorted(f.name for f in files) == ["demo_landcover_map.pdf", "demo_landcover_map.png"]
    assert list(QgsProject.instance().mapLayers()) == before  # the user's project gains nothing
    png = QImage(str(out / "demo_landcover_map.png"))
    assert not png.isNull()
    assert (png.width() > png.height()) == (orientation == "landscape")
    assert len(_class_colours_in(png)) >= 8  # the map is drawn in the class colours
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", "-singlefile", str(out / "demo_landcover_map.pdf"), str(tmp_path / "pdf")],
        check=True,
    )
    img = QImage(str(tmp_path / "pdf.png"))
    assert not img.isNull() and len(_class_colours_in(img, 2)) >= 8
    arr = np.frombuffer(
        bytes(img.convertToFormat(QImage.Format.Format_Grayscale8).constBits().asarray(img.width() * img.height())),
        np.uint8,
    )
    assert (arr < 80).mean() > 0.01  # text, frame, table lines: the page is not blank


def test_map_cancel_and_overwrite(qgis_new_project, run, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ExportCancelled):
        export_map(load_run(run), out, MapOptions(dpi=50), is_cancelled=lambda: True)
    assert list(out.iterdir()) == []
    export_map(load_run(run), out, MapOptions(dpi=50, formats=("png",)))
    from eurosat_landcover.core.export import ExportError

    with pytest.raises(ExportError, match="already exist"):
        export_map(load_run(run), out, MapOptions(dpi=50, formats=("png",)))
    assert [p.name for p in out.iterdir()] == ["demo_landcover_map.png"]


def test_cli_map_uses_qgis(qgis_new_project, run, tmp_path, capsys):
    import json

    from eurosat_landcover import cli

    out = tmp_path / "out"
    code = cli.main(["export", str(run), str(out), "--what", "map,report", "--page-size", "A5", "--dpi", "40"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    data = json.loads(cap.out)
    assert [Path(p).name for p in data["map"]] == ["demo_landcover_map.pdf", "demo_landcover_map.png"]
    assert (out / "demo_landcover_report.html").is_file()
    code = cli.main(["export", str(run), str(out), "--what", "map", "--page-size", "B99", "--overwrite"])
    assert code == 2 and "unknown page size 'B99'" in capsys.readouterr().err
    assert not list(out.glob(".export-*"))


def test_map_export_prints_no_gdal_or_proj_error(run, tmp_path):
    """Issue 25 item 14: `export --what map` printed "proj_create: unrecognized format" four times (the layout's
    map item measured its scale before it had a CRS, in a project without one) and GDAL's "ERROR 6: The PNG
    driver does not support update access" (QGIS 3.22 georeferences an exported image by opening it for update).
    A child process, as the analyst runs it: what GDAL and PROJ print reaches its stderr."""
    import os

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "eurosat_landcover", "export", str(run), str(out), "--what", "map", "--dpi", "40"]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "proj_create" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr
    png = QImage(str(out / "demo_landcover_map.png"))
    assert not png.isNull() and round(png.dotsPerMeterX() * 0.0254) == 40


def test_pdf_map_quotes_this_maps_assessed_accuracy(qgis_new_project, run, tmp_path):
    """The PDF's credits separate the model's EuroSAT patch accuracy from the map's assessed accuracy."""
    import json

    (run.parent / "demo_classes_assessment.json").write_text(
        json.dumps(
            {
                "map": "demo_classes.tif",
                "overall_accuracy": 0.756,
                "n": 412,
                "adjusted_area": {"Forest": {"area_km2": 2.5, "ci95_km2": 0.4}},
            }
        )
    )
    export_map(load_run(run), tmp_path / "out", MapOptions(title="Test map", dpi=60))
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "out" / "demo_landcover_map.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(text.split())
    assert "this map's assessed accuracy 75.6 %" in flat and "accuracy on EuroSAT test patches 98.7 %" in flat
    assert "held-out test accuracy" not in flat
