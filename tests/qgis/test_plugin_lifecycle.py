"""classFactory -> initGui -> the dock opens -> unload leaves nothing behind, in the real QGIS."""

import eurosat_landcover
from eurosat_landcover.__about__ import PLUGIN_NAME
from qgis.core import QgsApplication
from qgis.gui import QgsDockWidget
from qgis.PyQt import sip
from qgis.PyQt.QtWidgets import QAction

from .conftest import flush_deletes


def _plugin_actions(window):
    return [a for a in window.findChildren(QAction) if a.objectName() == "eurosatLandCoverAction"]


def _our_docks(window):
    return [
        d
        for d in window.findChildren(QgsDockWidget)
        if not sip.isdeleted(d) and d.objectName() == "EuroSatLandCoverDock"
    ]


def test_init_gui_adds_button_and_raster_menu_entry(iface):
    plugin = eurosat_landcover.classFactory(iface)
    plugin.initGui()
    try:
        toolbar_actions = iface.calls.plugins_toolbar().actions()
        assert plugin.action in toolbar_actions
        assert f"&{PLUGIN_NAME}" in iface.calls.raster_submenu_titles()
        assert not plugin.action.icon().isNull()
    finally:
        plugin.unload()


def test_action_opens_and_closes_the_dock(iface):
    window = iface.mainWindow()
    plugin = eurosat_landcover.classFactory(iface)
    plugin.initGui()
    try:
        plugin.action.trigger()  # checkable: first trigger opens
        docks = _our_docks(window)
        assert len(docks) == 1
        dock = docks[0]
        assert window.dockWidgetArea(dock) != 0, "the dock was not added to the main window"
        assert dock.isVisibleTo(window)
        assert dock.widget() is not None
        plugin.action.trigger()
        assert not dock.isVisibleTo(window)
        dock.show()  # closing/opening the dock itself keeps the button in step
        assert plugin.action.isChecked()
    finally:
        plugin.unload()


def test_unload_removes_everything(iface):
    window = iface.mainWindow()
    canvas = iface.mapCanvas()
    tool_before = canvas.mapTool()
    providers_before = {p.id() for p in QgsApplication.processingRegistry().providers()}

    plugin = eurosat_landcover.classFactory(iface)
    plugin.initGui()
    plugin.action.trigger()
    assert _our_docks(window)
    plugin.unload()
    flush_deletes()

    assert _plugin_actions(window) == []
    assert all(a.objectName() != "eurosatLandCoverAction" for a in iface.calls.plugins_toolbar().actions())
    assert f"&{PLUGIN_NAME}" not in iface.calls.raster_submenu_titles()
    assert _our_docks(window) == []
    assert canvas.mapTool() is tool_before
    providers_after = {p.id() for p in QgsApplication.processingRegistry().providers()}
    assert providers_after == providers_before
    assert plugin.dock is None and plugin.action is None and plugin.provider is None


def test_plugin_loads_twice_in_a_row(iface):
    """Reloading (as Plugin Reloader does) works: a second initGui/unload cycle is clean."""
    for _ in range(2):
        plugin = eurosat_landcover.classFactory(iface)
        plugin.initGui()
        plugin.action.trigger()
        plugin.unload()
    flush_deletes()
    assert _plugin_actions(iface.mainWindow()) == []
