"""Run report: Run / Cancel buttons, the progress bar, the status line and the last run's summary."""

from __future__ import annotations

import html

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ...qgis_bridge.task import format_seconds
from .common import muted


def run_mode(result) -> tuple[str, str]:
    """(the run's mode in words, what it counted: "tiles" in map mode, else "windows"), from its summary."""
    summary = result.summary or {}
    if summary.get("mode") == "map":
        return "map (a class for every 10 m pixel)", "tiles"
    cell = ((summary.get("grid") or {}).get("cell_size_m") or [None])[0]
    return ("windows" + (f" (cells of {cell:g} m)" if cell else "")), "windows"


def summary_html(name: str, result, seconds: float) -> str:
    """ "Last run", the total area and time, the mode, then the area of each class present, largest first."""
    total = sum(result.area_km2.values())
    lines = [html.escape(f"{name}: {total:.3g} km² in {format_seconds(seconds)} on {result.device}")]
    lines.append(html.escape(f"Mode: {run_mode(result)[0]}"))
    lines += [
        html.escape(f"{k}: {v:.3g} km²") for k, v in sorted(result.area_km2.items(), key=lambda kv: -kv[1]) if v > 0
    ]
    rad = (result.radiometry or {}).get("reason")
    if rad:
        lines.append(html.escape(f"Radiometry: {rad}"))
    ood = ((result.summary or {}).get("out_of_distribution") or {}).get("warning")
    if ood:
        lines.append(f"<span style='color:#b26a00'>{html.escape(ood)}</span>")
    return "<b>Last run</b><br>" + "<br>".join(lines)


class RunReport(QWidget):
    """Shows what the page's runs are doing; the page connects ``run_button`` and ``cancel_button``."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.run_button = QPushButton("Run", self)
        self.run_button.setObjectName("runButton")
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Classify in the background; you can keep working (several runs may queue)")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the running classifications; partial files are removed")
        row.addWidget(self.run_button, 1)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        layout.addWidget(self.progress_bar)
        self.status_label = muted(QLabel(self))
        self.status_label.setObjectName("statusLabel")
        layout.addWidget(self.status_label)
        self.summary_label = QLabel(self)
        self.summary_label.setObjectName("summaryLabel")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary_label)

    def set_busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)

    def status(self, text: str, percent=None) -> None:
        self.status_label.setText(text)
        if percent is not None:
            self.progress_bar.setValue(int(percent))

    def succeeded(self, name: str, result, seconds: float) -> None:
        from ...models import model_cache  # no torch import; the engine keeps the model between runs

        ready = " · model ready for the next run" if model_cache.stats()["models"] else ""
        unit = run_mode(result)[1]
        self.status(
            f"Done: {result.windows} {unit} · {result.windows_per_second:.0f} {unit}/s · {result.device}{ready}", 100
        )
        self.summary_label.setText(summary_html(name, result, seconds))


def result_log_lines(name: str, result, seconds: float) -> list:
    """The details of a finished run for the log panel: mode, paths, windows or tiles, speed, areas, warnings."""
    mode, unit = run_mode(result)
    lines = [
        f"classification of {name} done in {seconds:.1f} s on {result.device}",
        f"  mode: {mode}",
        f"  {unit}: {result.windows} ({result.skipped_windows} skipped as nodata), "
        f"{result.windows_per_second:.1f} {unit}/s",
        f"  classes: {result.classes_path}",
        f"  probabilities: {result.probabilities_path}",
        f"  confidence: {result.confidence_path}",
        f"  summary: {result.summary_path}",
        "  area per class (km²): " + ", ".join(f"{k} {v:.4g}" for k, v in result.area_km2.items()),
    ]
    rad = result.radiometry or {}
    if rad:
        lines.append(f"  radiometry: {rad.get('reason', rad.get('method'))}")
        lines += [f"    evidence: {e}" for e in rad.get("evidence") or []]
    ood = (result.summary or {}).get("out_of_distribution") or {}
    lines.append(f"  out of distribution: {ood.get('warning') or 'no'}" if ood else "")
    lines = [ln for ln in lines if ln]
    if result.warnings:
        lines.append("  warnings: " + "; ".join(result.warnings))
    return lines
