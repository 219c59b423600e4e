"""The base of every workspace page: a title, the QGIS interface, one notify call, a shutdown hook."""

from __future__ import annotations

from qgis.core import Qgis
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

from ..__about__ import PLUGIN_NAME
from ..toolbelt.log import log


class WorkspacePage(QWidget):
    """One page of the dock's workspace (Classify, Review & correct, Assess, Export, Explain).

    Subclasses set ``title`` (the tab text) and ``object_name`` (for tests and settings), build their
    widgets in ``__init__``, and release map tools, tasks and signal connections in ``shutdown``.
    ``workspace`` is the dock's :class:`~.workspace.Workspace`, through which a page can reach the
    others (e.g. the Classify page tells the workspace about a new result).
    """

    title = ""
    object_name = ""

    def __init__(self, iface, workspace=None, parent=None):
        super().__init__(parent)
        self.iface = iface
        self.workspace = workspace
        if self.object_name:
            self.setObjectName(self.object_name)

    def scrolling_body(self):
        """The page's content area, called once while building: a body that scrolls vertically (no
        frame, no horizontal scroll bar: long items must not widen the dock) filling the page;
        -> (body widget, its vertical layout)."""
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget(scroll)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(6)
        scroll.setWidget(body)
        outer.addWidget(scroll)
        return body, layout

    def push(self, text: str, level=Qgis.MessageLevel.Info, duration: int = 8) -> None:
        """The one log-and-notify call: the log tab always, the message bar when there is one."""
        log(text, level)
        bar = self.iface.messageBar() if self.iface is not None else None
        if bar is not None:
            bar.pushMessage(PLUGIN_NAME, text, level, duration)

    def shutdown(self) -> None:
        """Release map tools, cancel tasks, disconnect signals. Called once before the plugin unloads."""
