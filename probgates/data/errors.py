"""The one error type every data loader raises for bad input."""

from __future__ import annotations

import os


class DataError(ValueError):
    """A data file is missing, corrupt or does not have the expected content.

    The message always names the offending file (when there is one) and what was wrong,
    so the command line can print it as a single line.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        self.path = None if path is None else os.fspath(path)
        super().__init__(message if path is None else f"{self.path}: {message}")
