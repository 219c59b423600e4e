"""Errors raised by the engine. Messages are meant to be shown to an analyst as they are."""


class ClassificationError(Exception):
    """A classification could not be done; the message says why in plain words."""


class ClassificationCancelled(ClassificationError):
    """The run was cancelled by the caller (``is_cancelled()`` returned True)."""
