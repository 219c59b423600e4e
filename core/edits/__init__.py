"""Non-destructive corrections of a land-cover map (no Qt, no QGIS: numpy + GDAL/OGR).

The model's ``<run>_classes.tif`` is never written. Every correction is an :class:`~.model.Edit`
(a geometry in the raster's CRS, a tool, from-class(es) -> to-class or a recode table) kept in an
edit log, ``<run>_edits.gpkg``; the corrected map ``<run>_corrected.tif`` is the model output with
the log's active edits applied in order, and can always be rebuilt from the two.

- :mod:`.names`: the file names of a run and of its corrections;
- :mod:`.model`: the raster grid, the edit record, applying an edit to a block of cells;
- :mod:`.log`: the GeoPackage edit log (edits, reviews, state);
- :mod:`.session`: an editing session: apply, undo/redo, revert, rebuild, consistency on open;
- :mod:`.review`: doubtful cells (lowest confidence / smallest top-two margin) and the tile walk.
"""

from ..run_names import RunFiles, run_files
from .errors import EditError
from .model import Edit, RasterGrid
from .session import EditSession

__all__ = ["Edit", "EditError", "EditSession", "RasterGrid", "RunFiles", "run_files"]
