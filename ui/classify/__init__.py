"""The Classify page: input, area, model, bands, options, the run queue and the run report."""
