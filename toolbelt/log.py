"""Messages to the QGIS log panel, under the plugin's own tab."""

from qgis.core import Qgis, QgsMessageLog

from ..__about__ import LOG_TAG


def log(message: str, level=Qgis.MessageLevel.Info) -> None:
    QgsMessageLog.logMessage(message, LOG_TAG, level)


def log_warning(message: str) -> None:
    log(message, Qgis.MessageLevel.Warning)


def log_error(message: str) -> None:
    log(message, Qgis.MessageLevel.Critical)
