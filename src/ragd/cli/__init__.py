"""The ``ragd`` command line (``ragd.cli.main``); ``main`` is the console script."""

from ragd.cli.main import app, main

__all__ = ["app", "main"]
