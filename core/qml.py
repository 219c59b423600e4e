"""QGIS styles (QML) for the engine's rasters: paletted classes, viridis confidence."""

from __future__ import annotations

from xml.sax.saxutils import escape

VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]


def _hex_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


# ---------------------------------------------------------------------- QML styles
_QML_HEAD = """<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.0" styleCategories="AllStyleCategories" hasScaleBasedVisibilityFlag="0">
  <pipe>
"""
_QML_TAIL = """    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" colorizeOn="0" grayscaleMode="0" colorizeStrength="100"
                   colorizeRed="255" colorizeGreen="128" colorizeBlue="128"/>
    <rasterresampler maxOversampling="2"/>
    <resamplingStage>resamplingFilter</resamplingStage>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def _attr(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def qml_paletted(card) -> str:
    entries = "\n".join(
        f'        <paletteEntry value="{i}" color="{c.color}" label="{_attr(c.name)}" alpha="255"/>'
        for i, c in enumerate(card.classes)
    )
    return (
        _QML_HEAD
        + '    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">\n'
        + "      <rasterTransparency/>\n"
        + "      <minMaxOrigin><limits>None</limits><extent>WholeRaster</extent><statAccuracy>Estimated</statAccuracy>"
        + "<cumulativeCutLower>0.02</cumulativeCutLower><cumulativeCutUpper>0.98</cumulativeCutUpper>"
        + "<stdDevFactor>2</stdDevFactor></minMaxOrigin>\n"
        + "      <colorPalette>\n"
        + entries
        + "\n      </colorPalette>\n"
        + "    </rasterrenderer>\n"
        + _QML_TAIL
    )


def qml_pseudocolor(band: int = 1, label: str = "") -> str:
    """Viridis ramp over 0..1 (values as QGIS shows them: uint8 outputs carry scale 1/254)."""
    n = len(VIRIDIS)
    items = "\n".join(
        f'          <item value="{i / (n - 1):g}" color="{c}" label="{i / (n - 1):.2f}" alpha="255"/>'
        for i, c in enumerate(VIRIDIS)
    )
    stops = ":".join(f"{i / (n - 1):g};{_rgba(c)}" for i, c in list(enumerate(VIRIDIS))[1:-1])
    return (
        _QML_HEAD
        + f'    <rasterrenderer type="singlebandpseudocolor" band="{band}" opacity="1" alphaBand="-1" '
        + 'classificationMin="0" classificationMax="1" nodataColor="">\n'
        + "      <rasterTransparency/>\n"
        + "      <minMaxOrigin><limits>None</limits><extent>WholeRaster</extent><statAccuracy>Estimated</statAccuracy>"
        + "<cumulativeCutLower>0.02</cumulativeCutLower><cumulativeCutUpper>0.98</cumulativeCutUpper>"
        + "<stdDevFactor>2</stdDevFactor></minMaxOrigin>\n"
        + "      <rastershader>\n"
        + '        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" '
        + 'minimumValue="0" maximumValue="1" labelPrecision="2">\n'
        + '          <colorramp type="gradient" name="[source]">\n'
        + f'            <prop k="color1" v="{_rgba(VIRIDIS[0])}"/>\n'
        + f'            <prop k="color2" v="{_rgba(VIRIDIS[-1])}"/>\n'
        + '            <prop k="discrete" v="0"/>\n'
        + '            <prop k="rampType" v="gradient"/>\n'
        + f'            <prop k="stops" v="{stops}"/>\n'
        + "          </colorramp>\n"
        + items
        + "\n        </colorrampshader>\n"
        + "      </rastershader>\n"
        + "    </rasterrenderer>\n"
        + _QML_TAIL
    )


def _rgba(color: str) -> str:
    r, g, b = _hex_rgb(color)
    return f"{r},{g},{b},255"
