"""QGIS Processing provider and algorithms (thin: they build a request and call core)."""
