"""Scale-out: classify many rasters, or one huge raster in blocks, on a Dask cluster.

- :mod:`.inputs` turns the command line's INPUT... (files, folders, globs, text files of paths)
  into rasters with unique output names.
- :mod:`.blocks` plans each raster: its working grid (the engine's, at the model's gsd) cut into
  blocks of whole output cells, each read with a halo of ``patch - stride`` px so that every
  output cell sees exactly the windows it would see in a single run.
- :mod:`.worker` runs on a Dask worker: the engine on one block (model loaded once per worker
  process), the block's core cells cropped into tiled GeoTIFFs under temporary names, a marker
  written last so a re-run can skip complete blocks.
- :mod:`.mosaic` writes, per raster, a VRT mosaic of each output with its style, and the merged
  summary of the whole job.
- :mod:`.run` is the client: it connects to a LocalCluster or a scheduler address, submits the
  blocks with retries, reports progress, cancels cleanly and reports failures by name.

Dask is optional: nothing here imports it at module level except :mod:`.run`, which is imported
only by ``classify-many``. No Qt or QGIS imports.
"""
