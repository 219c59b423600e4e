"""The dock's workspace: one tab per page, in the order of :data:`.pages.PAGES`."""

from __future__ import annotations

from importlib import import_module
from typing import Optional

from qgis.PyQt.QtWidgets import QComboBox, QTabWidget, QVBoxLayout, QWidget

from ..toolbelt.log import log_error
from .pages import PAGES


class Workspace(QWidget):
    """A tab per page. ``page(object_name)`` finds one; ``shutdown`` releases them all.

    When the dock is too narrow for the tabs (a 300 px dock), a page selector (``selector``) stands in for
    the tab bar, so that no page hides behind scroll arrows.
    """

    def __init__(self, iface, parent=None):
        super().__init__(parent)
        self.setObjectName("EuroSatWorkspace")
        self.iface = iface
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("workspaceTabs")
        self.tabs.setDocumentMode(True)
        self.selector = QComboBox(self)
        self.selector.setObjectName("pageSelector")
        self.selector.setToolTip("The workspace's pages (the dock is too narrow for their tabs)")
        self.selector.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.selector)
        layout.addWidget(self.tabs)
        self.pages: list = []
        for module, class_name in PAGES:
            page_class = getattr(import_module(module, __package__), class_name)
            page = page_class(iface, self, self.tabs)
            self.pages.append(page)
            self.tabs.addTab(page, page.title)
            page.fit_narrow()
            self.selector.addItem(page.title.replace("&&", "&"))
        self._current = self.tabs.currentWidget()
        self.tabs.currentChanged.connect(self._page_changed)
        self.tabs.currentChanged.connect(self.selector.setCurrentIndex)
        self.selector.currentIndexChanged.connect(self.tabs.setCurrentIndex)

    def resizeEvent(self, event):  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        narrow = self.tabs.tabBar().sizeHint().width() > event.size().width()
        self.tabs.tabBar().setVisible(not narrow)
        self.selector.setVisible(narrow)

    def _page_changed(self, _index: int) -> None:
        """Tell the page the analyst left (its canvas marks go)."""
        try:
            previous, self._current = self._current, self.tabs.currentWidget()
        except RuntimeError:  # the workspace is being deleted
            return
        if previous is not None and previous is not self._current:
            try:
                previous.left()
            except Exception as exc:  # one page failing must not break the tabs
                log_error(f"{previous.title}: leaving the page failed: {exc}")

    def page(self, object_name: str) -> Optional[QWidget]:
        return next((p for p in self.pages if p.objectName() == object_name), None)

    def show_page(self, object_name: str) -> Optional[QWidget]:
        """Bring a page to the front and return it (None if there is no such page)."""
        page = self.page(object_name)
        if page is not None:
            self.tabs.setCurrentWidget(page)
        return page

    def shutdown(self) -> None:
        for page in self.pages:
            try:
                page.shutdown()
            except Exception as exc:  # one page failing to stop must not keep the others running
                log_error(f"{page.title}: shutdown failed: {exc}")
