"""Errors raised by the engine. Messages are meant to be shown to an analyst as they are."""

from ..errors import ReadableError


class ClassificationError(ReadableError):
    """A classification could not be done; the message says why in plain words, on one line
    (line breaks in a GDAL message it quotes are joined)."""

    def __init__(self, message="", *args):
        super().__init__(" ".join(str(message).split()) if isinstance(message, str) else message, *args)


class ClassificationCancelled(ClassificationError):
    """The run was cancelled by the caller (``is_cancelled()`` returned True)."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal (SIGTERM from a job scheduler or ``timeout``,
    SIGHUP from a closing terminal): raised like Ctrl+C, so the same clean-up runs."""

    def __init__(self, signum: int, name: str = ""):
        super().__init__(name or f"signal {signum}")
        self.signum = signum
        self.name = name or f"signal {signum}"
