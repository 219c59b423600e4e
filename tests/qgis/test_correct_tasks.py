# ruff: noqa: F811 (the fixtures imported from test_correct are arguments here)
"""The Review & correct page's large changes run on BackgroundTask (qgis_bridge/background.py): a readable
error in the worker is its one line, a bug is one line for the analyst with its traceback in the log; in
both cases the raster, the log and the undo stack are as before and the page is back on."""

from __future__ import annotations

from qgis.core import Qgis

from .landcover_helpers import model_card, wait_for_tasks  # noqa: F401
from .test_correct import (  # noqa: F401
    _controls,
    _editing_after_one_cell_click,
    _recode_commonest_class_whole_layer,
    _saved_state,
    model_run,
    page,
    run,
)


def _recode_whole_layer_failing(page, iface, run, monkeypatch, error):
    """Start editing, one cell click (at once), then Recode whole layer in a task whose first write raises."""
    from eurosat_landcover.core.edits import change as change_mod
    from eurosat_landcover.ui.correct import edit_controller

    monkeypatch.setattr(edit_controller, "BACKGROUND_CELLS", 1)  # this small map takes the large-map path
    files, base = _editing_after_one_cell_click(page, run)
    before = _saved_state(page, files)
    write, calls = change_mod.write_window, []

    def failing_once(*args, **kwargs):  # the first write of the task fails; the rollback's writes work
        calls.append(1)
        if len(calls) == 1:
            raise error
        return write(*args, **kwargs)

    monkeypatch.setattr(change_mod, "write_window", failing_once)
    _recode_commonest_class_whole_layer(page, base)
    assert page.task is not None
    wait_for_tasks()
    assert page.task is None and all(_controls(page)) and page.session.pending is None
    assert _saved_state(page, files) == before
    assert iface.messageBar().get_messages(Qgis.MessageLevel.Success) == []


def test_a_readable_error_in_the_task_is_its_line(page, iface, run, monkeypatch, logged):
    from eurosat_landcover.core.edits import EditError

    line = "cannot write the corrected raster: the disk is full; free some space"
    _recode_whole_layer_failing(page, iface, run, monkeypatch, EditError(line))
    assert iface.messageBar().get_messages(Qgis.MessageLevel.Warning)[-1].endswith(":" + line)
    assert not any("Traceback" in m for m in logged)


def test_a_bug_in_the_task_is_one_line_and_its_traceback_is_logged(page, iface, run, monkeypatch, logged):
    _recode_whole_layer_failing(page, iface, run, monkeypatch, KeyError("part index"))
    critical = iface.messageBar().get_messages(Qgis.MessageLevel.Critical)
    assert critical and "unexpected error: KeyError: 'part index'" in critical[-1] and "log panel" in critical[-1]
    assert "\n" not in critical[-1]
    tracebacks = [m for m in logged if "Traceback" in m]
    assert len(tracebacks) == 1 and "KeyError" in tracebacks[0] and "EuroSAT corrections" in tracebacks[0]
