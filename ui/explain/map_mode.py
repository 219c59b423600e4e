"""Explain on a map-mode run: its pixels are made by the per-pixel model, not by a mean of windows, so the page
says what the map holds there and that the classifier's window centred on the pixel explains it."""

from __future__ import annotations

from typing import Optional


def map_mode_text(cell: tuple, class_names: list, layer_name: str, value: Optional[int]) -> str:
    """The status line's first sentence for pixel ``cell`` of a map-mode run whose map holds ``value`` there."""
    ok = value is not None and 0 <= value < len(class_names)
    said = f"the map says {class_names[value]}" if ok else "no class in the map here"
    return (
        f"Pixel {cell[0]}, {cell[1]} of {layer_name}: {said} (map mode: a class for every 10 m pixel from the "
        "per-pixel model, not a mean of windows). Explained with the classifier's window centred on the pixel:"
    )


def value_at(layer, point, canvas_crs) -> Optional[int]:
    """The layer's band-1 value at ``point`` (canvas CRS) as an int, None where there is none."""
    from qgis.core import QgsCoordinateTransform, QgsProject

    try:
        p = QgsCoordinateTransform(canvas_crs, layer.crs(), QgsProject.instance()).transform(point)
        value, ok = layer.dataProvider().sample(p, 1)
    except Exception:  # a transform or provider failure: the text says "no class"
        return None
    return int(value) if ok and value == value else None
