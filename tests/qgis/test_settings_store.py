"""ui.settings.read_fields/write_fields: every page's settings dataclass is stored and read back through them."""

from __future__ import annotations

from dataclasses import dataclass, field

from eurosat_landcover.ui.assess.settings import AssessSettings
from eurosat_landcover.ui.settings import read_fields, write_fields
from qgis.core import QgsSettings
from qgis.PyQt.QtCore import QSettings

PREFIX = "eurosat_landcover/test_store/"


@dataclass
class _Example:
    flag: bool = True
    count: int = 3
    ratio: float = 0.5
    name: str = "x"
    items: list = field(default_factory=list)


def _ini(tmp_path) -> QgsSettings:
    return QgsSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def test_round_trip_through_an_ini_file_keeps_each_type(tmp_path):
    write_fields(_Example(flag=False, count=7, ratio=0.25, name="", items=["a", "b"]), PREFIX, _ini(tmp_path))
    back = read_fields(_Example, PREFIX, _ini(tmp_path))  # a fresh QgsSettings reads the file: strings come back
    assert back == _Example(flag=False, count=7, ratio=0.25, name="", items=["a", "b"])


def test_missing_or_unreadable_values_keep_the_default(tmp_path):
    s = _ini(tmp_path)
    s.setValue(PREFIX + "count", "seven")
    s.setValue(PREFIX + "ratio", "0.75")
    back = read_fields(_Example, PREFIX, s)
    assert back.count == 3 and back.ratio == 0.75 and back.flag is True and back.items == []


def test_values_written_by_an_earlier_qgis_session_are_read_in_their_types(tmp_path):
    """After a restart QGIS's ini file gives strings back ("false", "9"), not Python values."""
    ini = tmp_path / "earlier.ini"
    ini.write_text("[eurosat_landcover]\nassess\\kappa=false\nassess\\seed=9\nassess\\target_se=0.02\n")
    loaded = AssessSettings.load(QgsSettings(str(ini), QSettings.Format.IniFormat))
    assert loaded.kappa is False and loaded.seed == 9 and loaded.target_se == 0.02
