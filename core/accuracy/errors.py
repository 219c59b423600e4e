"""The one error type of the accuracy assessment: its message is shown to the analyst as it is."""

from ...errors import ReadableError


class AssessmentError(ReadableError, ValueError):  # ValueError: callers of the earlier releases
    """Bad input to a sampling design or an analysis; the message says what is wrong and what to do."""
