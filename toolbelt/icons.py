"""The plugin's icons, loaded from the files that resources.qrc lists."""

from qgis.PyQt.QtGui import QIcon

from ..__about__ import PLUGIN_DIR


def icon(name: str) -> QIcon:
    """QIcon for `icons/<name>` (e.g. "icon.svg")."""
    return QIcon(str(PLUGIN_DIR / "icons" / name))
