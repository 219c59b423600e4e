"""EuroSAT Land Cover: QGIS plugin entry point.

Nothing heavy is imported here: torch and the models load lazily, so the plugin can load
and explain a missing dependency instead of failing.
"""


def classFactory(iface):  # noqa: N802 (QGIS API name)
    """Return the plugin instance QGIS asks for."""
    from .plugin import EuroSatLandCoverPlugin

    return EuroSatLandCoverPlugin(iface)
