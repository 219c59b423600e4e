"""QGIS-side code without widgets, shared by ui/ and eurosat_processing/.

Turns QGIS objects (layers, extents, CRS) into the engine's plain requests, and the engine's
results back into styled layers in a QgsProject. Imports QGIS, never Qt widgets.
"""
