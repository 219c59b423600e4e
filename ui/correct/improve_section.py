"""'Improve the model from these corrections': fine-tune on the edit log in a background task, then offer a re-run.

The section reads what the Correct page is editing (its run files), fine-tunes the run's model on the log's
active edits and reviewed cells (core/finetune: the windows the engine reads there, EuroSAT replay, held-out
early stopping) in a BackgroundTask (qgis_bridge/background.py) with progress and cancel, writes
``<run>_model_<n>.json`` (+ its weights) beside the run, adds it to the Classify page's model list, and
offers to re-classify the run's input with it, in the run's mode (a map-mode run's new card is a map card:
core/finetune, models/finetune_map.py). Refusals (too few corrections, one class only, no EuroSAT
zip to replay) are one sentence.
The EuroSAT RGB zip it replays is a path picker in the section, remembered in :class:`.settings.CorrectSettings`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer
from qgis.gui import QgsFileWidget
from qgis.PyQt.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout

from ...qgis_bridge.background import BackgroundTask


def new_card_path(files) -> Path:
    """``<run>_model_<n>.json`` beside the run, the first n whose card and weights are both free."""
    n = 1
    while True:
        card = files.folder / f"{files.prefix}_model_{n}.json"
        if not card.exists() and not card.with_suffix(".safetensors").exists():
            return card
        n += 1


def _summary(files) -> dict:
    try:
        return json.loads(files.summary.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


class ImproveSection(QGroupBox):
    """The button, the task's progress and cancel, the result line and the re-classify offer."""

    def __init__(self, page, parent=None):
        super().__init__("Teach the model", parent)
        self.setObjectName("correctImprove")
        self.page = page
        self.task: Optional[BackgroundTask] = None
        self.card_path: Optional[Path] = None
        self.record: Optional[dict] = None
        self.recipe = None  # models.finetune.Recipe; None = its defaults
        self.last_run = None  # the re-classification queued on the Classify page
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.start = QPushButton("Improve the model", self)  # fits a 300 px dock; the tooltip says from what
        self.start.setObjectName("improveStart")
        self.start.setToolTip(
            "Improve the model from these corrections: fine-tune the run's model on your active edits and "
            "reviewed cells (a few minutes on a CPU); "
            "the new model is added to the Classify page's list"
        )
        self.start.clicked.connect(self.improve)
        row.addWidget(self.start, 1)
        self.cancel = QPushButton("Cancel", self)
        self.cancel.setObjectName("improveCancel")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(self.cancel_task)
        row.addWidget(self.cancel)
        lay.addLayout(row)
        lay.addLayout(self._replay_row())
        self.progress = QProgressBar(self)
        self.progress.setObjectName("improveProgress")
        self.progress.setVisible(False)
        lay.addWidget(self.progress)
        self.status = QLabel(
            "Your corrections can teach the model: the next run on this imagery repeats fewer mistakes."
        )
        self.status.setObjectName("improveStatus")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self.reclassify = QPushButton("Re-classify with the new model", self)
        self.reclassify.setObjectName("improveReclassify")
        self.reclassify.setVisible(False)
        self.reclassify.clicked.connect(self.reclassify_layer)
        lay.addWidget(self.reclassify)

    def _replay_row(self) -> QHBoxLayout:
        """'EuroSAT zip' [path picker]: the EuroSAT RGB zip replayed so the model keeps what it knew."""
        from ...models.finetune import default_replay_data

        row = QHBoxLayout()
        label = QLabel("EuroSAT zip", self)
        tip = (
            "The EuroSAT RGB zip (EuroSAT_RGB.zip): fine-tuning replays its training patches so the model "
            "keeps what it knew, and measures the new model on its test split"
        )
        label.setToolTip(tip)
        row.addWidget(label)
        self.replay_widget = QgsFileWidget(self)
        self.replay_widget.setObjectName("improveReplayData")
        self.replay_widget.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.replay_widget.setFilter("EuroSAT RGB zip (*.zip)")
        self.replay_widget.setToolTip(tip)
        self.replay_widget.lineEdit().setPlaceholderText(str(default_replay_data()))
        self.replay_widget.setFilePath(self.page.settings.replay_data)
        self.replay_widget.fileChanged.connect(self._replay_changed)
        row.addWidget(self.replay_widget, 1)
        return row

    def _replay_changed(self, path: str) -> None:
        self.page.settings.replay_data = path.strip()
        self.page.settings.save()

    def replay_data(self) -> Path:
        """The EuroSAT RGB zip to replay: the one chosen here, else the default (``$EUROSAT_DATASETS``)."""
        from ...models.finetune import default_replay_data

        chosen = self.page.settings.replay_data
        return Path(chosen) if chosen else default_replay_data()

    # ------------------------------------------------------------------ the task
    def improve(self, *_args) -> Optional[BackgroundTask]:
        """Start fine-tuning on the page's edit log in a BackgroundTask (None when there is nothing to start)."""
        files = self.page.files
        if self.page.session is None or files is None or self.task is not None:
            return None
        summary = _summary(files)
        image = (summary.get("input") or {}).get("path")
        if not image or not Path(image).exists():
            self._say(f"The run's input image {image or '(unknown)'} is missing: the model learns from its pixels.")
            return None
        replay = self.replay_data()
        if not replay.is_file():
            self._say(
                f"The EuroSAT RGB zip is not at {replay}: choose EuroSAT_RGB.zip under 'EuroSAT zip' "
                "(the model replays it to keep what it knew)."
            )
            return None
        card = (summary.get("model") or {}).get("card") or None
        out = new_card_path(files)
        log_path, recipe = files.log, self.recipe
        try:  # the edit log is read here (small, quick); the image's windows in the task: a JPEG 2000 tile
            points = self._labels(log_path, card)  # read on this thread froze QGIS for 25 s (2,000 windows)
        except Exception as exc:  # one sentence, never a traceback
            self._say(str(exc)[:1].upper() + str(exc)[1:].rstrip(".") + ".")
            return None

        def work(progress, is_cancelled):
            from ...qgis_bridge.compat import avoid_triton_llvm_clash

            avoid_triton_llvm_clash()  # as the classification task: triton's LLVM next to Mesa's crashes QGIS
            from ...core.finetune.run import finetune_from_labels

            return finetune_from_labels(
                image,
                points,
                out,
                model=card,
                replay_data=replay,
                recipe=recipe,
                progress=progress,
                is_cancelled=is_cancelled,
                command="QGIS: Review & correct, Improve the model from these corrections",
            )

        self.task = BackgroundTask(f"EuroSAT: improving the model from {log_path.name}", work, self._done)
        self.task.progressChanged.connect(lambda v: self.progress.setValue(int(v)))
        self.card_path, self.record = out, None
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.reclassify.setVisible(False)
        self.start.setEnabled(False)
        self.cancel.setEnabled(True)
        self.status.setText("Fine-tuning on your corrections…")
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    @staticmethod
    def _labels(log_path, card):
        from ...core.finetune.labels import read_labels
        from ...core.stages.model import read_card

        return read_labels(log_path, read_card(card).class_names)

    def cancel_task(self, *_args) -> None:
        if self.task is not None:
            self.task.cancel()

    def _done(self, task: BackgroundTask) -> None:
        self.task = None
        self.progress.setVisible(False)
        self.start.setEnabled(True)
        self.cancel.setEnabled(False)
        if task.cancelled:
            self._say("Improving the model was cancelled; nothing was written.", Qgis.MessageLevel.Info)
            return
        if task.error is not None:
            if task.traceback is None:  # a ReadableError: its sentence
                self._say(task.error[:1].upper() + task.error[1:] + ".")
            else:  # unexpected: BackgroundTask put the traceback in the log
                self._say(f"Improving the model failed: {task.error}.")
            return
        result = task.result
        self.record = result
        m = result["metrics"]
        held = m["holdout"]
        line = (
            f"New model {Path(result['card']).name} from {result['examples']['windows']} place(s) "
            "you corrected or accepted"
            + (f"; held-out: {held['before']:.0%} → {held['after']:.0%}" if held["before"] is not None else "")
            + f"; EuroSAT test: {m['eurosat_test']['before']:.1%} → {m['eurosat_test']['after']:.1%}."
        )
        where = " It is in the Classify page's model list" + (
            " (a map model: Mode = Map)." if "map_model" in result else "."
        )
        self.status.setText(line + where)
        self._add_to_picker(result["card"])
        self.reclassify.setVisible(True)
        self.page.push(line, Qgis.MessageLevel.Success)

    def _say(self, text: str, level=Qgis.MessageLevel.Warning) -> None:
        self.status.setText(text)
        self.page.push(text, level)

    # ------------------------------------------------------------------ after
    def _classify_page(self):
        ws = getattr(self.page, "workspace", None)
        return ws.page("classifyPage") if ws is not None else None

    def _add_to_picker(self, card: str) -> None:
        page = self._classify_page()
        if page is not None:
            page.model.add_model(card)

    def reclassify_layer(self, *_args):
        """The run's input with the new model, queued on the Classify page (its task, or None)."""
        page, files = self._classify_page(), self.page.files
        if page is None or self.card_path is None or files is None:
            return None
        summary = _summary(files)
        image = (summary.get("input") or {}).get("path", "")
        layer = next(
            (
                lyr
                for lyr in QgsProject.instance().mapLayers().values()
                if isinstance(lyr, QgsRasterLayer) and lyr.source().split("|")[0] == image
            ),
            None,
        )
        if layer is None:
            layer = QgsRasterLayer(image, Path(image).stem)
            if not layer.isValid():
                self._say(f"Cannot open the run's input {image}.")
                return None
            QgsProject.instance().addMapLayer(layer)
        page.input.set_value(layer)
        page.options.set_mode(summary.get("mode") or "windows")  # the run's mode: a map run's card is a map card
        page.model.add_model(str(self.card_path))
        self.page.workspace.show_page("classifyPage")
        self.last_run = page.run()
        return self.last_run

    def shutdown(self) -> None:
        self.cancel_task()
