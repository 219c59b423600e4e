"""Section 2 of the Assess page: label the sample points one by one (the response design).

The map is centred on each point with a box of one model window (the model's patch at its gsd, 64 px x 10 m
= 640 m for EuroSAT) around it, so the analyst judges what the model saw. Keys: 1-9 and 0 pick the first ten
classes, U = unsure, S = skip, Left/Right = previous/next point. Every label is written to the GeoPackage at
once (through the layer's data provider), so labelling can stop and resume any time. The point's map class is
not shown and the map being assessed (with every result layer of the plugin) is hidden on the canvas while a
point is shown, so the analyst judges the imagery (a blind response design: seeing the map biases the reference
label); the layers show again, as they were, when the analyst leaves the page or the sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from qgis.core import (
    Qgis,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsMapLayerProxyModel,
    QgsPointXY,
    QgsProject,
    QgsRectangle,
    QgsWkbTypes,
)
from qgis.gui import QgsMapLayerComboBox, QgsRubberBand, QgsVertexMarker
from qgis.PyQt.QtCore import QEvent, QObject, Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from ...core.accuracy.design import LAYER, STATUS_LABELLED, STATUS_SKIPPED, STATUS_UNSURE, read_design
from ...core.accuracy.reference import label_values
from ...errors import ReadableError
from ...qgis_bridge.map_view import HiddenLayers, run_layers
from .design_section import _swatch

CLASS_KEYS = [
    Qt.Key.Key_1,
    Qt.Key.Key_2,
    Qt.Key.Key_3,
    Qt.Key.Key_4,
    Qt.Key.Key_5,
    Qt.Key.Key_6,
    Qt.Key.Key_7,
    Qt.Key.Key_8,
    Qt.Key.Key_9,
    Qt.Key.Key_0,
]
KEY_TEXT = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"]
REQUIRED_FIELDS = ("point_id", "map_code", "ref_code", "ref_class", "status", "labelled_utc")


class _CanvasKeys(QObject):
    """Labelling keys typed while the map canvas has the focus (only while the Assess page is shown)."""

    def __init__(self, section):
        super().__init__(section)
        self.section = section

    def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
        return bool(
            event.type() == QEvent.Type.KeyPress and self.section.isVisible() and self.section.handle_key(event.key())
        )


class LabelSection(QGroupBox):
    labels_changed = pyqtSignal()

    def __init__(self, page, parent=None):
        super().__init__("2 · Label the sample", parent)
        self.setObjectName("labelSection")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.page = page
        self.layer = None
        self.fids: list = []  # in point_id order
        self.index = -1
        self.classes: list = []  # [(code, name, colour)] in code order
        self.window_m = 640.0
        self.band: Optional[QgsRubberBand] = None
        self.marker: Optional[QgsVertexMarker] = None
        self.hidden = HiddenLayers()  # the map layers hidden while labelling (blind)
        self.layer_combo = QgsMapLayerComboBox(self)
        self.layer_combo.setObjectName("sampleCombo")
        self.layer_combo.setFilters(QgsMapLayerProxyModel.Filter.PointLayer)
        self.layer_combo.setAllowEmptyLayer(True)
        self.layer_combo.setCurrentIndex(0)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("labelProgress")
        self.progress.setFormat("%v / %m labelled")
        self.counts = QLabel(self)
        self.counts.setObjectName("labelCounts")
        self.current = QLabel("Create a sample or pick one.", self)
        self.current.setObjectName("currentPoint")
        self.current.setWordWrap(True)
        self.grid = QGridLayout()
        self.class_buttons: list = []
        self.unsure = QPushButton("Unsure (U)", self)
        self.unsure.setObjectName("unsureButton")
        self.skip = QPushButton("Skip (S)", self)
        self.skip.setObjectName("skipButton")
        self.prev = QPushButton("◀ Previous", self)
        self.next = QPushButton("Next ▶", self)
        self.next_open = QPushButton("Next unlabelled", self)
        self.unsure.clicked.connect(lambda: self.set_label(STATUS_UNSURE))
        self.skip.clicked.connect(lambda: self.set_label(STATUS_SKIPPED))
        self.prev.clicked.connect(lambda: self.go(self.index - 1))
        self.next.clicked.connect(lambda: self.go(self.index + 1))
        self.next_open.clicked.connect(self.go_next_unlabelled)
        hint = QLabel("Keys: 1–9, 0 = class · U unsure · S skip · ←/→ move (here or on the map)", self)
        hint.setWordWrap(True)
        hint.setStyleSheet("color: palette(mid);")
        lay = QVBoxLayout(self)
        lay.addWidget(self.layer_combo)
        lay.addWidget(self.progress)
        lay.addWidget(self.counts)
        lay.addWidget(self.current)
        lay.addLayout(self.grid)
        row = QHBoxLayout()
        for b in (self.unsure, self.skip):
            row.addWidget(b)
        lay.addLayout(row)
        row = QHBoxLayout()
        for b in (self.prev, self.next):
            row.addWidget(b)
        lay.addLayout(row)
        lay.addWidget(self.next_open)
        lay.addWidget(hint)
        self.layer_combo.layerChanged.connect(self.set_layer)
        self.canvas_keys = _CanvasKeys(self)
        self.canvas = page.iface.mapCanvas() if page.iface is not None else None
        if self.canvas is not None:
            self.canvas.installEventFilter(self.canvas_keys)
        self._enable(False)

    # ---------------------------------------------------------------- sample
    def sample_path(self) -> Optional[str]:
        if self.layer is None:
            return None
        from ...qgis_bridge.assess import layer_file

        try:
            return layer_file(self.layer)[0]
        except ReadableError:  # no file GDAL can read
            return None

    def set_layer(self, layer=None) -> None:
        if layer is not None and layer is not self.layer_combo.currentLayer():
            self.layer_combo.setLayer(layer)
            return
        self.layer = None
        self.fids = []
        self.index = -1
        self._clear_canvas_items()
        self.blind(False)
        layer = self.layer_combo.currentLayer()
        if layer is None:
            self.current.setText("Create a sample or pick one.")
            self._enable(False)
            return
        names = layer.fields().names()
        missing = [f for f in REQUIRED_FIELDS if f not in names]
        if missing:
            self.current.setText(
                f"{layer.name()} is not a sample made by 'Create sampling design' (no {', '.join(missing)} field)."
            )
            self._enable(False)
            return
        self.layer = layer
        design = {}
        path = self.sample_path()
        if path and Path(path).is_file():
            try:
                design = read_design(path)
            except ReadableError:  # not a GeoPackage: the classes are read from the features below
                design = {}
        m = design.get("map") or {}
        names_by_code = {int(k): v for k, v in (m.get("names") or {}).items()}
        colors = {int(k): v for k, v in (m.get("colors") or {}).items()}
        if not names_by_code:  # no design table: the classes seen in the sample
            for f in layer.getFeatures():
                names_by_code[int(f["map_code"])] = f["map_class"] or f"class {f['map_code']}"
        self.window_m = float(m.get("window_m") or 640.0)
        self.classes = [(c, names_by_code[c], colors.get(c, "#808080")) for c in sorted(names_by_code)]
        self._build_buttons()
        feats = sorted(layer.getFeatures(), key=lambda f: int(f["point_id"] or 0))
        self.fids = [f.id() for f in feats]
        self._enable(True)
        self.update_progress()
        self.go_next_unlabelled(from_start=True)

    def _build_buttons(self) -> None:
        for b in self.class_buttons:
            self.grid.removeWidget(b)
            b.deleteLater()
        self.class_buttons = []
        for k, (code, name, color) in enumerate(self.classes):
            key = KEY_TEXT[k] if k < len(KEY_TEXT) else ""
            b = QPushButton(f"{key}  {name}" if key else name, self)
            b.setObjectName(f"classButton_{code}")
            b.setIcon(_swatch(color))
            b.setToolTip(f"Reference class {name}" + (f" (key {key})" if key else ""))
            b.clicked.connect(lambda _=False, c=code: self.set_label(STATUS_LABELLED, c))
            self.grid.addWidget(b, k // 2, k % 2)
            self.class_buttons.append(b)

    def _enable(self, on: bool) -> None:
        for w in (self.unsure, self.skip, self.prev, self.next, self.next_open, self.progress):
            w.setEnabled(on)

    # ---------------------------------------------------------------- navigation
    def feature(self, i: Optional[int] = None):
        i = self.index if i is None else i
        if self.layer is None or not (0 <= i < len(self.fids)):
            return None
        return self.layer.getFeature(self.fids[i])

    def go(self, i: int) -> None:
        if not self.fids:
            return
        self.index = max(0, min(len(self.fids) - 1, i))
        self.show_point()

    def go_next_unlabelled(self, from_start: bool = False) -> None:
        if not self.fids:
            return
        n = len(self.fids)
        start = 0 if from_start else self.index + 1
        for step in range(n):
            i = (start + step) % n
            f = self.feature(i)
            if not (f["status"] or ""):
                self.go(i)
                return
        self.go(self.index if self.index >= 0 else 0)
        self.current.setText(self.current.text() + "<br><b>Every point has a label.</b> Run the analysis (3).")

    def show_point(self) -> None:
        f = self.feature()
        if f is None:
            return
        status = f["status"] or ""
        ref = f["ref_class"] if status == STATUS_LABELLED else None
        state = {"": "not labelled yet", STATUS_UNSURE: "marked unsure", STATUS_SKIPPED: "skipped"}.get(status)
        self.current.setText(
            f"Point <b>{int(f['point_id'])}</b> of {len(self.fids)} · "
            + (f"labelled <b>{ref}</b>" if ref else state or status)
        )
        for b, (code, _n, _c) in zip(self.class_buttons, self.classes):
            b.setDown(status == STATUS_LABELLED and f["ref_code"] == code)
        self._centre_on(f)

    def _centre_on(self, f) -> None:
        if self.canvas is None:
            return
        pt = f.geometry().asPoint()
        half = self.window_m / 2.0
        box = QgsGeometry.fromRect(QgsRectangle(pt.x() - half, pt.y() - half, pt.x() + half, pt.y() + half))
        dest = self.canvas.mapSettings().destinationCrs()
        if self.layer.crs().isValid() and dest.isValid() and self.layer.crs() != dest:
            tr = QgsCoordinateTransform(self.layer.crs(), dest, QgsProject.instance())
            box.transform(tr)
            pt = tr.transform(pt)
        self._clear_canvas_items()
        self.blind(True)
        self.band = QgsRubberBand(self.canvas, QgsWkbTypes.GeometryType.PolygonGeometry)
        self.band.setColor(QColor(255, 230, 0))
        self.band.setFillColor(QColor(0, 0, 0, 0))
        self.band.setWidth(3)
        self.band.setToGeometry(box, None)
        self.marker = QgsVertexMarker(self.canvas)
        self.marker.setCenter(QgsPointXY(pt))
        self.marker.setIconType(QgsVertexMarker.IconType.ICON_CROSS)
        self.marker.setColor(QColor(255, 0, 0))
        self.marker.setIconSize(16)
        self.marker.setPenWidth(2)
        r = box.boundingBox()
        r.scale(2.2)
        self.canvas.setExtent(r)
        self.canvas.refresh()

    def blind(self, on: bool) -> None:
        """Hide the map being assessed and the plugin's result layers (``on``), or show them again as they were."""
        if on and not self.hidden.active:
            layers = run_layers()
            assessed = self.page.design.map_combo.currentLayer() if hasattr(self.page, "design") else None
            if assessed is not None and assessed not in layers:
                layers.append(assessed)
            self.hidden.hide(layers)
        elif not on:
            self.hidden.restore()

    def left(self) -> None:
        """The analyst left the page: the box and the cross go, the map layers show again."""
        self._clear_canvas_items()
        self.blind(False)

    def resume(self) -> None:
        """Back on the page while labelling: the current point again, blind."""
        if self.layer is not None and self.index >= 0 and self.band is None:
            self.show_point()

    def _clear_canvas_items(self) -> None:
        for item in (self.band, self.marker):
            if item is not None and self.canvas is not None:
                self.canvas.scene().removeItem(item)
        self.band = self.marker = None

    # ---------------------------------------------------------------- labels
    def set_label(self, status: str, code: Optional[int] = None) -> bool:
        f = self.feature()
        if f is None:
            return False
        name = next((n for c, n, _ in self.classes if c == code), None)
        values = label_values(status, code, name)
        fields = self.layer.fields()
        changes = {fields.indexOf(k): v for k, v in values.items()}
        ok = self.layer.dataProvider().changeAttributeValues({f.id(): changes})
        if not ok:
            self.page.push(
                f"cannot save the label in {self.layer.name()}: is the file read-only?", Qgis.MessageLevel.Critical
            )
            return False
        self.layer.triggerRepaint()
        self.update_progress()
        self.labels_changed.emit()
        self.go_next_unlabelled()
        return True

    def update_progress(self) -> None:
        if self.layer is None:
            return
        tally = {"": 0, STATUS_LABELLED: 0, STATUS_UNSURE: 0, STATUS_SKIPPED: 0}
        per_ref: dict = {}
        for f in self.layer.getFeatures():
            s = f["status"] or ""
            tally[s] = tally.get(s, 0) + 1
            if s == STATUS_LABELLED:
                per_ref[f["ref_class"]] = per_ref.get(f["ref_class"], 0) + 1
        n = len(self.fids)
        done = n - tally[""]
        self.progress.setRange(0, max(n, 1))
        self.progress.setValue(done)
        self.counts.setText(
            f"{tally[STATUS_LABELLED]} labelled · {tally[STATUS_UNSURE]} unsure · {tally[STATUS_SKIPPED]} skipped · "
            f"{tally['']} to go"
        )

    def handle_key(self, key) -> bool:
        if self.layer is None:
            return False
        if key in CLASS_KEYS:
            k = CLASS_KEYS.index(key)
            if k < len(self.classes):
                return self.set_label(STATUS_LABELLED, self.classes[k][0])
            return False
        if key == Qt.Key.Key_U:
            return self.set_label(STATUS_UNSURE)
        if key == Qt.Key.Key_S:
            return self.set_label(STATUS_SKIPPED)
        if key == Qt.Key.Key_Left:
            self.go(self.index - 1)
            return True
        if key == Qt.Key.Key_Right:
            self.go(self.index + 1)
            return True
        return False

    def keyPressEvent(self, event):  # noqa: N802 (Qt API)
        if not self.handle_key(event.key()):
            super().keyPressEvent(event)

    def shutdown(self) -> None:
        self.left()
        if self.canvas is not None:
            self.canvas.removeEventFilter(self.canvas_keys)


__all__ = ["LAYER", "LabelSection"]
