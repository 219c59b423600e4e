"""The class probabilities as a sorted bar chart in the class colours (painted with QPainter)."""

from __future__ import annotations

from typing import Optional

from qgis.PyQt.QtCore import QRectF, QSize, Qt
from qgis.PyQt.QtGui import QColor, QFont, QFontMetrics, QPainter
from qgis.PyQt.QtWidgets import QSizePolicy, QWidget

ROW_H = 18


class ProbabilityChart(QWidget):
    """One bar per class, highest first: the name, a bar in the class colour, the percentage.

    ``rows`` (for tests and the caption) is what is drawn, in order: [(name, probability, colour)].
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("probabilityChart")
        self.rows: list[tuple[str, float, str]] = []
        self.highlight: Optional[str] = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(ROW_H * 10 + 6)

    def set_probabilities(self, names, colors, probabilities, highlight: Optional[str] = None) -> None:
        rows = [(str(n), float(p), str(c)) for n, c, p in zip(names, colors, probabilities)]
        self.rows = sorted(rows, key=lambda r: -r[1])
        self.highlight = highlight
        self.setMinimumHeight(ROW_H * max(1, len(self.rows)) + 6)
        self.update()

    def clear(self) -> None:
        self.rows = []
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(260, ROW_H * max(10, len(self.rows)) + 6)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(200, self.minimumHeight())

    def name_width(self) -> int:
        """The name column's width: room for every name in bold (the highlighted one is bold)."""
        bold = QFont(self.font())
        bold.setBold(True)
        fm = QFontMetrics(bold)
        return max((fm.horizontalAdvance(n) for n, _, _ in self.rows), default=0) + 8

    def paintEvent(self, event):  # noqa: N802 (Qt API)
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            fm = QFontMetrics(self.font())
            if not self.rows:
                painter.setPen(self.palette().color(self.foregroundRole()))
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Click the map to inspect a window")
                return
            name_w = self.name_width()
            pct_w = fm.horizontalAdvance("100.0 %") + 6
            bar_x = name_w
            bar_w = max(20, self.width() - name_w - pct_w - 4)
            for i, (name, p, color) in enumerate(self.rows):
                y = 3 + i * ROW_H
                text_color = self.palette().color(self.foregroundRole())
                font = painter.font()
                font.setBold(name == self.highlight)
                painter.setFont(font)
                painter.setPen(text_color)
                painter.drawText(
                    QRectF(0, y, name_w - 6, ROW_H), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name
                )
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QColor(225, 225, 225))
                painter.drawRect(QRectF(bar_x, y + 3, bar_w, ROW_H - 6))
                painter.setBrush(QColor(color))
                painter.drawRect(QRectF(bar_x, y + 3, max(1.0, bar_w * p), ROW_H - 6))
                painter.setPen(text_color)
                painter.drawText(
                    QRectF(bar_x + bar_w + 4, y, pct_w, ROW_H),
                    Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                    f"{100 * p:.1f} %",
                )
        finally:
            painter.end()
