"""Styles written beside the exports: QML (QGIS) and SLD (GeoServer, QGIS, ArcGIS Pro, ...).

Raster QML comes from :mod:`core.qml` (the engine's own styles); this module adds what the
engine does not write: SLD for rasters, and QML + SLD for the land-cover polygons (a categorized
renderer on ``class_code`` in the class colours).
"""

from __future__ import annotations

from types import SimpleNamespace
from xml.sax.saxutils import escape

from .. import writers

SLD_NS = (
    'xmlns="http://www.opengis.net/sld" xmlns:ogc="http://www.opengis.net/ogc" '
    'xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://www.opengis.net/sld http://schemas.opengis.net/sld/1.0.0/StyledLayerDescriptor.xsd"'
)


def _a(text) -> str:
    return escape(str(text), {'"': "&quot;"})


def _rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _darker(color: str, f: float = 0.6) -> str:
    r, g, b = _rgb(color)
    return f"#{int(r * f):02x}{int(g * f):02x}{int(b * f):02x}"


def qml_classes(classes) -> str:
    """Paletted QML for a class raster: :func:`core.qml.qml_paletted` (codes 0..n-1, the engine's case)."""
    by_code = {c.code: c for c in classes}
    n = max(by_code) + 1 if by_code else 0
    padded = [by_code.get(i) or SimpleNamespace(name=f"class {i}", color="#000000") for i in range(n)]
    qml = writers.qml_paletted(SimpleNamespace(classes=padded))
    for i in range(n):  # codes without a class (not in the raster's table) are not drawn
        if i not in by_code:
            qml = qml.replace(f'value="{i}" color="#000000" label="class {i}" alpha="255"', f'value="{i}" alpha="0"')
    return qml


def qml_ramp() -> str:
    """Viridis 0..1 (the engine's confidence/probability style)."""
    return writers.qml_pseudocolor(1)


def _sld(name: str, title: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<StyledLayerDescriptor version="1.0.0" {SLD_NS}>\n'
        f"  <NamedLayer>\n    <Name>{_a(name)}</Name>\n    <UserStyle>\n      <Name>{_a(name)}</Name>\n"
        f"      <Title>{_a(title)}</Title>\n      <FeatureTypeStyle>\n{body}      </FeatureTypeStyle>\n"
        "    </UserStyle>\n  </NamedLayer>\n</StyledLayerDescriptor>\n"
    )


def sld_classes(name: str, classes) -> str:
    """Raster SLD: a ColorMap of type "values", one entry (colour, label) per class code."""
    entries = "".join(
        f'              <ColorMapEntry color="{c.color}" quantity="{c.code}" label="{_a(c.name)}" opacity="1"/>\n'
        for c in sorted(classes, key=lambda c: c.code)
    )
    body = (
        "        <Rule>\n          <RasterSymbolizer>\n            <Opacity>1</Opacity>\n"
        f'            <ColorMap type="values">\n{entries}            </ColorMap>\n'
        "          </RasterSymbolizer>\n        </Rule>\n"
    )
    return _sld(name, "land cover", body)


def sld_ramp(name: str, title: str, stored_max: float) -> str:
    """Raster SLD: viridis over 0..1, as stored values (``stored_max`` = 254 for the uint8 encoding, 1 for float)."""
    n = len(writers.VIRIDIS)
    entries = "".join(
        f'              <ColorMapEntry color="{c}" quantity="{stored_max * i / (n - 1):g}" '
        f'label="{i / (n - 1):.2f}" opacity="1"/>\n'
        for i, c in enumerate(writers.VIRIDIS)
    )
    body = (
        "        <Rule>\n          <RasterSymbolizer>\n            <Opacity>1</Opacity>\n"
        f'            <ColorMap type="ramp">\n{entries}            </ColorMap>\n'
        "          </RasterSymbolizer>\n        </Rule>\n"
    )
    return _sld(name, title, body)


