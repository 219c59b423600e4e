"""The one error of the corrections: its message is a sentence an analyst can act on."""

from ...errors import ReadableError


class EditError(ReadableError):
    """An edit, an undo or a rebuild was refused; nothing was changed. The message says why."""
