"""Processing's FORMAT enums, the map's ORIENTATION enum and the Export page's check boxes and combos
are the registry's entries (core/export/formats.py), in its order: a format added there appears
everywhere, and one can no longer be forgotten in one of four lists."""

from __future__ import annotations

from eurosat_landcover.core.export import formats
from eurosat_landcover.eurosat_processing.provider import PROVIDER_ID
from qgis.core import QgsApplication


def _enum(alg_id: str, name: str):
    alg = QgsApplication.processingRegistry().algorithmById(f"{PROVIDER_ID}:{alg_id}")
    return alg.parameterDefinition(name)


def test_processing_enums_are_the_registry(provider):
    from eurosat_landcover.eurosat_processing import export_map, export_polygons, export_raster

    for alg_id, kind_id, module in (
        ("export_raster", "raster", export_raster),
        ("export_polygons", "polygons", export_polygons),
    ):
        param = _enum(alg_id, "FORMAT")
        kind = formats.kind(kind_id)
        assert param.options() == [f.description for f in kind.formats]
        assert param.defaultValue() == 0 and module.FORMAT_IDS[0] == kind.default_format
        # the enum's index picks the id at the same position
        assert list(kind.format_ids) == module.FORMAT_IDS
    assert _enum("export_map", "ORIENTATION").options() == list(formats.ORIENTATION_IDS)
    assert list(formats.ORIENTATION_IDS) == export_map.ORIENTATIONS


def test_export_page_lists_the_registry(iface, qgis_new_project, monkeypatch):
    from eurosat_landcover.ui.export.page import ExportPage
    from eurosat_landcover.ui.export.settings import PREFIX
    from qgis.core import QgsSettings

    QgsSettings().remove(PREFIX.rstrip("/"))
    for name in ("addCustomActionForLayer", "addCustomActionForLayerType", "removeCustomActionForLayerType"):
        monkeypatch.setattr(iface, name, lambda *a: None, raising=False)
    page = ExportPage(iface)
    try:
        o = page.options

        def items(combo):
            return [(combo.itemData(i), combo.itemText(i)) for i in range(combo.count())]

        assert items(o.raster_format) == [(f.id, f.label) for f in formats.kind("raster").formats]
        assert items(o.vector_format) == [(f.id, f.label) for f in formats.kind("polygons").formats]
        assert items(o.orientation) == list(formats.ORIENTATIONS)
        assert [(k, cb.text()) for k, cb in o.kinds.items()] == [(k.id, k.label) for k in formats.KINDS]
        # the defaults: every kind ticked, each kind's first format chosen
        assert o.what() == formats.WHAT
        assert (o.raster_format.currentData(), o.vector_format.currentData()) == ("gtiff", "gpkg")
    finally:
        page.shutdown()
        page.deleteLater()
        QgsSettings().remove(PREFIX.rstrip("/"))
