"""The "Review & correct" page: paint, fill, recode, undo, the edit log and a guided review."""
