"""The one base of the errors a user reads: :class:`ReadableError`.

Every error whose message is a sentence an analyst can act on derives from it (the engine's
``ClassificationError``, ``EditError``, ``AssessmentError``, ``ModelCardError``,
``ModelLoadError``, ``RequestError`` ...). Callers that show an error as it is catch
``ReadableError``; anything else is unexpected (one line for the user, the traceback to the log).
The lowest module of the package: it imports nothing of it, so every layer can use it.
"""


class ReadableError(Exception):
    """An error whose message is shown to the user as it is: what is wrong and what to do."""
