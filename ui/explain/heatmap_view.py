"""The patch as the model sees it, beside the same patch with its Grad-CAM heat map overlaid."""

from __future__ import annotations

from typing import Optional

import numpy as np
from qgis.PyQt.QtCore import QRect, QSize, Qt
from qgis.PyQt.QtGui import QImage, QPainter
from qgis.PyQt.QtWidgets import QSizePolicy, QWidget


def to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class HeatMapView(QWidget):
    """Two square panels: the model's view of the window, and the heat map over it at ``opacity``."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("heatMapView")
        self.patch: Optional[np.ndarray] = None
        self.heat: Optional[np.ndarray] = None
        self.opacity = 0.5
        self.message = "Click the map to inspect a window"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumHeight(140)

    def set_patch(self, rgb: Optional[np.ndarray], heat: Optional[np.ndarray] = None) -> None:
        self.patch, self.heat = rgb, heat
        self.update()

    def set_heat(self, heat: Optional[np.ndarray]) -> None:
        self.heat = heat
        self.update()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = max(0.0, min(1.0, float(opacity)))
        self.update()

    def set_message(self, text: str) -> None:
        self.message = text
        self.update()

    def overlaid(self) -> Optional[np.ndarray]:
        """The right panel's pixels (patch + heat map at the current opacity), or None."""
        if self.patch is None:
            return None
        if self.heat is None:
            return self.patch
        from ...models.gradcam import overlay

        return overlay(self.patch, self.heat, self.opacity)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(320, 170)

    def heightForWidth(self, w: int) -> int:  # noqa: N802 (Qt API)
        return max(140, (w - 8) // 2)

    def paintEvent(self, event):  # noqa: N802 (Qt API)
        painter = QPainter(self)
        try:
            if self.patch is None:
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
                return
            h, w = self.patch.shape[:2]
            gap = 8
            side_w = (self.width() - gap) // 2
            scale = min(side_w / w, self.height() / h)
            dw, dh = int(w * scale), int(h * scale)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # nearest: the pixels as they are
            painter.drawImage(QRect(0, 0, dw, dh), to_qimage(self.patch))
            right = self.overlaid()
            painter.drawImage(QRect(side_w + gap, 0, dw, dh), to_qimage(right))
            if self.heat is None and self.message:
                painter.drawText(
                    QRect(side_w + gap, 0, dw, dh),
                    Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                    self.message,
                )
        finally:
            painter.end()
