"""Section 4 of the Assess page: run the analysis, show the results, open the HTML report."""

from __future__ import annotations

import html
from typing import Optional

from qgis.gui import QgsFileWidget
from qgis.PyQt.QtCore import QUrl
from qgis.PyQt.QtGui import QDesktopServices
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
)

from ...core.accuracy.estimators import KAPPA_NOTE

NOWRAP = "style='white-space:nowrap'"  # Qt's rich text ignores the nowrap attribute: a number is never split


def _pm(value: float, half_width: float) -> str:
    """``value`` over ``±half_width`` (two lines, so the table fits a 300 px dock without splitting a number)."""
    return f"{value:.2f}<br>±{half_width:.2f}"


def results_html(res, outputs: dict) -> str:
    """A compact summary for the page (the full report is the HTML file)."""
    lo, hi = res.ci(res.overall, res.overall_se)
    rows = []
    for c in res.per_class():
        if c["n_map"] == 0 and not c["adjusted_km2"]:
            continue
        ua = "–" if c["users_accuracy"] is None else _pm(c["users_accuracy"], res.z * c["users_se"])
        pa = "–" if c["producers_accuracy"] is None else _pm(c["producers_accuracy"], res.z * c["producers_se"])
        rows.append(
            f"<tr><td><span style='background:{c['color']}'>&nbsp;&nbsp;&nbsp;</span> "
            f"{html.escape(c['name'])}</td>"
            f"<td align='right' {NOWRAP}>{c['mapped_km2']:.2f}</td>"
            f"<td align='right' {NOWRAP}>{_pm(c['adjusted_km2'], res.z * c['adjusted_km2_se'])}</td>"
            f"<td align='right' {NOWRAP}>{ua}</td><td align='right' {NOWRAP}>{pa}</td></tr>"
        )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in res.notes)
    kappa = f"<p>Kappa {res.kappa:.3f} — {html.escape(KAPPA_NOTE)}</p>" if res.kappa is not None else ""
    conf = ""
    if res.by_confidence:
        cells = "".join(
            f"<tr><td>{b['bin'][0]:.1f}–{b['bin'][1]:.1f}</td><td align='right'>{100 * b['area_share']:.0f} %</td>"
            f"<td align='right'>{'–' if b['accuracy'] is None else format(b['accuracy'], '.2f')}</td></tr>"
            for b in res.by_confidence
        )
        conf = (
            "<p><b>Accuracy by the model's confidence</b></p><table cellspacing='0' cellpadding='2' border='1' "
            "style='border-collapse:collapse'><tr><th>confidence</th><th>of the map</th><th>accuracy</th></tr>"
            + cells
            + "</table>"
        )
    return (
        f"<p><b>Overall accuracy {100 * res.overall:.1f} %</b> (95 % CI {100 * lo:.1f}–{100 * hi:.1f} %), "
        f"{res.n_labelled} labelled</p>"
        "<table cellspacing='0' cellpadding='2' border='1' style='border-collapse:collapse'>"
        "<tr><th>class</th><th>mapped<br>km²</th><th>adjusted km²<br>± 95 % CI</th><th>user's</th>"
        "<th>producer's</th></tr>"
        + "".join(rows)
        + "</table>"
        + kappa
        + conf
        + (f"<ul>{notes}</ul>" if notes else "")
        + "<p>F1, the error matrices and the design are in the report. "
        + f"Written: {html.escape(str(outputs.get('html', '')))}</p>"
    )


class AnalysisSection(QGroupBox):
    def __init__(self, page, settings, parent=None):
        super().__init__("4 · Analysis", parent)
        self.setObjectName("analysisSection")
        self.page = page
        self.report_path: Optional[str] = None
        self.kappa = QCheckBox("Also report kappa (not recommended)", self)
        self.kappa.setObjectName("kappaCheck")
        self.kappa.setToolTip(KAPPA_NOTE)
        self.kappa.setChecked(settings.kappa)
        self.other_map = QCheckBox("Assess the map of section 1 with this sample (e.g. the corrected map)", self)
        self.other_map.setObjectName("otherMapCheck")
        self.other_map.setToolTip(
            "The sample's strata stay the classes of the map it was drawn on; the map of section 1 is read at each "
            "point and assessed with Stehman (2014)'s estimators"
        )
        self.folder = QgsFileWidget(self)
        self.folder.setObjectName("outputFolder")
        self.folder.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.folder.setFilePath(settings.output_dir)
        self.folder.setToolTip("Where the JSON, CSV and HTML go; empty = beside the map")
        self.run_button = QPushButton("Analyse", self)
        self.run_button.setObjectName("analyseButton")
        self.open_button = QPushButton("Open report", self)
        self.open_button.setObjectName("openReportButton")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.open_report)
        self.view = QTextBrowser(self)
        self.view.setObjectName("resultsView")
        self.view.setMinimumHeight(380)
        form = QFormLayout()
        form.addRow("Output folder", self.folder)
        lay = QVBoxLayout(self)
        lay.addWidget(self.kappa)
        lay.addWidget(self.other_map)
        lay.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(self.run_button)
        row.addWidget(self.open_button)
        lay.addLayout(row)
        lay.addWidget(self.view)

    def show_results(self, res, outputs: dict) -> None:
        self.view.setHtml(results_html(res, outputs))
        self.report_path = outputs.get("html")
        self.open_button.setEnabled(bool(self.report_path))

    def show_refusal(self, error: str, strata: list) -> None:
        """The analysis could not run: why, and (for a sample) how many more labels each stratum needs."""
        text = f"<p><b>No results:</b> {html.escape(error)}</p>"
        short = [s for s in strata if s.more]
        if short:
            rows = "".join(
                f"<tr><td>{html.escape(s.name)}</td><td align='right'>{s.labelled}</td>"
                f"<td align='right'>{s.more}</td><td>{html.escape(s.advice)}</td></tr>"
                for s in strata
            )
            text += (
                f"<p>Every mapped class needs at least two labelled points; {len(short)} of {len(strata)} "
                "still need more:</p>"
                "<table cellspacing='0' cellpadding='2' border='1' style='border-collapse:collapse'>"
                "<tr><th>class</th><th>labelled</th><th>needs</th><th>what to do</th></tr>" + rows + "</table>"
            )
        self.view.setHtml(text)
        self.report_path = None
        self.open_button.setEnabled(False)

    def open_report(self) -> None:
        if self.report_path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.report_path))
