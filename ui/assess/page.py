"""The Assess page: how accurate is the map, and how large is each class really (Olofsson et al. 2014).

1. Sampling design on the map -> a GeoPackage of sample points (QgsTask: large maps take a while);
2. labelling of those points with keys, saved at once, resumable;
3. or an existing reference layer (with a class mapping);
4. the analysis: error matrix, accuracies, area-adjusted areas with 95 % CIs, written as JSON, CSV and HTML.

The statistics are all in core/accuracy (no Qt); this page only gathers choices and shows results.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtWidgets import QMessageBox

from ...core.accuracy.design import LAYER
from ...core.accuracy.errors import AssessmentError
from ...core.accuracy.report import output_paths, run_assessment
from ...errors import ReadableError
from ...qgis_bridge.assess import layer_file, reference_records, style_sample_layer
from ...qgis_bridge.background import BackgroundTask
from ...toolbelt.log import log
from ..page_base import WorkspacePage, safe_slot
from .analysis_section import AnalysisSection
from .design_section import DesignSection, map_path
from .label_section import LabelSection
from .reference_section import ReferenceSection
from .settings import AssessSettings


class AssessPage(WorkspacePage):
    title = "Assess"
    object_name = "AssessPage"

    def __init__(self, iface, workspace=None, parent=None):
        super().__init__(iface, workspace, parent)
        self.settings = AssessSettings.load()
        self.tasks: list = []
        self.last_result = None
        inner, col = self.scrolling_body()
        self.design = DesignSection(self, self.settings, inner)
        self.labels = LabelSection(self, inner)
        self.reference = ReferenceSection(self, inner)
        self.analysis = AnalysisSection(self, self.settings, inner)
        for w in (self.design, self.labels, self.reference, self.analysis):
            col.addWidget(w)
        col.addStretch(1)
        self.design.create_requested.connect(self.create_sample)
        self.analysis.run_button.clicked.connect(self.analyse)
        active = iface.activeLayer() if iface is not None else None
        if isinstance(active, QgsRasterLayer):
            self.design.map_combo.setLayer(active)
        self.design._map_changed()

    def refresh_state(self) -> None:
        """Shown again: the map of section 1 is read again when its file changed since (e.g. corrected)."""
        path = map_path(self.design.map_combo.currentLayer())
        stamp = (path, Path(path).stat().st_mtime_ns) if path and Path(path).is_file() else None
        if stamp != getattr(self, "_map_stamp", stamp) and self.design.info is not None:
            self.design._map_changed()
        self._map_stamp = stamp

    def left(self) -> None:
        self.labels.left()

    def showEvent(self, event):  # noqa: N802 (Qt API)
        super().showEvent(event)
        self.labels.resume()

    # ---------------------------------------------------------------- helpers
    def ask(self, question: str) -> bool:
        """Yes/no question (tests replace it)."""
        return QMessageBox.question(self, "EuroSAT Land Cover", question) == QMessageBox.StandardButton.Yes

    def run_task(self, description: str, fn, on_done) -> BackgroundTask:
        def done(task):
            if task in self.tasks:
                self.tasks.remove(task)
            on_done(task)

        task = BackgroundTask(description, fn, done)
        self.tasks.append(task)
        QgsApplication.taskManager().addTask(task)
        return task

    # ---------------------------------------------------------------- 1: design
    @safe_slot
    def create_sample(self, *_args) -> None:
        path = map_path(self.design.map_combo.currentLayer())
        if path is None or self.design.info is None:
            self.push("Pick a classified map first (section 1).", Qgis.MessageLevel.Warning)
            return
        out = self.design.output.filePath().strip()
        if not out:
            self.push("Choose a file for the sample points (section 1).", Qgis.MessageLevel.Warning)
            return
        if not out.lower().endswith(".gpkg"):
            out += ".gpkg"
        overwrite = False
        if Path(out).exists():
            if not self.ask(f"{Path(out).name} exists. Replace it (its labels are lost)?"):
                return
            overwrite = True
            self._drop_layers_of(out)
        spec = self.design.spec()
        self.design.settings_into(self.settings)
        self.settings.save()
        from ...core.accuracy.design import create_sampling_design

        self.design.create_button.setEnabled(False)
        self.run_task(
            f"Sampling design on {Path(path).name}",
            lambda progress, cancelled: create_sampling_design(path, out, spec, overwrite, progress, cancelled),
            self._sample_created,
        )

    def _drop_layers_of(self, path: str) -> None:
        project = QgsProject.instance()
        for layer in list(project.mapLayers().values()):
            try:
                src = layer_file(layer)[0]
            except ReadableError:  # not a file of its own (a memory layer...): nothing to drop
                continue
            if Path(src).resolve() == Path(path).resolve():
                project.removeMapLayer(layer.id())

    def _sample_created(self, task) -> None:
        self.design.create_button.setEnabled(True)
        if task.error:
            self.push(task.error, Qgis.MessageLevel.Critical if task.error != "cancelled" else Qgis.MessageLevel.Info)
            return
        r = task.result
        layer = QgsVectorLayer(f"{r['path']}|layername={LAYER}", f"Accuracy sample — {Path(r['map']).stem}", "ogr")
        if not layer.isValid():
            self.push(f"the sample was written to {r['path']} but QGIS cannot open it", Qgis.MessageLevel.Critical)
            return
        style_sample_layer(layer)
        QgsProject.instance().addMapLayer(layer)
        self.labels.set_layer(layer)
        for note in r["notes"]:
            log(note)
        self.push(
            f"{r['points']} sample points in {Path(r['path']).name}: label them in section 2", Qgis.MessageLevel.Success
        )

    # ---------------------------------------------------------------- 4: analysis
    def analysis_inputs(self) -> dict:
        kw = {"kappa": self.analysis.kappa.isChecked(), "out_dir": self.analysis.folder.filePath().strip() or None}
        if self.reference.use_sample.isChecked():
            sample = self.labels.sample_path()
            if sample is None:
                raise AssessmentError("Label a sample first (section 2), or choose an existing reference (section 3).")
            kw["sample"] = sample
            if self.analysis.other_map.isChecked():
                other = map_path(self.design.map_combo.currentLayer())
                if other is None:
                    raise AssessmentError(
                        "Pick the map to assess in section 1, or untick 'Assess the map of section 1'."
                    )
                kw["map_path"] = other
            return kw
        map_file = map_path(self.design.map_combo.currentLayer())
        if map_file is None:
            raise AssessmentError("Pick the map to assess (section 1).")
        ref = self.reference.layer_combo.currentLayer()
        if ref is None:
            raise AssessmentError("Pick the reference layer (section 3).")
        kw.update(map_path=map_file, mapping=dict(self.reference.mapping))
        if isinstance(ref, QgsVectorLayer):
            field = self.reference.field_combo.currentField()
            if not field:
                raise AssessmentError("Pick the reference layer's class field (section 3).")
            # read through QGIS: the layer's filter, its CRS, any provider (a CSV loaded as delimited text)
            map_crs = self.design.map_combo.currentLayer().crs()
            kw.update(reference_records=reference_records(ref, field, map_crs))
        else:
            kw["reference"] = layer_file(ref)[0]
        return kw

    @safe_slot  # a bug (not a ReadableError): one line for the analyst, the traceback to the log
    def analyse(self, *_args) -> None:
        try:
            kw = self.analysis_inputs()
        except ReadableError as exc:  # anything else is a bug: it reaches QGIS's handler and the log
            self.push(str(exc), Qgis.MessageLevel.Warning)
            return
        if kw.get("map_path"):
            target_map = kw["map_path"]
        else:
            from ...core.accuracy.design import read_design

            target_map = (read_design(kw["sample"]).get("map") or {}).get("path")
        if target_map:
            existing = [p for p in output_paths(target_map, kw["out_dir"]).values() if p.exists()]
            if existing:
                if not self.ask(f"{existing[0].name} and the other results exist. Replace them?"):
                    return
                kw["overwrite"] = True
        self.settings.kappa = kw["kappa"]
        self.settings.output_dir = kw["out_dir"] or ""
        self.settings.save()
        self.analysis.run_button.setEnabled(False)
        self._analysis_kw = kw
        self.run_task("Accuracy assessment", lambda progress, cancelled: run_assessment(**kw), self._analysed)

    def _analysed(self, task) -> None:
        self.analysis.run_button.setEnabled(True)
        if task.error:
            self.push(task.error, Qgis.MessageLevel.Critical)
            self.analysis.show_refusal(task.error, self._shortfall())
            return
        out = task.result
        res = out["assessment"]
        self.last_result = out
        self.analysis.show_results(res, out)
        lo, hi = res.ci(res.overall, res.overall_se)
        self.push(
            f"overall accuracy {100 * res.overall:.1f} % (95 % CI {100 * lo:.1f}–{100 * hi:.1f} %); "
            f"report {Path(out['html']).name}",
            Qgis.MessageLevel.Success,
        )

    def _shortfall(self) -> list:
        """Labels per stratum of the sample just analysed ([] for a reference layer or an unreadable sample)."""
        from ...core.accuracy.shortfall import label_shortfall

        sample = (getattr(self, "_analysis_kw", None) or {}).get("sample")
        try:
            return label_shortfall(sample) if sample else []
        except Exception as exc:  # the refusal itself is shown anyway
            log(f"cannot count the labels of {sample}: {exc}")
            return []

    # ---------------------------------------------------------------- lifecycle
    def shutdown(self) -> None:
        for task in list(self.tasks):
            task.on_done = None
            task.cancel()
        self.tasks.clear()
        self.labels.shutdown()
