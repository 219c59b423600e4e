"""QGIS and Qt user interface: the dock, map tools, styling and the QgsTask adapter."""
