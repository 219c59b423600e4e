"""Small helpers shared by the plugin's QGIS-facing code: dependencies, logging."""
