"""A verified model that is built only when something needs the eager network.

On the CPU a run whose frozen graph is in the disk cache (models/graph_cache.py) never calls the
eager network: building it (importing timm and torchvision, building the network, loading the
weights) would be wasted time. :class:`LazyClassifier` stands for the classifier: the weights
file is verified against the card when it is made (so a wrong file is refused at once, as
before), and the network is built on first use: a call, or any attribute of the eager model
(``eval``, ``parameters``...). :func:`materialise` builds it with the engine's error message.
"""

from __future__ import annotations

import threading


class LazyClassifier:
    """Called like the eager classifier; builds it on first use (thread-safe)."""

    def __init__(self, card, device, build):
        self.card = card
        self.device = device
        self._build = build
        self._model = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return self._model is not None

    def get(self):
        """The eager classifier, built now if needed."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    model = self._build()
                    model.card = self.card
                    self._model = model
        return self._model

    def __call__(self, x):
        return self.get()(x)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.get(), name)

    def __repr__(self) -> str:
        return f"LazyClassifier({getattr(self.card, 'name', '?')}, built={self.built})"


def materialise(model):
    """The eager model behind ``model`` (``model`` itself when it is not lazy)."""
    return model.get() if isinstance(model, LazyClassifier) else model


def eager_model(model):
    """The eager model if it is already in memory, else None (a lazy one not built yet)."""
    if isinstance(model, LazyClassifier):
        return model._model
    return model
