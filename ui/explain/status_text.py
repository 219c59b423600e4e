"""The Explain page's status line for the window it shows: which window, where, how sure, and what was
done to its pixels (moved inside the raster, filled, resampled) as a classification run does it."""

from __future__ import annotations

from typing import Optional

from .map_mode import map_mode_text


def window_text(
    w, index: int, windows: list, cell, inspector, layer_name: str, map_value: Optional[int], map_mode: bool
) -> str:
    """The status line for window ``windows[index]`` (``w``).

    Args:
        w: the window shown (``core.inspect``'s window result).
        index: its position in ``windows``.
        windows: every window of the inspected place (one, or those of a result cell).
        cell: the inspected result cell, None when a window of the input layer is shown.
        inspector: the inspector that made them (its window reader and model card).
        layer_name: the clicked layer's name.
        map_value: the class the map holds at the click (map mode), None where none.
        map_mode: the cell is a pixel of a map-mode run (made by the per-pixel model).

    Returns:
        The sentences, joined by spaces.
    """
    fp = w.footprint
    cx, cy = fp.centre
    size_m = fp.size * abs(fp.geotransform[1])
    top, p = w.ranked(1)[0]
    parts = []
    if cell is not None and map_mode:
        parts.append(map_mode_text(cell.cell, windows[0].class_names, layer_name, map_value))
    elif cell is not None:
        cell_top = w.class_names[int(cell.probabilities.argmax())]
        parts.append(
            f"Cell {cell.cell[0]}, {cell.cell[1]} of {layer_name}: the mean of "
            f"{len(windows)} window(s) is {cell_top} {100 * float(cell.probabilities.max()):.1f} %"
            + (f" ({cell.skipped} without data skipped)" if cell.skipped else "")
            + f". Window {index + 1} of {len(windows)}:"
        )
    parts.append(
        f"{fp.size} x {fp.size} px window ({size_m:.0f} m) centred at {cx:.0f}, {cy:.0f} ({fp.crs_label}): "
        f"{top} {100 * p:.1f} %."
    )
    if fp.shifted:
        parts.append("Moved to stay inside the raster.")
    if w.valid_fraction < 1:
        parts.append(
            f"{100 * w.valid_fraction:.0f} % of its pixels hold data; the others were filled as a run fills them."
        )
    if inspector.wr.resampled:
        parts.append(f"Resampled to {inspector.card.gsd_m:g} m ({inspector.wr.resampling}), as a run does.")
    return " ".join(parts)
