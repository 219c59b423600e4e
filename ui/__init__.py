"""QGIS and Qt user interface: the dock, its pages and map tools (background work: qgis_bridge/background.py)."""
