"""The stages of one classification, in the order core/pipeline.classify runs them.

1. prepare.py      the request checked, the output folder, the source opened, band mapping,
                   working raster, window grid and radiometry (:func:`prepare_input`);
2. model.py        the model card read once, the weights loaded on the device, the CPU fast path
                   chosen (:func:`model_for`, :func:`choose_fast_path`);
3. run_windows.py  windows read in a thread, batched through the model, probabilities averaged
                   per cell and written row by row (:func:`run_windows`);
4. summary.py      the JSON summary built in one place, the result built from it
                   (:func:`build_summary`, :func:`result_from_summary`); outputs.py opens the
                   rasters and commits rasters, styles and summary under their final names.
"""
