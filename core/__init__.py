"""Classification engine: no Qt and no QGIS imports.

Light on import: torch and GDAL are imported by the modules that need them, so importing
``eurosat_landcover.core`` stays cheap. Entry point: :func:`core.pipeline.classify`.
"""