def sld_polygons(name: str, classes, field: str = "class_code") -> str:
    """Vector SLD: one rule per class (filter on ``field``), fill in the class colour."""
    rules = "".join(
        "        <Rule>\n"
        f"          <Name>{_a(c.name)}</Name>\n          <Title>{_a(c.name)}</Title>\n"
        "          <ogc:Filter><ogc:PropertyIsEqualTo>"
        f"<ogc:PropertyName>{field}</ogc:PropertyName><ogc:Literal>{c.code}</ogc:Literal>"
        "</ogc:PropertyIsEqualTo></ogc:Filter>\n"
        "          <PolygonSymbolizer>\n"
        f'            <Fill><CssParameter name="fill">{c.color}</CssParameter></Fill>\n'
        f'            <Stroke><CssParameter name="stroke">{_darker(c.color)}</CssParameter>'
        '<CssParameter name="stroke-width">0.3</CssParameter></Stroke>\n'
        "          </PolygonSymbolizer>\n        </Rule>\n"
        for c in sorted(classes, key=lambda c: c.code)
    )
    return _sld(name, "land cover polygons", rules)


def _rgba(color: str) -> str:
    return ",".join(map(str, _rgb(color))) + ",255"


def qml_polygons(classes, field: str = "class_code") -> str:
    """Vector QML: categorized renderer on ``field`` with the class names as labels and colours as fills."""
    ordered = sorted(classes, key=lambda c: c.code)
    cats = "".join(
        f'      <category render="true" symbol="{i}" value="{c.code}" label="{_a(c.name)}" type="integer"/>\n'
        for i, c in enumerate(ordered)
    )
    syms = "".join(
        f'      <symbol type="fill" name="{i}" alpha="1" clip_to_extent="1" force_rhr="0">\n'
        '        <layer class="SimpleFill" enabled="1" locked="0" pass="0">\n'
        '          <Option type="Map">\n'
        f'            <Option name="color" type="QString" value="{_rgba(c.color)}"/>\n'
        '            <Option name="joinstyle" type="QString" value="miter"/>\n'
        f'            <Option name="outline_color" type="QString" value="{_rgba(_darker(c.color))}"/>\n'
        '            <Option name="outline_style" type="QString" value="solid"/>\n'
        '            <Option name="outline_width" type="QString" value="0.1"/>\n'
        '            <Option name="outline_width_unit" type="QString" value="MM"/>\n'
        '            <Option name="style" type="QString" value="solid"/>\n'
        "          </Option>\n"
        f'          <prop k="color" v="{_rgba(c.color)}"/>\n'
        '          <prop k="joinstyle" v="miter"/>\n'
        f'          <prop k="outline_color" v="{_rgba(_darker(c.color))}"/>\n'
        '          <prop k="outline_style" v="solid"/>\n'
        '          <prop k="outline_width" v="0.1"/>\n'
        '          <prop k="outline_width_unit" v="MM"/>\n'
        '          <prop k="style" v="solid"/>\n'
        "        </layer>\n      </symbol>\n"
        for i, c in enumerate(ordered)
    )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.22.0" styleCategories="Symbology|Labeling|Fields|Forms|AttributeTable">\n'
        f'  <renderer-v2 type="categorizedSymbol" attr="{field}" symbollevels="0" enableorderby="0" '
        'forceraster="0" referencescale="-1">\n'
        f"    <categories>\n{cats}    </categories>\n"
        f"    <symbols>\n{syms}    </symbols>\n"
        "    <rotation/>\n    <sizescale/>\n"
        "  </renderer-v2>\n"
        "  <aliases>\n"
        '    <alias field="class_code" index="1" name="Class code"/>\n'
        '    <alias field="class_name" index="2" name="Class"/>\n'
        '    <alias field="color" index="3" name="Colour"/>\n'
        '    <alias field="area_ha" index="4" name="Area (ha)"/>\n'
        '    <alias field="confidence" index="5" name="Mean confidence"/>\n'
        "  </aliases>\n"
        '  <previewExpression>"class_name"</previewExpression>\n'
        "  <layerGeometryType>2</layerGeometryType>\n"
        "</qgis>\n"
    )
