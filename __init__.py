"""EuroSAT Land Cover: QGIS plugin entry point.

Nothing heavy is imported here: torch and the models load lazily, so the plugin can load
and explain a missing dependency instead of failing. The folder where the plugin's installer
puts torch & co. (toolbelt/deps_folder.py) goes on the import path first.
"""


def classFactory(iface):  # noqa: N802 (QGIS API name)
    """Return the plugin instance QGIS asks for."""
    from .toolbelt.deps_folder import add_to_sys_path

    add_to_sys_path()
    from .plugin import EuroSatLandCoverPlugin

    return EuroSatLandCoverPlugin(iface)
