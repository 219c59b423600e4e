"""QGIS fixtures on top of pytest-qgis.

pytest-qgis's `qgis_iface` accepts toolbar, menu and dock calls without doing anything, so a plugin
that forgot to remove its button would go unnoticed. `iface` makes those calls act on the real
QMainWindow of `qgis_iface` the way QGIS does, so tests can look for what a plugin leaves behind.

Shared by the page tests: `model_card`, `clean_settings` and `logged` (from landcover_helpers), `scene` (a
192 px RGB GeoTIFF layer in a new project), `dock` (the real dock in the main window, with the test
model) and `classify_page` (its Classify page).
"""

import pytest
from qgis.core import QgsMapLayer, QgsProject, QgsRasterLayer
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QCoreApplication, QEvent, QObject, Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QMenu, QToolBar

from .landcover_helpers import clean_settings, default_card_path, logged, model_card, write_rgb_geotiff  # noqa: F401


@pytest.fixture(autouse=True)
def _no_remembered_settings(clean_settings):  # noqa: F811
    """Every QGIS test starts without the plugin's settings: they persist in the test profile
    (.qgis-settings) between runs, and a folder remembered by an earlier run once made the Assess page
    ask a modal question in the next run, which hung the suite."""
    yield


PLUGINS_TOOLBAR = "mPluginToolBar"
RASTER_MENU = "mRasterMenu"


class _MainWindowCalls:
    """QgisInterface toolbar/menu/dock methods implemented on a real QMainWindow."""

    def __init__(self, main_window):
        self.window = main_window

    def plugins_toolbar(self) -> QToolBar:
        bar = self.window.findChild(QToolBar, PLUGINS_TOOLBAR)
        if bar is None:
            bar = QToolBar("Plugins", self.window)
            bar.setObjectName(PLUGINS_TOOLBAR)
            self.window.addToolBar(bar)
        return bar

    def raster_menu(self) -> QMenu:
        menu = self.window.menuBar().findChild(QMenu, RASTER_MENU)
        if menu is None:
            menu = self.window.menuBar().addMenu("&Raster")
            menu.setObjectName(RASTER_MENU)
        return menu

    def raster_submenu_titles(self) -> list:
        """Titles of the plugin submenus now under Raster (deleted ones excluded)."""
        return [m.title() for m in self.raster_menu().findChildren(QMenu) if not sip.isdeleted(m)]

    def add_toolbar_icon(self, action):
        self.plugins_toolbar().addAction(action)

    def remove_toolbar_icon(self, action):
        self.plugins_toolbar().removeAction(action)

    def add_to_raster_menu(self, name, action):
        menu = self.raster_menu()
        sub = next((m for m in menu.findChildren(QMenu) if m.title() == name), None)
        if sub is None:
            sub = menu.addMenu(name)
        sub.addAction(action)

    def remove_from_raster_menu(self, name, action):
        menu = self.raster_menu()
        for sub in menu.findChildren(QMenu):
            if sub.title() == name:
                sub.removeAction(action)
                if not sub.actions():  # QGIS drops a plugin's submenu once it is empty
                    menu.removeAction(sub.menuAction())
                    sub.deleteLater()

    def add_dock(self, area, dock):
        self.window.addDockWidget(area, dock)

    def remove_dock(self, dock):
        self.window.removeDockWidget(dock)


class _ActiveLayerSignal(QObject):
    """QgisInterface.currentLayerChanged as QGIS declares it: the new active layer (pytest-qgis's
    carries a map canvas, which a slot reading it as a layer cannot use)."""

    currentLayerChanged = pyqtSignal(QgsMapLayer)  # noqa: N815 (QGIS API)


@pytest.fixture
def iface(qgis_iface, monkeypatch):
    """`qgis_iface` whose toolbar, Raster menu and dock calls change its real main window, and whose
    setActiveLayer(layer) emits currentLayerChanged(layer) as QGIS does."""
    calls = _MainWindowCalls(qgis_iface.mainWindow())
    active = _ActiveLayerSignal()
    set_active = qgis_iface.setActiveLayer

    def set_active_layer(layer):
        set_active(layer)
        active.currentLayerChanged.emit(layer)
        return True

    monkeypatch.setattr(qgis_iface, "currentLayerChanged", active.currentLayerChanged, raising=False)
    monkeypatch.setattr(qgis_iface, "setActiveLayer", set_active_layer, raising=False)
    monkeypatch.setattr(qgis_iface, "addToolBarIcon", calls.add_toolbar_icon, raising=False)
    monkeypatch.setattr(qgis_iface, "removeToolBarIcon", calls.remove_toolbar_icon, raising=False)
    monkeypatch.setattr(qgis_iface, "addPluginToRasterMenu", calls.add_to_raster_menu, raising=False)
    monkeypatch.setattr(qgis_iface, "removePluginRasterMenu", calls.remove_from_raster_menu, raising=False)
    monkeypatch.setattr(qgis_iface, "addDockWidget", calls.add_dock, raising=False)
    monkeypatch.setattr(qgis_iface, "removeDockWidget", calls.remove_dock, raising=False)
    qgis_iface.calls = calls
    qgis_iface.active_layer_signal = active  # kept alive with the interface
    qgis_iface.messageBar().clear_messages()
    qgis_iface.mainWindow().show()  # as in QGIS: docks get show/visibility events
    yield qgis_iface
    flush_deletes()
    del qgis_iface.calls
    del qgis_iface.active_layer_signal


def flush_deletes():
    """Run pending deleteLater() calls, as the event loop would."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()


@pytest.fixture
def scene(qgis_new_project, tmp_path):
    """A 192 x 192 px, 10 m, 8-bit RGB GeoTIFF (UTM 32N) as a layer of a new project."""
    layer = QgsRasterLayer(str(write_rgb_geotiff(tmp_path / "scene.tif")), "scene")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    return layer


@pytest.fixture
def dock(iface, qgis_new_project, clean_settings, model_card):  # noqa: F811
    """The plugin's dock in the main window, its Classify page on the test model; shut down after."""
    from eurosat_landcover.ui.dock import LandCoverDock

    dock = LandCoverDock(iface, iface.mainWindow())
    iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    dock.show()
    if model_card != default_card_path():
        assert dock.panel.model.add_model(str(model_card))
    yield dock
    dock.shutdown()
    iface.removeDockWidget(dock)
    dock.deleteLater()


@pytest.fixture
def classify_page(dock):
    """The dock's Classify page (ui/classify/page.py)."""
    return dock.panel


@pytest.fixture
def provider(qgis_processing):
    """The plugin's Processing provider, registered for the test (and removed after, if the test added it)."""
    from eurosat_landcover.eurosat_processing.provider import PROVIDER_ID, LandCoverProvider
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    added = None
    if registry.providerById(PROVIDER_ID) is None:
        added = LandCoverProvider()
        assert registry.addProvider(added)
    yield registry.providerById(PROVIDER_ID)
    if added is not None:
        registry.removeProvider(added)
