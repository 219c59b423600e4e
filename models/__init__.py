"""EuroSAT land-cover models: registry, model cards, weights-only checkpoints, training and evaluation.

Submodules are imported lazily (``card`` and ``dataset`` do not need torch)::

    from eurosat_landcover.models.checkpoint import load_model
    model, card = load_model()          # bundled default (weights/eurosat_rgb_lite0.json)
"""
