"""Issue 25 item 14: a Processing algorithm's notes are information in QGIS's log, not CRITICAL errors."""

from __future__ import annotations

import sys
from pathlib import Path

from eurosat_landcover.eurosat_processing.provider import PROVIDER_ID
from qgis.core import Qgis, QgsApplication, QgsProcessingFeedback

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from assessment_testlib import blocky_map, write_classes


def test_design_notes_are_logged_as_info(provider, tmp_path):
    import processing

    messages = []

    def record(message, tag, level):
        messages.append((message, level))

    log = QgsApplication.messageLog()
    log.messageReceived.connect(record)
    try:
        tif = write_classes(tmp_path / "scene_classes.tif", blocky_map())
        processing.run(
            f"{PROVIDER_ID}:create_sampling_design",
            {"INPUT": str(tif), "SAMPLE_SIZE": 60, "OUTPUT": str(tmp_path / "s.gpkg")},
            feedback=QgsProcessingFeedback(),
        )
        QgsApplication.processEvents()
    finally:
        log.messageReceived.disconnect(record)
    notes = [(m, lvl) for m, lvl in messages if "not in the map, so no stratum" in m]
    assert notes, messages  # the blocky map lacks some classes: the design says so
    assert all(lvl == Qgis.MessageLevel.Info for _m, lvl in notes), notes
    assert not [m for m, lvl in messages if lvl == Qgis.MessageLevel.Critical], messages
